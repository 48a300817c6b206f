"""Plots of toolkit DataFrames: ``plot_*(df, *, ax=None, **kw) -> Axes``.

matplotlib's object API only: no pyplot state, never ``plt.show()``. Without ``ax`` a new
:class:`matplotlib.figure.Figure` is made (Jupyter displays ``ax.figure``). Benchmark plots take a
:class:`~vultr_toolkit.bench.BenchmarkResult` or the frame they need (``summary()`` for load curves, ``.requests``
for TTFT, ``.chunks`` for ITL, ``compare()`` for comparisons).

Every ``plot_*`` takes ``label=`` and ``color=`` so that several calls can share one Axes:

* ``label="qwen"`` prefixes every legend entry the call adds (``"qwen ttft_s p50"``, ``"qwen level=2"``), so
  entries stay unique and still say which series they are, even where the call draws a single line.
* ``color=`` colours every series the call draws. Where one call draws several series they stay apart by line
  style (lines), hatch (bars) or marker (health latency targets) instead. The health timeline keeps its status
  colours (they carry meaning) and gives ``color=`` to its incident shading.
* Other keywords go to the underlying matplotlib call (aliases such as ``c=``, ``ls=`` are understood) and win
  over the toolkit's own defaults (``marker=``, ``linestyle=``...).

Example::

    from vultr_toolkit.plot import plot_latency_vs_load, plot_ttft_ecdf
    ax = plot_latency_vs_load(res_a, label="qwen", color="tab:blue", metrics=("ttft_s",))
    plot_latency_vs_load(res_b, ax=ax, label="llama", color="tab:orange", metrics=("ttft_s",))
    plot_ttft_ecdf(res.requests, ax=ax2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["plot_compare", "plot_itl_ecdf", "plot_latency_vs_load", "plot_throughput", "plot_ttft_ecdf"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    return fig.add_subplot()


_LINESTYLES = ("-", "--", ":", "-.")
_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--", "||", "**", "O", "/.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclass(frozen=True)
class _Series:
    """One call's ``label=``, ``color=`` and extra keywords, applied to each series the call draws.

    >>> _Series.of("qwen", "red", {"ls": ":"}, "line").style(0, 2, marker="o", label="x")
    {'marker': 'o', 'label': 'x', 'color': 'red', 'linestyle': ':'}
    """

    label: str | None
    color: Any
    kw: dict[str, Any]
    kind: Literal["line", "bar", "collection"]

    @classmethod
    def of(cls, label: Any, color: Any, kw: dict[str, Any], kind: Literal["line", "bar", "collection"],
           func: str = "plot") -> _Series:
        from matplotlib import cbook, collections, lines, patches

        if label is not None and not isinstance(label, str):
            raise ConfigError(f"{func}(label={label!r}): give a string (the legend prefix of this call) or None")
        artist = {"line": lines.Line2D, "bar": patches.Patch, "collection": collections.Collection}[kind]
        # Resolve aliases (c -> color, ls -> linestyle) so a caller's choice replaces a default of ours instead
        # of reaching matplotlib twice ("multiple values for keyword argument").
        opts = dict(cbook.normalize_kwargs(kw, artist))
        if "color" in opts:
            if color is not None:
                raise ConfigError(f"{func}(color={color!r}, c/color={opts['color']!r}): give the colour once")
            color = opts.pop("color")
        return cls(label or None, color, opts, kind)

    def name(self, text: str) -> str:
        """A legend entry of this call: ``"<label> <text>"``."""
        return f"{self.label} {text}" if self.label else text

    def style(self, i: int, n: int, **defaults: Any) -> dict[str, Any]:
        """Keywords for series ``i`` of ``n``: our defaults, then ``color=`` (series told apart by line style
        or hatch when there are several), then the caller's keywords, which win."""
        out = dict(defaults)
        if self.color is not None:
            out["color"] = self.color
            if n > 1 and self.kind == "line":
                out["linestyle"] = _LINESTYLES[i % len(_LINESTYLES)]
            elif n > 1 and self.kind == "bar":
                out["hatch"] = _HATCHES[i % len(_HATCHES)]
        out.update(self.kw)
        return out


