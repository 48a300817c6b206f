"""summarize() and incidents() on hand-built histories whose answers are known."""

from __future__ import annotations

import json
from typing import cast

import pandas as pd
import pytest
from pandas.api.typing import NaTType, NAType

import vultr_toolkit.health as health
from vultr_toolkit.health import incidents, summarize
from vultr_toolkit.health.analysis import INCIDENT_DTYPES, SUMMARY_DTYPES
from vultr_toolkit.store import samples_frame

T0 = pd.Timestamp("2026-05-01T00:00:00Z")


def _history(rows: list[tuple[str, int, str, float | None]]) -> pd.DataFrame:
    """rows: (target, seconds after T0, status, latency_ms); status 'pending' = a degraded pending sample."""
    recs = []
    for target, sec, status, lat in rows:
        details = {"pending": True} if status == "pending" else {}
        recs.append({"checked_at": T0 + pd.Timedelta(seconds=sec), "service": f"svc-{target}", "target": target,
                     "status": "degraded" if status == "pending" else status, "latency_ms": lat,
                     "error_kind": "connection" if status == "down" else None,
                     "message": f"refused at {sec}" if status == "down" else None, "details": details})
    return samples_frame(recs)


HIST = _history([
    ("a", 0, "up", 1.0), ("a", 10, "down", None), ("a", 20, "down", None), ("a", 30, "up", 3.0),
    ("a", 40, "down", None),                                      # ongoing at the end
    ("b", 0, "down", None), ("b", 10, "maintenance", 9.0), ("b", 20, "down", None), ("b", 30, "up", 2.0),
    ("c", 0, "up", 1.0), ("c", 10, "degraded", 2.0), ("c", 20, "pending", None), ("c", 30, "up", 4.0),
])


def test_incidents_are_contiguous_down_runs() -> None:
    inc = incidents(HIST.sample(frac=1, random_state=1))  # order of the input does not matter
    assert [str(inc[c].dtype) for c in inc.columns] == [str(d) for d in INCIDENT_DTYPES.values()]
    by = {(r.target, r.start_at): r for r in inc.itertuples()}
    a1 = by[("a", T0 + pd.Timedelta(seconds=10))]
    assert a1.end_at == T0 + pd.Timedelta(seconds=30) and a1.duration_s == 20 and a1.samples == 2
    assert not a1.ongoing and a1.error_kind == "connection" and a1.message == "refused at 10"
    a2 = by[("a", T0 + pd.Timedelta(seconds=40))]
    assert (a2.ongoing and pd.isna(cast(pd.Timestamp | NaTType, a2.end_at))
            and pd.isna(cast(float | NAType, a2.duration_s)))
    # A maintenance sample inside an outage does not split it.
    b = by[("b", T0)]
    assert b.samples == 2 and b.duration_s == 30 and not b.ongoing
    assert len(inc) == 3  # target c never went down (pending is not down)


def test_summarize_uptime_latency_incidents_mttr() -> None:
    s = summarize(HIST).set_index("target")
    assert [str(d) for d in summarize(HIST).dtypes] == [str(SUMMARY_DTYPES[c]) for c in summarize(HIST).columns]
    assert "bucket_at" not in s.columns
    assert s.loc["a", "uptime_pct"] == pytest.approx(40.0)
    assert s.loc["b", "uptime_pct"] == pytest.approx(100 / 3)  # maintenance excluded
    assert s.loc["c", "uptime_pct"] == pytest.approx(75.0)     # degraded counts as up, pending as down
    assert s.loc["a", "samples"] == 5 and s.loc["b", "samples"] == 4
    assert s.loc["a", "incidents"] == 2 and s.loc["c", "incidents"] == 0
    assert (s.loc["a", "mttr_s"] == 20 and s.loc["b", "mttr_s"] == 30
            and pd.isna(cast(float | NAType, s.loc["c", "mttr_s"])))
    assert s.loc["c", "latency_p50_ms"] == pytest.approx(2.0)
    assert s.loc["c", "latency_p99_ms"] == pytest.approx(pd.Series([1.0, 2.0, 4.0]).quantile(0.99))
    assert s.loc["a", "service"] == "svc-a"


