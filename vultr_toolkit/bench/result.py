"""BenchmarkResult: the raw truth of a run (``.requests``, ``.chunks``, ``.levels``) and what derives from it.

``.requests`` has one row per request sent (warm-up rows included, ``phase="warmup"``, and excluded from the
summary); ``.chunks`` one row per SSE message received; ``.levels`` one row per load level with the client's
own diagnostics. :meth:`BenchmarkResult.summary` and every plot are computed from those frames, so a saved
and reloaded result summarizes identically. Metric definitions: :mod:`vultr_toolkit.bench.metrics`.

Example (``res`` is a two-level run against the sandbox):

>>> res.summary()[["level", "ttft_s_p50", "tpot_s_p50", "itl_s_p99", "output_tokens_per_s"]].shape
(2, 5)
>>> run_id = res.save("sqlite:///runs.sqlite")          # None: the default history store
>>> again = BenchmarkResult.load("sqlite:///runs.sqlite", run_id)
>>> cmp = vt.bench.compare(res, again)                  # side by side: one row per level and metric
>>> cmp.columns.tolist(), bool((cmp["ratio"] == 1.0).all())  # reloaded: every ratio is exactly 1
(['level', 'metric', 'a', 'b', 'ratio', 'a_label', 'b_label'], True)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np
import pandas as pd

from .._frames import conform
from .._types import StoreLike
from .metrics import ERROR_KINDS, summarize

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


__all__ = ["CHUNK_COLUMNS", "LEVEL_COLUMNS", "REQUEST_COLUMNS", "BenchmarkResult", "compare"]

_TS: Final = "datetime64[us, UTC]"

REQUEST_COLUMNS: dict[str, Any] = {
    "request_id": "Int64",
    "level_index": "Int64",
    "level": "Float64",
    "mode": pd.CategoricalDtype(["concurrency", "rate"]),
    "phase": pd.CategoricalDtype(["warmup", "measure"]),
    "worker": "Int64",
    "scheduled_at": _TS,
    "sent_at": _TS,
    "ended_at": _TS,
    "schedule_lag_ms": "Float64",
    "client_queue_ms": "Float64",
    "ttft_s": "Float64",
    "ttfc_s": "Float64",
    "e2e_s": "Float64",
    "input_tokens_target": "Int64",   # what the plan asked for (NA for user prompts); prompt_tokens: usage
    "prompt_tokens": "Int64",
    "output_tokens_target": "Int64",  # the request's max_tokens; output_tokens: what came back
    "output_tokens": "Int64",
    "tokens_source": pd.CategoricalDtype(["usage", "chunks", "tokenizer"]),
    "chunks": "Int64",
    "tpot_s": "Float64",
    "itl_mean_s": "Float64",
    "http_status": "Int64",
    "status": pd.CategoricalDtype(["ok", "error"]),
    "error_kind": pd.CategoricalDtype(list(ERROR_KINDS)),
    "error": "string",
    "finish_reason": "string",
    "response_id": "string",      # the server's completion id: joins with server-side logs
    "sent_ns": "Int64",
}

CHUNK_COLUMNS: dict[str, Any] = {
    "request_id": "Int64",
    "level_index": "Int64",
    "index": "Int64",
    "received_at": _TS,
    "received_ns": "Int64",
    "offset_s": "Float64",
    "kind": pd.CategoricalDtype(["role", "reasoning", "content", "finish", "usage", "error", "done", "empty"]),
    "tokens": "Int64",
    "chars": "Int64",
}

LEVEL_COLUMNS: dict[str, Any] = {
    "level_index": "Int64",
    "mode": pd.CategoricalDtype(["concurrency", "rate"]),
    "level": "Float64",
    "requests_planned": "Int64",
    "duration_planned_s": "Float64",
    "max_concurrency": "Int64",
    "burstiness": "Float64",
    "started_at": _TS,
    "ended_at": _TS,
    "duration_s": "Float64",
    "client_cpu_s": "Float64",
    "client_cpu_pct": "Float64",
    "workers": "Int64",
}


class _Clock:
    """Maps monotonic ns (the engine's clock, shared by every process on Linux) to UTC timestamps."""

    def __init__(self, wall_ns: int, mono_ns: int) -> None:
        self.wall_ns, self.mono_ns = wall_ns, mono_ns

    def utc(self, ns: Any) -> pd.Series:
        arr = pd.Series(ns, dtype="Int64")
        return pd.to_datetime(arr + (self.wall_ns - self.mono_ns), unit="ns", utc=True).astype(_TS)


def build_frames(rows: Sequence[dict[str, Any]], chunk_cols: Sequence[dict[str, list[Any]]],
                 level_rows: Sequence[dict[str, Any]], *, wall_ns: int, mono_ns: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Engine output -> the three typed frames (requests sorted by level and send time)."""
    clock = _Clock(wall_ns, mono_ns)
    levels_df = pd.DataFrame(list(level_rows))
    level_of = {int(r["level_index"]): (r["level"], r["mode"]) for r in level_rows}
    req = pd.DataFrame(list(rows))
    if len(req):
        req["level"] = [level_of.get(int(i), (np.nan, None))[0] for i in req["level_index"]]
        req["mode"] = [level_of.get(int(i), (np.nan, None))[1] for i in req["level_index"]]
        req["scheduled_at"] = clock.utc(req["scheduled_ns"]).to_numpy()
        req["sent_at"] = clock.utc(req["sent_ns"]).to_numpy()
        req["ended_at"] = clock.utc(req["end_ns"]).to_numpy()
        req["schedule_lag_ms"] = (req["woke_ns"] - req["scheduled_ns"]).clip(lower=0) / 1e6
        req["client_queue_ms"] = (req["sent_ns"] - req["woke_ns"]).clip(lower=0) / 1e6
        req = req.sort_values(["level_index", "sent_ns", "request_id"], kind="stable")
    requests = conform(req, REQUEST_COLUMNS)

    sent_of = dict(zip(req["request_id"], req["sent_ns"], strict=True)) if len(req) else {}
    lvl_of = dict(zip(req["request_id"], req["level_index"], strict=True)) if len(req) else {}
    # one flat list per column, then one DataFrame: concatenating thousands of per-request frames is slow
    flat: dict[str, list[Any]] = {k: [] for k in ("request_id", "index", "received_ns", "kind", "tokens", "chars")}
    for c in chunk_cols:
        for k, values in flat.items():
            values.extend(c[k])
    ch = pd.DataFrame(flat) if flat["index"] else pd.DataFrame(columns=list(CHUNK_COLUMNS))
    if len(ch):
        ch["received_at"] = clock.utc(ch["received_ns"]).to_numpy()
        ch["offset_s"] = (ch["received_ns"] - ch["request_id"].map(sent_of)) / 1e9
        ch["level_index"] = ch["request_id"].map(lvl_of)
        ch = ch.sort_values(["request_id", "index"], kind="stable")
    chunks = conform(ch, CHUNK_COLUMNS)

    if len(levels_df):
        levels_df["started_at"] = clock.utc(levels_df["start_ns"]).to_numpy()
        levels_df["ended_at"] = clock.utc(levels_df["end_ns"]).to_numpy()
    levels = conform(levels_df, LEVEL_COLUMNS)
    return requests, chunks, levels


@dataclasses.dataclass
class BenchmarkResult:
    """One benchmark run: raw frames plus JSON-safe metadata (model, endpoint, arguments; never a key).

    Attributes: ``requests``, ``chunks``, ``levels`` (DataFrames), ``meta`` (dict) and ``run_id`` (set once
    saved to or loaded from a history store; a :class:`~vultr_toolkit.store.Bundle` of kind ``"benchmark"``).
    """

    KIND: ClassVar[str] = "benchmark"

    requests: pd.DataFrame
    chunks: pd.DataFrame
    levels: pd.DataFrame
    meta: dict[str, Any]
    run_id: str | None = dataclasses.field(default=None, compare=False)

    # --- derived views ----------------------------------------------------------------------------------------
    def summary(self, slo: Mapping[str, float] | None = None, *, warn: bool = True) -> pd.DataFrame:
        """Per level: requests, errors by kind, mean and p50/p90/p95/p99 of ``ttft_s``, ``ttfc_s``, ``tpot_s``
        (request-weighted), ``itl_s`` (token-weighted, from ``.chunks``) and ``e2e_s``; output tokens/s,
        requests/s, achieved vs target rate, goodput against ``slo`` (defaults to the run's), $ per 1M output
        tokens when the model's pricing is known; client diagnostics (schedule lag p99/max, client CPU %).

        Warns when the client rather than the server may be the bottleneck (schedule lag p99 > 10 ms).

        >>> res.summary(slo={"ttft_s": 0.5, "tpot_s": 0.05})[["level", "goodput_rps"]]
           level  goodput_rps
        0    1.0          ...
        1    4.0          ...
        """
        out = summarize(self.requests, self.chunks, self.levels, slo=slo if slo is not None else self.meta.get("slo"),
                        pricing=self.meta.get("pricing"))
        if warn and len(out) and bool(out["client_bound"].any()):
            bad = out.loc[out["client_bound"], "level"].tolist()
            warnings.warn(f"benchmark client may be the bottleneck at level(s) {bad}: schedule lag p99 > 10 ms; "
                          "use workers=2+ or a lighter load", RuntimeWarning, stacklevel=2)
        return out

    @property
    def errors(self) -> pd.DataFrame:
        """The failed requests (measured and warm-up), with their kind and message."""
        return self.requests[self.requests["status"] == "error"].reset_index(drop=True)

    def plot(self, *, fig: Figure | None = None) -> Figure:
        """Overview figure: latency vs load, TTFT ECDF per level, throughput vs load (matplotlib objects,
        no pyplot state; display it in Jupyter by leaving it as the cell's value)."""
        from .. import plot as vplot

        if fig is None:
            from matplotlib.figure import Figure as _Figure

            fig = _Figure(figsize=(15, 4.2), layout="constrained")
        axes = fig.subplots(1, 3)
        summary = self.summary(warn=False)
        vplot.plot_latency_vs_load(summary, ax=axes[0])
        vplot.plot_ttft_ecdf(self.requests, ax=axes[1])
        vplot.plot_throughput(summary, ax=axes[2])
        model, label = self.meta.get("model", "?"), self.meta.get("label")
        # The label defaults to the model id; don't print it twice.
        fig.suptitle(f"{model} — {label}" if label and label != model else f"{model} — benchmark")
        return fig

    # --- persistence (the store's Bundle protocol) ---------------------------------------------------------------
    def to_frames(self) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
        """``(meta, {"requests", "chunks", "levels"})`` for the history store (JSON-safe meta, no secrets)."""
        return dict(self.meta), {"requests": self.requests, "chunks": self.chunks, "levels": self.levels}

    @classmethod
    def from_frames(cls, meta: Mapping[str, Any], frames: Mapping[str, pd.DataFrame]) -> BenchmarkResult:
        """Rebuild from :meth:`to_frames` output (dtypes re-asserted, so a round trip is exact)."""
        return cls(conform(frames["requests"], REQUEST_COLUMNS), conform(frames["chunks"], CHUNK_COLUMNS),
                   conform(frames["levels"], LEVEL_COLUMNS), dict(meta))

    def save(self, store: StoreLike = None) -> str:
        """Save to a history store (a ``HistoryStore``, a store URL, or None for the default); returns run_id.

        A store opened here from a URL is closed again. Saving the same result again replaces its run.

        >>> run_id = res.save("sqlite:///bench.sqlite")
        >>> run_id
        'benchmark-...'
        >>> type(res).load("sqlite:///bench.sqlite", run_id).requests.shape == res.requests.shape
        True
        """
        from ..store import using_store

        with using_store(store) as st:
            return st.save(self)

    @classmethod
    def load(cls, store: StoreLike, run_id: str) -> BenchmarkResult:
        """The stored benchmark run ``run_id``; :class:`~vultr_toolkit.StoreError` if unknown or not a benchmark.

        >>> BenchmarkResult.load("sqlite://", "benchmark-unknown")   # doctest: +ELLIPSIS
        Traceback (most recent call last):
        vultr_toolkit.StoreError: no stored run with run_id 'benchmark-unknown'; ...
        """
        from ..store import using_store

        with using_store(store) as st:
            return st.load(run_id, cls)

    def _repr_html_(self) -> str:
        # Jupyter: the one-line repr plus the headline columns of the summary
        import html

        cols = ["level", "requests", "errors", "ttft_s_p50", "ttft_s_p99", "tpot_s_p50", "itl_s_p99", "e2e_s_p50",
                "output_tokens_per_s", "requests_per_s"]
        summary = self.summary(warn=False)
        table = summary[[c for c in cols if c in summary.columns]].to_html(index=False, float_format="{:.4g}".format)
        return f"<p><code>{html.escape(repr(self))}</code></p>{table}"

    def __repr__(self) -> str:
        n_err = int((self.requests["status"] == "error").sum())
        levels = ", ".join(f"{lv:g}" for lv in self.levels["level"].dropna())
        return (f"<BenchmarkResult model={self.meta.get('model')!r} mode={self.meta.get('mode')} "
                f"levels=[{levels}] requests={len(self.requests)} errors={n_err} chunks={len(self.chunks)}>")


_COMPARE_METRICS = ("ttft_s_p50", "ttft_s_p99", "tpot_s_p50", "tpot_s_p99", "itl_s_p50", "itl_s_p99", "e2e_s_p50",
                    "e2e_s_p99", "output_tokens_per_s", "requests_per_s", "error_rate")


def compare(a: BenchmarkResult | pd.DataFrame, b: BenchmarkResult | pd.DataFrame, *,
            metrics: Sequence[str] | None = None, labels: tuple[str, str] | None = None,
            slo: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Side-by-side summaries of two runs, per level and metric, with ``ratio = b / a``.

    Long form: ``level``, ``metric``, ``a``, ``b``, ``ratio``, ``a_label``, ``b_label``; levels present in only
    one run get NA on the other side. Accepts results or their ``summary()`` frames.

    >>> before = vt.bench.run(client, model="qwen3.8-27b", concurrency=[1, 4], requests=8, max_tokens=16)
    >>> after = vt.bench.run(client, model="qwen3.8-27b", concurrency=[1, 4], requests=8, max_tokens=16)
    >>> cmp = vt.bench.compare(before, after, metrics=["ttft_s_p50", "output_tokens_per_s"])
    >>> cmp[["level", "metric", "a_label", "b_label"]]
       level               metric a_label b_label
    0    1.0           ttft_s_p50       a       b
    1    4.0           ttft_s_p50       a       b
    2    1.0  output_tokens_per_s       a       b
    3    4.0  output_tokens_per_s       a       b
    """
    sa = a.summary(slo, warn=False) if isinstance(a, BenchmarkResult) else a
    sb = b.summary(slo, warn=False) if isinstance(b, BenchmarkResult) else b
    names = list(metrics) if metrics is not None else [m for m in _COMPARE_METRICS if m in sa.columns]
    missing = [m for m in names if m not in sa.columns or m not in sb.columns]
    if missing:
        from .._errors import ConfigError

        raise ConfigError(f"compare: unknown metric(s) {missing}; choose from the summary() columns")
    la = labels[0] if labels else (a.meta.get("label") if isinstance(a, BenchmarkResult) else None) or "a"
    lb = labels[1] if labels else (b.meta.get("label") if isinstance(b, BenchmarkResult) else None) or "b"
    left = sa[["level", *names]].melt(id_vars="level", var_name="metric", value_name="a")
    right = sb[["level", *names]].melt(id_vars="level", var_name="metric", value_name="b")
    df = left.merge(right, on=["level", "metric"], how="outer")
    df["a"] = df["a"].astype("Float64")
    df["b"] = df["b"].astype("Float64")
    ratio = df["b"] / df["a"].mask(df["a"] == 0)
    df["ratio"] = ratio.astype("Float64")
    df["metric"] = pd.Categorical(df["metric"], categories=names)
    df["a_label"] = pd.Series([la] * len(df), dtype="string")
    df["b_label"] = pd.Series([lb] * len(df), dtype="string")
    return df.sort_values(["metric", "level"], kind="stable").reset_index(drop=True)
