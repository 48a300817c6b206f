"""Plots of toolkit DataFrames: ``plot_*(df, *, ax=None, **kw) -> Axes``.

matplotlib's object API only: no pyplot state, never ``plt.show()``. Without ``ax`` a new
:class:`matplotlib.figure.Figure` is made (Jupyter displays ``ax.figure``). Extra keywords go to the underlying
matplotlib call. Benchmark plots take a :class:`~vultr_toolkit.bench.BenchmarkResult` or the frame they need
(``summary()`` for load curves, ``.requests`` for TTFT, ``.chunks`` for ITL, ``compare()`` for comparisons).

Example::

    from vultr_toolkit.plot import plot_latency_vs_load, plot_ttft_ecdf
    ax = plot_latency_vs_load(res.summary())
    plot_ttft_ecdf(res.requests, ax=ax2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["plot_compare", "plot_itl_ecdf", "plot_latency_vs_load", "plot_throughput", "plot_ttft_ecdf"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    return fig.add_subplot()


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
                         percentile: int = 50, band: int | None = 99, **kw: Any) -> Axes:
    """Latency percentiles against load level (log-scaled seconds), one line per metric.

    ``df`` is ``res.summary()`` (or the result). ``band`` shades up to that percentile.

    >>> ax = plot_latency_vs_load(res.summary())  # doctest: +SKIP
    """
    s = _frame(df, "summary").sort_values("level")
    ax = _axes(ax)
    for m in metrics:
        col = f"{m}_p{percentile}"
        if col not in s:
            continue
        x = s["level"].to_numpy(dtype=float)
        y = s[col].to_numpy(dtype=float, na_value=np.nan)
        (line,) = ax.plot(x, y, marker="o", label=f"{m} p{percentile}", **kw)
        hi = f"{m}_p{band}" if band else None
        if hi and hi in s:
            ax.fill_between(x, y, s[hi].to_numpy(dtype=float, na_value=np.nan), alpha=0.15, color=line.get_color(),
                            label=f"{m} p{percentile}–p{band}")
    ax.set_xlabel(_xlabel(s))
    ax.set_ylabel("seconds")
    if len(s) and (s[[c for c in s.columns if c.endswith(f"_p{percentile}")]] > 0).any().any():
        ax.set_yscale("log")
    ax.set_title("Latency vs load")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def _ecdf(ax: Axes, values: pd.Series, label: str, **kw: Any) -> None:
    v = np.sort(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float))
    if v.size:
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=label, **kw)


def plot_ttft_ecdf(df: Any, *, ax: Axes | None = None, by: str = "level", **kw: Any) -> Axes:
    """Empirical CDF of ``ttft_s`` of successful measured requests, one curve per level.

    >>> ax = plot_ttft_ecdf(res.requests)  # doctest: +SKIP
    """
    r = _frame(df, "requests")
    ok = r[(r["status"] == "ok") & (r.get("phase", "measure") == "measure")]
    ax = _axes(ax)
    for key, grp in ok.groupby(by, observed=True, sort=True):
        label = f"{by}={key:g}" if isinstance(key, int | float) else f"{by}={key!s}"
        _ecdf(ax, grp["ttft_s"], label, **kw)
    ax.set_xlabel("time to first token, ttft_s (s)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.02)
    ax.set_title("TTFT ECDF")
    ax.grid(True, alpha=0.3)
    if len(ok):
        ax.legend(fontsize="small")
    return ax


def plot_itl_ecdf(df: Any, *, ax: Axes | None = None, **kw: Any) -> Axes:
    """Empirical CDF of token-level inter-token latencies (``itl_s``, see bench.metrics), one curve per level.

    ``df`` is ``res.chunks`` (or the result).

    >>> ax = plot_itl_ecdf(res.chunks)  # doctest: +SKIP
    """
    from .bench.metrics import itl_samples

    ch = _frame(df, "chunks")
    ax = _axes(ax)
    for key, grp in ch.groupby("level_index", observed=True, sort=True):
        _ecdf(ax, itl_samples(grp), f"level #{key}", **kw)
    ax.set_xlabel("inter-token latency, itl_s (s)")
    ax.set_ylabel("fraction of tokens")
    ax.set_ylim(0, 1.02)
    ax.set_title("ITL ECDF (token-weighted)")
    ax.grid(True, alpha=0.3)
    if len(ch):
        ax.legend(fontsize="small")
    return ax


def plot_throughput(df: Any, *, ax: Axes | None = None, **kw: Any) -> Axes:
    """Output tokens/s against load, with requests/s on a twin axis.

    >>> ax = plot_throughput(res.summary())  # doctest: +SKIP
    """
    s = _frame(df, "summary").sort_values("level")
    ax = _axes(ax)
    x = s["level"].to_numpy(dtype=float)
    ax.plot(x, s["output_tokens_per_s"].to_numpy(dtype=float, na_value=np.nan), marker="o",
            label="output tokens/s", **kw)
    ax.set_xlabel(_xlabel(s))
    ax.set_ylabel("output tokens/s")
    twin = ax.twinx()
    twin.plot(x, s["requests_per_s"].to_numpy(dtype=float, na_value=np.nan), marker="s", linestyle="--",
              color="tab:gray", label="requests/s")
    twin.set_ylabel("requests/s")
    ax.set_title("Throughput vs load")
    ax.grid(True, alpha=0.3)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize="small", loc="upper left")
    return ax


def plot_compare(df: pd.DataFrame, *, ax: Axes | None = None, metric: str | None = None, **kw: Any) -> Axes:
    """Ratios b/a from :func:`vultr_toolkit.bench.compare` per level, one bar group per metric (or one metric's
    values side by side when ``metric`` is given).

    >>> ax = plot_compare(vt.bench.compare(before, after))  # doctest: +SKIP
    """
    ax = _axes(ax)
    a_label = str(df["a_label"].iloc[0]) if len(df) else "a"
    b_label = str(df["b_label"].iloc[0]) if len(df) else "b"
    if metric is not None:
        d = df[df["metric"] == metric].sort_values("level")
        x = np.arange(len(d))
        ax.bar(x - 0.2, d["a"].to_numpy(dtype=float, na_value=np.nan), 0.4, label=a_label, **kw)
        ax.bar(x + 0.2, d["b"].to_numpy(dtype=float, na_value=np.nan), 0.4, label=b_label, **kw)
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
                   label=f"level {level:g}", **kw)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(x, [str(m) for m in wide.index], rotation=30, ha="right")
        ax.set_ylabel(f"ratio {b_label} / {a_label}")
        ax.set_title("Comparison (1 = no change)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return ax