def _frame(obj: Any, attr: str) -> pd.DataFrame:
    """A BenchmarkResult's frame (``summary`` is called) or the DataFrame itself."""
    if isinstance(obj, pd.DataFrame):
        return obj
    value = getattr(obj, attr)
    return value(warn=False) if callable(value) else value


def _xlabel(summary: pd.DataFrame) -> str:
    modes = set(summary["mode"].astype(str)) if "mode" in summary and len(summary) else set()
    return "target rate (req/s)" if modes == {"rate"} else "concurrency (users)"


def plot_latency_vs_load(df: Any, *, ax: Axes | None = None, metrics: tuple[str, ...] = ("ttft_s", "tpot_s", "e2e_s"),
                         percentile: int = 50, band: int | None = 99, label: str | None = None, color: Any = None,
                         **kw: Any) -> Axes:
    """Latency percentiles against load level (log-scaled seconds), one line per metric.

    ``df`` is ``res.summary()`` (or the result). ``band`` shades up to that percentile. ``label="qwen"`` names
    the lines ``"qwen ttft_s p50"``...; ``color=`` colours them all (metrics then differ by line style).

    >>> ax = plot_latency_vs_load(res.summary(), label="a", color="tab:blue"); ax.get_title()
    'Latency vs load'
    >>> ax = plot_latency_vs_load(res.summary(), ax=ax, label="b", color="tab:red")
    >>> [t.get_text() for t in ax.get_legend().get_texts()][:1]
    ['a ...']
    """
    s = _frame(df, "summary").sort_values("level")
    ax = _axes(ax)
    series = _Series.of(label, color, kw, "line", "plot_latency_vs_load")
    drawn = [m for m in metrics if f"{m}_p{percentile}" in s]
    for i, m in enumerate(drawn):
        col = f"{m}_p{percentile}"
        x = s["level"].to_numpy(dtype=float)
        y = s[col].to_numpy(dtype=float, na_value=np.nan)
        (line,) = ax.plot(x, y, **series.style(i, len(drawn), marker="o", label=series.name(f"{m} p{percentile}")))
        hi = f"{m}_p{band}" if band else None
        if hi and hi in s:
            ax.fill_between(x, y, s[hi].to_numpy(dtype=float, na_value=np.nan), alpha=0.15, color=line.get_color(),
                            label=series.name(f"{m} p{percentile}–p{band}"))
    ax.set_xlabel(_xlabel(s))
    ax.set_ylabel("seconds")
    if len(s) and (s[[c for c in s.columns if c.endswith(f"_p{percentile}")]] > 0).any().any():
        ax.set_yscale("log")
    ax.set_title("Latency vs load")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _ecdf(ax: Axes, values: pd.Series, **kw: Any) -> None:
    v = np.sort(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float))
    if v.size:
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", **kw)


