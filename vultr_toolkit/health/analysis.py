"""Health history analysis: uptime, latency percentiles, incidents and MTTR (vectorised; 1M samples in < 2 s).

Definitions (Uptime Kuma's, research §3):

* **uptime_pct** = available / (available + unavailable) × 100, where available = ``up`` and ``degraded`` samples,
  unavailable = ``down`` samples and *pending* ones (``degraded`` with ``details.pending``: a failure the monitor
  has not yet confirmed). ``maintenance`` samples are excluded from both sides; <NA> when nothing is left.
* an **incident** is a maximal run of consecutive ``down`` samples of one target (maintenance samples are skipped,
  so a window in the middle of an outage does not split it). It starts at its first down sample and ends at the
  first sample after it that is not down; an incident still down at the end of the history is ``ongoing``.
  The monitor's synthetic ``overall`` row is down whenever a target is, so it is not a service of its own:
  :func:`incidents` leaves it out by default (one outage of one service = 1 incident; two services down at
  once = 2). :func:`summarize` still reports the ``overall`` row's own incidents on that row.
* **mttr_s** = the mean duration of the resolved incidents that started in the group.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..store.samples import SAMPLE_COLUMNS, coerce_samples

__all__ = ["INCIDENT_DTYPES", "SUMMARY_DTYPES", "details_frame", "incidents", "summarize"]

INCIDENT_DTYPES: dict[str, Any] = {
    "service": "category",
    "target": "category",
    "start_at": "datetime64[us, UTC]",
    "end_at": "datetime64[us, UTC]",
    "duration_s": "Float64",
    "samples": "Int64",
    "ongoing": "boolean",
    "error_kind": "category",
    "message": "string",
}

SUMMARY_DTYPES: dict[str, Any] = {
    "service": "category",
    "target": "category",
    "bucket_at": "datetime64[us, UTC]",
    "samples": "Int64",
    "uptime_pct": "Float64",
    "latency_p50_ms": "Float64",
    "latency_p95_ms": "Float64",
    "latency_p99_ms": "Float64",
    "incidents": "Int64",
    "mttr_s": "Float64",
}


def _typed(history: pd.DataFrame) -> pd.DataFrame:
    if list(history.columns) == list(SAMPLE_COLUMNS) and str(history["status"].dtype) == "category":
        return history
    return coerce_samples(history)


def _empty(dtypes: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in dtypes.items()})


def _incident_arrays(h: pd.DataFrame) -> dict[str, np.ndarray]:
    """Incident boundaries over ``h`` (non-maintenance samples): positions in ``h`` sorted by target and time."""
    key = h.groupby(["service", "target"], observed=True, sort=False).ngroup().to_numpy()
    ts = h["checked_at"].array.asi8
    order = np.lexsort((ts, key))
    key_s, ts_s = key[order], ts[order]
    down = (h["status"].to_numpy(dtype=object) == "down")[order] if len(h) else np.zeros(0, bool)
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = key_s[1:] != key_s[:-1]
    prev_down = np.zeros(len(order), dtype=bool)
    prev_down[1:] = down[:-1]
    starts = np.flatnonzero(down & (~prev_down | new_group))
    # An incident runs to the last down sample before the next non-down sample or group change.
    breaks = np.flatnonzero(~down | new_group)
    nxt = np.searchsorted(breaks, starts, side="right")  # the first break strictly after each start
    n = len(order)
    after = np.where(nxt < len(breaks), breaks[np.minimum(nxt, len(breaks) - 1)], n)
    clipped = np.minimum(after, n - 1)
    # Resolved when a sample of the same target follows (a non-down one, by construction of the breaks).
    resolved = (after < n) & ~new_group[clipped]
    end_ts = np.where(resolved, ts_s[clipped], 0)
    return {"order": order, "starts": starts, "count": after - starts, "resolved": resolved,
            "start_ts": ts_s[starts], "end_ts": end_ts}


def incidents(history: pd.DataFrame, *, overall: bool = False) -> pd.DataFrame:
    """One row per contiguous down period of a target: start_at, end_at (NaT while ongoing), duration_s, samples,
    ongoing, and the first error (error_kind, message).

    Real services only: the ``overall`` row mirrors their outages and would count each one twice;
    ``overall=True`` lists its down periods too.

    >>> df = vt.store.HistoryStore().health_history(since="7d")
    >>> inc = vt.health.incidents(df).sort_values("duration_s")
    >>> inc[inc["service"] == "api"][["service", "samples", "ongoing", "error_kind"]]
      service  samples  ongoing error_kind
    ...   api        2    False   http_5xx
    """
    h = _typed(history)
    keep = h["status"] != "maintenance"
    if not overall:
        keep &= h["service"] != "overall"
    h = h[keep]
    if h.empty:
        return _empty(INCIDENT_DTYPES)
    a = _incident_arrays(h)
    first = h.iloc[a["order"][a["starts"]]]
    start = pd.DatetimeIndex(a["start_ts"].view("M8[us]")).tz_localize("UTC")
    end = pd.DatetimeIndex(np.where(a["resolved"], a["end_ts"], np.iinfo(np.int64).min).view("M8[us]")) \
        .tz_localize("UTC")
    duration = (a["end_ts"] - a["start_ts"]) / 1e6
    out = pd.DataFrame({
        "service": first["service"].to_numpy(),
        "target": first["target"].to_numpy(),
        "start_at": start,
        "end_at": end,
        "duration_s": pd.arrays.FloatingArray(duration.astype(np.float64), ~a["resolved"]),
        "samples": pd.array(a["count"], dtype="Int64"),
        "ongoing": pd.array(~a["resolved"], dtype="boolean"),
        "error_kind": first["error_kind"].to_numpy(),
        "message": first["message"].to_numpy(),
    })
    out = out.astype(INCIDENT_DTYPES)
    return out.sort_values(["start_at", "service", "target"], ignore_index=True)


def summarize(history: pd.DataFrame, freq: str | None = None) -> pd.DataFrame:
    """Per service and target (and per time bucket with ``freq``, e.g. ``"1h"``, ``"1D"``): samples, uptime_pct,
    latency_p50_ms / latency_p95_ms / latency_p99_ms, incidents (started in the bucket) and mttr_s.

    >>> hist = vt.HealthMonitor(sb.settings()).run(interval_s=0.05, count=3)
    >>> vt.health.summarize(hist)[["service", "samples", "uptime_pct", "incidents"]]
         service  samples  uptime_pct  incidents
    0        api        3       100.0          0
    1  inference        3       100.0          0
    2    overall        3       100.0          0
    """
    h = _typed(history)
    cols = list(SUMMARY_DTYPES) if freq else [c for c in SUMMARY_DTYPES if c != "bucket_at"]
    dtypes = {c: SUMMARY_DTYPES[c] for c in cols}
    if h.empty:
        return _empty(dtypes)
    keys = ["service", "target"]
    frame = pd.DataFrame({"service": h["service"], "target": h["target"]})
    if freq:
        frame["bucket_at"] = h["checked_at"].dt.floor(freq)
        keys.append("bucket_at")
    status = h["status"].cat.codes.to_numpy()  # 0 up, 1 degraded, 2 down, 3 maintenance
    pending = np.zeros(len(h), dtype=bool)
    deg = np.flatnonzero(status == 1)
    if len(deg):
        pending[deg] = h["details"].iloc[deg].str.contains('"pending":true', regex=False).fillna(False).to_numpy()
    frame["_avail"] = ((status <= 1) & ~pending).astype(np.int64)
    frame["_counted"] = (status != 3).astype(np.int64)
    frame["_lat"] = h["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
    g = frame.groupby(keys, observed=True, sort=True)
    agg = g.agg(samples=("_counted", "size"), avail=("_avail", "sum"), counted=("_counted", "sum"))
    q = g["_lat"].quantile(np.array([0.5, 0.95, 0.99])).unstack()
    out = agg.join(q)
    out["uptime_pct"] = np.where(out["counted"] > 0, 100.0 * out["avail"] / out["counted"].where(
        out["counted"] > 0, 1), np.nan)
    out = out.rename(columns={0.5: "latency_p50_ms", 0.95: "latency_p95_ms", 0.99: "latency_p99_ms"})
    inc = incidents(h, overall=True)  # each row its own incidents, the overall row's included
    if freq:
        inc["bucket_at"] = inc["start_at"].dt.floor(freq)
    if len(inc):
        ig = inc.groupby(keys, observed=True).agg(incidents=("start_at", "size"), mttr_s=("duration_s", "mean"))
        out = out.join(ig)
    else:
        out["incidents"] = 0
        out["mttr_s"] = np.nan
    out["incidents"] = out["incidents"].fillna(0)
    out = out.reset_index()
    res = pd.DataFrame({c: out[c] for c in cols})
    for c in ("service", "target"):
        res[c] = res[c].astype(str)
    return res.astype(dtypes)


def details_frame(history: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """The numeric metrics inside ``details`` as long-form rows: checked_at, service, target, metric, value.

    Use it to chart what probes record, e.g. a managed database's ``cpu_pct`` or PostgreSQL's
    ``connections_used`` over time. ``keys`` keeps only those metrics; booleans become 0/1; text is dropped.

    >>> df = vt.health.details_frame(hist, keys=["model_count", "http_status"])
    >>> df.columns.tolist()
    ['checked_at', 'service', 'target', 'metric', 'value']
    >>> wide = df.pivot_table(index="checked_at", columns="metric", values="value", observed=True)
    >>> sorted(wide.columns)
    ['http_status', 'model_count']
    """
    h = _typed(history)
    wanted = set(keys) if keys is not None else None
    rows_idx: list[int] = []
    metrics: list[str] = []
    values: list[float] = []
    for i, text in enumerate(h["details"].astype(object).where(h["details"].notna(), None)):
        if not text:
            continue
        try:
            d = json.loads(text)
        except ValueError:
            continue
        if not isinstance(d, dict):
            continue
        for k, v in d.items():
            if (wanted is not None and k not in wanted) or not isinstance(v, int | float) or v is None:
                continue
            rows_idx.append(i)
            metrics.append(k)
            values.append(float(v))
    idx = np.asarray(rows_idx, dtype=np.int64)
    return pd.DataFrame({
        "checked_at": h["checked_at"].to_numpy()[idx] if len(idx) else pd.Series([], dtype="datetime64[us, UTC]"),
        "service": h["service"].to_numpy()[idx],
        "target": h["target"].to_numpy()[idx],
        "metric": pd.Categorical(metrics),
        "value": pd.array(values, dtype="Float64"),
    }).astype({"checked_at": "datetime64[us, UTC]", "service": "category", "target": "category"})
