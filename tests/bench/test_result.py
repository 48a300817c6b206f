"""BenchmarkResult persistence (pure round trip, SQLite file, PostgreSQL), compare and plots."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.bench.result import CHUNK_COLUMNS, LEVEL_COLUMNS, REQUEST_COLUMNS, BenchmarkResult, build_frames
from vultr_toolkit.plot import plot_compare, plot_itl_ecdf, plot_latency_vs_load, plot_throughput, plot_ttft_ecdf
from vultr_toolkit.store import HistoryStore


@pytest.fixture(scope="module")
def result(sandbox: vt.Sandbox) -> BenchmarkResult:
    return vt.bench.run(sandbox, model="deepseek-v4.1-flash", concurrency=[1, 2], requests=4, warmup=1,
                        max_tokens=10, slo={"ttft_ms": 1000, "tpot_s": 1.0}, progress=False, label="run-a")


def _assert_same(a: BenchmarkResult, b: BenchmarkResult) -> None:
    for name in ("requests", "chunks", "levels"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.meta == b.meta
    pd.testing.assert_frame_equal(a.summary(warn=False), b.summary(warn=False))


def test_pure_round_trip_keeps_dtypes(result: BenchmarkResult) -> None:
    _assert_same(result, BenchmarkResult.from_frames(*result.to_frames()))


def test_empty_frames_have_the_same_columns_and_dtypes() -> None:
    req, ch, lv = build_frames([], [], [], wall_ns=0, mono_ns=0)
    for df, schema in ((req, REQUEST_COLUMNS), (ch, CHUNK_COLUMNS), (lv, LEVEL_COLUMNS)):
        assert len(df) == 0
        assert {c: str(t) for c, t in df.dtypes.items()} == {c: str(pd.Series(dtype=t).dtype)
                                                             for c, t in schema.items()}


def test_store_round_trip_sqlite_file(result: BenchmarkResult, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hist.sqlite'}"
    run_id = result.save(url)
    store = HistoryStore(url)
    runs = store.benchmark_runs()
    assert run_id in set(runs["run_id"])
    _assert_same(result, BenchmarkResult.load(store, run_id))


@pytest.mark.postgres
def test_store_round_trip_postgres(result: BenchmarkResult, pg_url: str) -> None:
    store = HistoryStore(pg_url)
    run_id = result.save(store)
    _assert_same(result, BenchmarkResult.load(store, run_id))


def test_summary_goodput_uses_the_run_slo(result: BenchmarkResult) -> None:
    s = result.summary()
    assert (s["goodput_requests"] == 4).all()   # generous SLO: every request meets it
    strict = result.summary(slo={"ttft_s": 1e-6})
    assert (strict["goodput_requests"] == 0).all() and (strict["goodput_rps"] == 0).all()


def test_compare_gives_ratios(result: BenchmarkResult, sandbox: vt.Sandbox) -> None:
    other = vt.bench.run(sandbox, model="qwen3.8-27b", concurrency=[1, 2], requests=4, max_tokens=10,
                         progress=False, label="run-b")
    cmp = vt.bench.compare(result, other, metrics=["ttft_s_p50", "output_tokens_per_s"])
    assert set(cmp.columns) >= {"level", "metric", "a", "b", "ratio", "a_label", "b_label"}
    assert len(cmp) == 4
    row = cmp[(cmp["metric"] == "ttft_s_p50") & (cmp["level"] == 1.0)].iloc[0]
    assert row["ratio"] == pytest.approx(row["b"] / row["a"])
    assert row["a_label"] == "run-a" and row["b_label"] == "run-b"
    with pytest.raises(vt.ConfigError, match="unknown metric"):
        vt.bench.compare(result, other, metrics=["nope"])
    ax = plot_compare(cmp)
    assert len(ax.patches) == 4


def test_notebook_display(result: BenchmarkResult) -> None:
    html = result._repr_html_()
    assert "BenchmarkResult" in html and "ttft_s_p50" in html and html.count("</tr>") == 1 + 2   # header + levels


def test_plots_draw_the_data(result: BenchmarkResult) -> None:
    fig = result.plot()
    assert len(fig.axes) >= 3
    ax = plot_latency_vs_load(result.summary(warn=False))
    assert len(ax.lines) == 3 and list(cast(npt.NDArray[np.float64], ax.lines[0].get_xdata())) == [1.0, 2.0]
    ax = plot_ttft_ecdf(result.requests)
    assert len(ax.lines) == 2   # one curve per level
    assert len(plot_itl_ecdf(result.chunks).lines) == 2
    assert len(plot_throughput(result).lines) == 1


def test_summary_warns_when_the_client_is_the_bottleneck(result: BenchmarkResult) -> None:
    meta, frames = result.to_frames()
    req = frames["requests"].copy()
    req.loc[req["level"] == 2.0, "schedule_lag_ms"] = 25.0        # as if the client fell behind its schedule
    lagging = BenchmarkResult.from_frames(meta, {**frames, "requests": req})
    with pytest.warns(RuntimeWarning, match=r"client may be the bottleneck at level\(s\) \[2.0\]"):
        s = lagging.summary()
    assert s["client_bound"].tolist() == [False, True]
    assert s.loc[1, "schedule_lag_ms_max"] == 25.0