def test_summarize_by_time_bucket() -> None:
    s = summarize(HIST, freq="20s")
    a = s[s["target"] == "a"].set_index("bucket_at")
    assert list(a.index) == [T0, T0 + pd.Timedelta(seconds=20), T0 + pd.Timedelta(seconds=40)]
    assert a["uptime_pct"].tolist() == [50.0, 50.0, 0.0]
    assert a["incidents"].tolist() == [1, 0, 1]
    assert str(s["bucket_at"].dtype) == "datetime64[us, UTC]"


def test_empty_and_all_maintenance_histories() -> None:
    empty = HIST.iloc[0:0]
    assert summarize(empty).empty and list(summarize(empty).columns) == [c for c in SUMMARY_DTYPES if c != "bucket_at"]
    assert list(summarize(empty, freq="1h").columns) == list(SUMMARY_DTYPES)
    assert incidents(empty).empty and [str(d) for d in incidents(empty).dtypes] == [
        str(d) for d in INCIDENT_DTYPES.values()]
    maint = _history([("m", 0, "maintenance", 1.0), ("m", 10, "maintenance", 2.0)])
    s = summarize(maint)
    assert pd.isna(s["uptime_pct"].iloc[0]) and s["samples"].iloc[0] == 2 and s["incidents"].iloc[0] == 0


def test_summarize_accepts_a_plain_frame() -> None:
    plain = pd.DataFrame({"checked_at": ["2026-01-01T00:00Z", "2026-01-01T00:01Z"], "service": "x",
                          "target": "t", "status": ["up", "down"], "latency_ms": [1.0, None],
                          "details": [json.dumps({}), None]})
    s = summarize(plain)
    assert s["uptime_pct"].iloc[0] == 50.0 and s["incidents"].iloc[0] == 1


def test_details_frame_extracts_numeric_metrics() -> None:
    hist = samples_frame([
        {"checked_at": T0, "service": "database", "target": "db1", "status": "up",
         "details": {"cpu_pct": 12.5, "memory_pct": 40, "database_id": "x", "ok": True}},
        {"checked_at": T0 + pd.Timedelta(minutes=1), "service": "database", "target": "db1", "status": "down"},
        {"checked_at": T0 + pd.Timedelta(minutes=2), "service": "database", "target": "db1", "status": "up",
         "details": {"cpu_pct": 80.0, "memory_pct": None}},
    ])
    df = health.details_frame(hist)
    assert list(df.columns) == ["checked_at", "service", "target", "metric", "value"]
    assert df[["metric", "value"]].astype(object).values.tolist() == [
        ["cpu_pct", 12.5], ["memory_pct", 40.0], ["ok", 1.0], ["cpu_pct", 80.0]]
    assert str(df["checked_at"].dtype) == "datetime64[us, UTC]" and str(df["value"].dtype) == "Float64"
    cpu = health.details_frame(hist, keys=["cpu_pct"])
    assert cpu["value"].tolist() == [12.5, 80.0]
    empty = health.details_frame(hist.iloc[1:2])
    assert empty.empty and str(empty["checked_at"].dtype) == "datetime64[us, UTC]"


def test_the_overall_row_does_not_double_an_outage() -> None:
    """One target down once, mirrored by the monitor's overall row: 1 incident; summarize keeps the overall
    row's own count on that row."""
    recs: list[dict[str, object]] = [
        {"checked_at": T0 + pd.Timedelta(seconds=sec), "service": svc, "target": svc, "status": st,
         "latency_ms": 1.0, "error_kind": None, "message": None, "details": {}}
        for sec, st in ((0, "up"), (10, "down"), (20, "down"), (30, "up")) for svc in ("api", "overall")]
    hist = samples_frame(recs)
    assert incidents(hist)["service"].astype(str).tolist() == ["api"]
    assert sorted(incidents(hist, overall=True)["service"].astype(str)) == ["api", "overall"]
    s = summarize(hist).set_index("service")
    assert s.loc["api", "incidents"] == 1 and s.loc["overall", "incidents"] == 1