def plot_ttft_ecdf(df: Any, *, ax: Axes | None = None, by: str = "level", label: str | None = None,
                   color: Any = None, **kw: Any) -> Axes:
    """Empirical CDF of ``ttft_s`` of successful measured requests, one curve per level (``label="qwen"``:
    ``"qwen level=2"``; ``color=``: every curve, levels then differ by line style).

    >>> ax = plot_ttft_ecdf(res.requests, label="qwen"); ax.get_title()
    'TTFT ECDF'
    """
    r = _frame(df, "requests")
    ok = r[(r["status"] == "ok") & (r.get("phase", "measure") == "measure")]
    ax = _axes(ax)
    series = _Series.of(label, color, kw, "line", "plot_ttft_ecdf")
    groups = list(ok.groupby(by, observed=True, sort=True))
    for i, (key, grp) in enumerate(groups):
        text = f"{by}={key:g}" if isinstance(key, int | float) else f"{by}={key!s}"
        _ecdf(ax, grp["ttft_s"], **series.style(i, len(groups), label=series.name(text)))
    ax.set_xlabel("time to first token, ttft_s (s)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.02)
    ax.set_title("TTFT ECDF")
    ax.grid(True, alpha=0.3)
    if len(ok):
        ax.legend(fontsize="small")
    return ax


def plot_itl_ecdf(df: Any, *, ax: Axes | None = None, label: str | None = None, color: Any = None,
                  **kw: Any) -> Axes:
    """Empirical CDF of token-level inter-token latencies (``itl_s``, see bench.metrics), one curve per level.

    ``df`` is ``res.chunks`` (or the result). ``label="qwen"``: ``"qwen level #0"``; ``color=``: every curve.

    >>> ax = plot_itl_ecdf(res.chunks); ax.get_title()
    'ITL ECDF (token-weighted)'
    """
    from .bench.metrics import itl_samples

    ch = _frame(df, "chunks")
    ax = _axes(ax)
    series = _Series.of(label, color, kw, "line", "plot_itl_ecdf")
    groups = list(ch.groupby("level_index", observed=True, sort=True))
    for i, (key, grp) in enumerate(groups):
        _ecdf(ax, itl_samples(grp), **series.style(i, len(groups), label=series.name(f"level #{key}")))
    ax.set_xlabel("inter-token latency, itl_s (s)")
    ax.set_ylabel("fraction of tokens")
    ax.set_ylim(0, 1.02)
    ax.set_title("ITL ECDF (token-weighted)")
    ax.grid(True, alpha=0.3)
    if len(ch):
        ax.legend(fontsize="small")
    return ax


def plot_throughput(df: Any, *, ax: Axes | None = None, label: str | None = None, color: Any = None,
                    **kw: Any) -> Axes:
    """Output tokens/s against load, with requests/s on a twin axis (dashed; shared by later calls on the same
    Axes, so two results overlay on both scales). ``label="qwen"``: ``"qwen output tokens/s"``,
    ``"qwen requests/s"``; ``color=``: both lines.

    >>> ax = plot_throughput(res.summary(), label="qwen"); ax.get_title()
    'Throughput vs load'
    """
    s = _frame(df, "summary").sort_values("level")
    ax = _axes(ax)
    series = _Series.of(label, color, kw, "line", "plot_throughput")
    x = s["level"].to_numpy(dtype=float)
    ax.plot(x, s["output_tokens_per_s"].to_numpy(dtype=float, na_value=np.nan),
            **series.style(0, 1, marker="o", label=series.name("output tokens/s")))
    ax.set_xlabel(_xlabel(s))
    ax.set_ylabel("output tokens/s")
    # Reuse this Axes' requests/s twin from an earlier call: a second twin would hide the first one's scale.
    twin = getattr(ax, "_vt_requests_twin", None)
    if twin is None:
        twin = ax.twinx()
        setattr(ax, "_vt_requests_twin", twin)  # noqa: B010 - Axes has no slot for it; mypy needs setattr
    twin.plot(x, s["requests_per_s"].to_numpy(dtype=float, na_value=np.nan), marker="s", linestyle="--",
              color="tab:gray" if series.color is None else series.color, label=series.name("requests/s"))
    twin.set_ylabel("requests/s")
    ax.set_title("Throughput vs load")
    ax.grid(True, alpha=0.3)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize="small", loc="upper left")
    return ax


def plot_compare(df: pd.DataFrame, *, ax: Axes | None = None, metric: str | None = None, label: str | None = None,
                 color: Any = None, **kw: Any) -> Axes:
    """Ratios b/a from :func:`vultr_toolkit.bench.compare` per level, one bar group per metric (or one metric's
    values side by side when ``metric`` is given). ``label="x"``: ``"x level 1"`` / ``"x run-a"``; ``color=``:
    every bar, the series then differ by hatch.

    >>> before, after = res, res   # two runs, e.g. before and after a change
    >>> ax = plot_compare(vt.bench.compare(before, after)); ax.get_title()
    'Comparison (1 = no change)'
    """
    ax = _axes(ax)
    series = _Series.of(label, color, kw, "bar", "plot_compare")
    a_label = str(df["a_label"].iloc[0]) if len(df) else "a"
    b_label = str(df["b_label"].iloc[0]) if len(df) else "b"
    if metric is not None:
        d = df[df["metric"] == metric].sort_values("level")
        x = np.arange(len(d))
        ax.bar(x - 0.2, d["a"].to_numpy(dtype=float, na_value=np.nan), 0.4,
               **series.style(0, 2, label=series.name(a_label)))
        ax.bar(x + 0.2, d["b"].to_numpy(dtype=float, na_value=np.nan), 0.4,
               **series.style(1, 2, label=series.name(b_label)))
        ax.set_xticks(x, [f"{v:g}" for v in d["level"]])
        ax.set_xlabel("level")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric}: {b_label} vs {a_label}")
    else:
        wide = df.pivot_table(index="metric", columns="level", values="ratio", observed=True, aggfunc="first")
        n_levels = max(1, wide.shape[1])
        width = 0.8 / n_levels
        x = np.arange(len(wide))
        for i, level in enumerate(wide.columns):
            ax.bar(x + (i - (n_levels - 1) / 2) * width, wide[level].to_numpy(dtype=float, na_value=np.nan), width,
                   **series.style(i, wide.shape[1], label=series.name(f"level {level:g}")))
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(x, [str(m) for m in wide.index], rotation=30, ha="right")
        ax.set_ylabel(f"ratio {b_label} / {a_label}")
        ax.set_title("Comparison (1 = no change)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


# --- inventory and health plots (appended; the benchmark plots above are helper D's) ---------------------------

_STATUS_COLORS: dict[str, str] = {"up": "#2ca02c", "degraded": "#ff9f1c", "down": "#d62728", "maintenance": "#9e9e9e"}
_INCIDENT_COLOR = "#d62728"


def _resources(obj: Any) -> pd.DataFrame:
    """An InventorySnapshot's ``resources`` frame, or the frame itself."""
    if isinstance(obj, pd.DataFrame):
        return obj
    return obj.resources


def _type_color(resource_type: str) -> str:
    """One colour per resource type, the same in every inventory plot (order of ``RESOURCE_TYPES``)."""
    from .inventory.schemas import RESOURCE_TYPES

    i = RESOURCE_TYPES.index(resource_type) if resource_type in RESOURCE_TYPES else len(RESOURCE_TYPES)
    return f"C{i % 10}"


def _value_label(value: str) -> str:
    return "monthly cost (USD)" if value == "monthly_cost_usd" else "resources (count)"


def plot_inventory(df: Any, *, by: str = "region", value: str = "count", stack: str | None = "auto",
                   ax: Axes | None = None, label: str | None = None, color: Any = None, **kw: Any) -> Axes:
    """Resources (or their known monthly cost) per region or per resource type, as horizontal stacked bars.

    ``df`` is ``snapshot.resources`` (or the snapshot). ``by``: ``"region"`` or ``"resource_type"``; ``value``:
    ``"count"`` or ``"monthly_cost_usd"`` (resources without a known cost count as 0). ``stack`` splits each bar
    by another column; ``"auto"`` stacks regions by resource type and resource types by status; None: one colour.
    Resources without a region are shown as ``global``. ``label="prod"`` prefixes the legend entries (and gives
    an unstacked plot a legend); ``color=`` colours every bar, stacks then differ by hatch.

    >>> ax = plot_inventory(snap.resources, by="region", value="monthly_cost_usd"); ax.get_title()
    'Monthly cost by region'
    """
    if by not in ("region", "resource_type"):
        raise ValueError(f"plot_inventory(by={by!r}): use 'region' or 'resource_type'")
    if value not in ("count", "monthly_cost_usd"):
        raise ValueError(f"plot_inventory(value={value!r}): use 'count' or 'monthly_cost_usd'")
    res = _resources(df)
    if stack == "auto":
        stack = "resource_type" if by == "region" else "status"
    frame = pd.DataFrame({
        by: res[by].astype(object).where(res[by].notna(), "global").astype(str),
        "value": (np.ones(len(res)) if value == "count"
                  else res["monthly_cost_usd"].astype("Float64").fillna(0.0).to_numpy(dtype=float)),
    })
    if stack is not None:
        frame[stack] = res[stack].astype(object).where(res[stack].notna(), "unknown").astype(str)
        wide = frame.pivot_table(index=by, columns=stack, values="value", aggfunc="sum", fill_value=0.0)
        if len(wide.columns) > 1:  # a stack with nothing in it (e.g. statuses that cost $0) only clutters the legend
            wide = wide.loc[:, wide.sum(axis=0) > 0] if (wide.sum(axis=0) > 0).any() else wide
    else:
        wide = frame.groupby(by)["value"].sum().to_frame(_value_label(value))
    # Largest at the top: barh draws the first row at the bottom.
    wide = wide.loc[wide.sum(axis=1).sort_values(ascending=True).index]
    ax = _axes(ax)
    series = _Series.of(label, color, kw, "bar", "plot_inventory")
    y = np.arange(len(wide))
    left = np.zeros(len(wide))
    for i, col in enumerate(wide.columns):
        vals = wide[col].to_numpy(dtype=float)
        own = {"color": _type_color(str(col))} if stack == "resource_type" else {}
        ax.barh(y, vals, **series.style(i, len(wide.columns), left=left, label=series.name(str(col)), **own))
        left += vals
    ax.set_yticks(y, [str(i) for i in wide.index])
    ax.set_xlabel(_value_label(value))
    ax.set_ylabel(by.replace("_", " "))
    what = "Monthly cost" if value == "monthly_cost_usd" else "Resources"
    ax.set_title(f"{what} by {by.replace('_', ' ')}")
    ax.grid(True, axis="x", alpha=0.3)
    if (stack is not None or series.label) and len(wide.columns) > 0:
        ax.legend(title=stack.replace("_", " ") if stack else None, fontsize="small", loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_cost(df: Any, *, top: int = 15, ax: Axes | None = None, label: str | None = None, color: Any = None,
              **kw: Any) -> Axes:
    """The ``top`` most expensive resources by known monthly cost, coloured by resource type.

    ``df`` is ``snapshot.resources`` (or the snapshot); resources without a known cost are left out.
    ``label="prod"`` prefixes the legend entries (``"prod instances"``); ``color=`` colours every bar, resource
    types then differ by hatch.

    >>> ax = plot_cost(snap.resources, top=10); ax.get_title()
    'Top 10 resources by monthly cost'
    """
    res = _resources(df)
    cost = res["monthly_cost_usd"].astype("Float64")
    known = res[cost.notna().to_numpy(dtype=bool)].copy()
    known["_cost"] = cost[cost.notna()].to_numpy(dtype=float)
    known = known.sort_values("_cost", ascending=False, kind="stable").head(max(0, top)).iloc[::-1]
    ax = _axes(ax)
    series = _Series.of(label, color, kw, "bar", "plot_cost")
    y = np.arange(len(known))
    types = [str(t) for t in known["resource_type"].astype(object)]
    kinds = sorted(set(types))
    style = {t: series.style(i, len(kinds), color=_type_color(t)) for i, t in enumerate(kinds)}
    # One barh call keeps the bars in cost order; a type's hatch (with color=) is then set bar by bar.
    bars = ax.barh(y, known["_cost"].to_numpy(dtype=float), color=[style[t]["color"] for t in types], **series.kw)
    first: dict[str, Any] = {}
    for bar, t in zip(bars, types, strict=True):
        if style[t].get("hatch"):
            bar.set_hatch(style[t]["hatch"])
        first.setdefault(t, bar)
    labels = [(str(lbl) if isinstance(lbl, str) and lbl else str(i))[:28]
              for lbl, i in zip(known["label"].astype(object), known["id"].astype(object), strict=True)]
    ax.set_yticks(y, labels)
    ax.set_xlabel("monthly cost (USD)")
    ax.set_ylabel("resource (label)")
    ax.set_title(f"Top {len(known)} resources by monthly cost")
    ax.grid(True, axis="x", alpha=0.3)
    if kinds:
        # A bar of each type is its legend handle: the key shows exactly its colour, hatch and edge.
        ax.legend([first[t] for t in kinds], [series.name(t) for t in kinds], title="resource type",
                  fontsize="small", loc="lower right")
    return ax


def _history(df: Any) -> pd.DataFrame:
    from .store.history import SAMPLE_COLUMNS, coerce_samples

    if list(df.columns) == list(SAMPLE_COLUMNS) and isinstance(df["status"].dtype, pd.CategoricalDtype):
        return df
    return coerce_samples(df)


def _target_labels(h: pd.DataFrame) -> pd.Series:
    """``service`` when a service has one target, else ``service: target`` (shortened): readable row names."""
    svc = h["service"].astype(str)
    tgt = h["target"].astype(str)
    multi = h.groupby(svc, sort=False)["target"].transform(lambda s: s.astype(str).nunique()) > 1
    short = tgt.str.replace(r"^[a-z]+://", "", regex=True).str.slice(0, 40)
    return svc.where(~multi, svc + ": " + short)


def _naive_utc(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC wall times as naive datetime64 (matplotlib's date axis is tz-naive; the label says UTC)."""
    idx = pd.DatetimeIndex(ts)
    return np.asarray(idx.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[us]"))


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def plot_health_timeline(history: pd.DataFrame, *, ax: Axes | None = None, overall: bool = True,
                         label: str | None = None, color: Any = None, **kw: Any) -> Axes:
    """Status over time, one row per target (green up, orange degraded, red down, grey maintenance), with
    incidents (:func:`vultr_toolkit.health.incidents`: real services, so one outage is one incident in the title
    although the ``overall`` row turns red with it) shaded across their row.

    Each sample colours the time until the target's next sample (the last one: the median probe interval).
    ``overall=False`` leaves out the monitor's ``overall`` row. The status colours carry meaning and stay;
    ``color=`` colours the incident shading and ``label="prod"`` prefixes the legend entries (``"prod down"``).

    >>> ax = plot_health_timeline(monitor.samples()); ax.get_title()
    'Health timeline (1 incident)'
    """
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch

    from .health.analysis import incidents

    series = _Series.of(label, color, kw, "collection", "plot_health_timeline")
    shade = _INCIDENT_COLOR if series.color is None else series.color
    h = _history(history)
    if not overall:
        h = h[h["service"].astype(str) != "overall"]
    h = h.sort_values("checked_at", kind="stable")
    labels = _target_labels(h) if len(h) else pd.Series([], dtype=str)
    # The overall row first (top), then services in first-seen order.
    order = sorted(dict.fromkeys(labels.tolist()), key=lambda lbl: lbl != "overall")
    row = {lbl: len(order) - 1 - i for i, lbl in enumerate(order)}
    ax = _axes(ax)
    when = _naive_utc(h["checked_at"]) if len(h) else np.array([], dtype="datetime64[us]")
    x = mdates.date2num(when) if len(h) else np.array([])
    status = h["status"].astype(str).to_numpy()
    used: set[str] = set()
    for lbl in order:
        idx = np.flatnonzero(labels.to_numpy() == lbl)
        xs = x[idx]
        steps = np.diff(xs)
        step = float(np.median(steps)) if len(steps) else 1.0 / 86400
        ends = np.append(xs[1:], xs[-1] + step)
        for st in _STATUS_COLORS:
            sel = status[idx] == st
            if sel.any():
                used.add(st)
                spans = list(zip(xs[sel], (ends - xs)[sel], strict=True))
                ax.broken_barh(spans, (row[lbl] - 0.35, 0.7), **{"facecolor": _STATUS_COLORS[st], **series.kw})
    inc = incidents(h) if len(h) else incidents(history.iloc[0:0])
    if len(inc):
        # The row names of the plotted samples (labels of the incidents alone could differ: a service with two
        # targets of which one went down would lose its "service: target" form).
        rows = pd.DataFrame({"service": h["service"].astype(str).to_numpy(), "target": h["target"].astype(str)
                             .to_numpy(), "label": labels.to_numpy()}).drop_duplicates(["service", "target"])
        names = {(s, t): lbl for s, t, lbl in rows.itertuples(index=False, name=None)}
        inc_labels = [names.get((str(s), str(t)), "") for s, t in zip(inc["service"], inc["target"], strict=True)]
        last = x.max() if len(x) else 0.0
        for (_, r), lbl in zip(inc.iterrows(), inc_labels, strict=True):
            if lbl not in row:
                continue
            start = float(mdates.date2num(_naive_utc(pd.Series([r["start_at"]]))[0]))
            end = last if pd.isna(r["end_at"]) else float(mdates.date2num(_naive_utc(pd.Series([r["end_at"]]))[0]))
            ax.axvspan(start, max(end, start), ymin=row[lbl] / len(order),
                       ymax=(row[lbl] + 1) / len(order), color=shade, alpha=0.15, hatch="//",
                       linewidth=0)
    ax.set_ylim(-0.5, len(order) - 0.5 if order else 0.5)
    ticks = sorted(row.items(), key=lambda kv: kv[1])  # bottom to top, like every other y axis
    ax.set_yticks([pos for _, pos in ticks], [lbl for lbl, _ in ticks])
    ax.set_ylabel("target")
    if len(x):
        ax.set_xlim(x.min(), x.max() + (x.max() - x.min()) * 0.02 + 1e-6)
    _date_axis(ax)
    n = len(inc)
    ax.set_title(f"Health timeline ({n} incident{'s' if n != 1 else ''})")
    handles = [Patch(color=_STATUS_COLORS[s], label=series.name(s)) for s in _STATUS_COLORS if s in used]
    handles.append(Patch(facecolor=shade, alpha=0.15, hatch="//", label=series.name("incident")))
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


_NICE_FREQS = ("1s", "2s", "5s", "10s", "15s", "30s", "1min", "2min", "5min", "10min", "15min", "30min", "1h",
               "2h", "3h", "6h", "12h", "1D", "7D")


def health_bucket(history: pd.DataFrame, buckets: int = 40) -> str:
    """A round bucket width (pandas frequency) giving about ``buckets`` buckets over the history's time span.

    >>> health_bucket(pd.DataFrame({"checked_at": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)}))
    '1h'
    """
    if len(history) < 2:
        return "1s"
    span = (history["checked_at"].max() - history["checked_at"].min()).total_seconds()
    want = span / max(1, buckets)
    for f in _NICE_FREQS:
        if pd.Timedelta(f).total_seconds() >= want:
            return f
    return _NICE_FREQS[-1]


def plot_health_latency(history: pd.DataFrame, *, ax: Axes | None = None, freq: str | None = None,
                        percentiles: tuple[int, ...] = (50, 95, 99), overall: bool = False,
                        label: str | None = None, color: Any = None, **kw: Any) -> Axes:
    """Probe latency percentiles over time, per target: p50 solid, p95 dashed, p99 dotted (one colour a target).

    Buckets of width ``freq`` (default: about 40 buckets over the span, see :func:`health_bucket`), computed by
    :func:`vultr_toolkit.health.summarize`, each drawn at its middle. The ``overall`` row (a tick's wall time)
    is left out unless asked. ``label="prod"``: ``"prod api p50"``...; ``color=`` colours every line, targets
    then differ by marker.

    >>> store = vt.store.HistoryStore()
    >>> ax = plot_health_latency(store.health_history(since="24h"), freq="1h"); ax.get_title()
    'Probe latency percentiles per 1h bucket'
    """
    from .health.analysis import summarize

    bad = [p for p in percentiles if p not in (50, 95, 99)]
    if bad:
        raise ValueError(f"plot_health_latency(percentiles={percentiles!r}): choose among 50, 95, 99")
    series = _Series.of(label, color, kw, "line", "plot_health_latency")
    h = _history(history)
    if not overall:
        h = h[h["service"].astype(str) != "overall"]
    freq = freq or health_bucket(h)
    s = summarize(h, freq=freq)
    ax = _axes(ax)
    styles = {50: "-", 95: "--", 99: ":"}
    if len(s):
        s = s.assign(_label=_target_labels(s).to_numpy())
        for i, (lbl, grp) in enumerate(s.groupby("_label", sort=False)):
            grp = grp.sort_values("bucket_at")
            # Each point at its bucket's middle, so it lines up with the samples it summarises.
            x = _naive_utc(grp["bucket_at"] + pd.Timedelta(freq) / 2)
            for p in percentiles:
                # Line style is the percentile; the target is the colour, or with color= the marker.
                look = ({"color": f"C{i % 10}", "marker": "o" if p == 50 else None} if series.color is None
                        else {"color": series.color, "marker": _MARKERS[i % len(_MARKERS)]})
                ax.plot(x, grp[f"latency_p{p}_ms"].to_numpy(dtype=float, na_value=np.nan),
                        **{"linestyle": styles[p], "markersize": 3, **look, "label": series.name(f"{lbl} p{p}"),
                           **series.kw})
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _date_axis(ax)
    ax.set_ylabel("probe latency (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Probe latency percentiles per {freq} bucket")
    ax.grid(True, alpha=0.3)
    return ax


__all__ += ["health_bucket", "plot_cost", "plot_health_latency", "plot_health_timeline", "plot_inventory"]
