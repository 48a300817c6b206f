"""vt.bench.run(cluster=...) on a real dask LocalCluster of 2 worker PROCESSES against the sandbox (loopback HTTP).

One cluster for the module (start-up is the expensive part); small loads on the fast emulator.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.bench.distributed import (
    ClockOffset,
    WorkerLostError,
    _explain_worker_loss,
    _Shards,
    estimate_offsets,
    ntp_offset,
    pick_workers,
    run_plan_on_cluster,
    shift_records,
)
from vultr_toolkit.bench.driver import _resolve
from vultr_toolkit.bench.engine import _level_offsets
from vultr_toolkit.bench.workload import build_plan
from vultr_toolkit.sandbox.inference import InferenceEmulator

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

MODEL = "qwen3.8-27b"


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask warns about the port of a dashboard we do not start
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, host="127.0.0.1")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _max_overlap(df: pd.DataFrame) -> int:
    """Most requests in flight at once (sweep over send/end stamps)."""
    events = sorted([(t, 1) for t in df["sent_ns"]] + [(t, -1) for t in (df["sent_ns"] + (df["e2e_s"] * 1e9))],
                    key=lambda e: (e[0], e[1]))
    live = best = 0
    for _, d in events:
        live += d
        best = max(best, live)
    return best


def _chat_ids(emu: InferenceEmulator) -> set[str]:
    return set(emu.chunk_log(clear=True)["request_id"].astype(str))


# --- pure parts ---------------------------------------------------------------------------------------------------
def test_ntp_offset_takes_the_fastest_round_trip() -> None:
    true_offset = 7_000_000
    # (t0, t1, t2, t3): a slow exchange with asymmetric queueing, and a fast symmetric one
    slow = (0, 9_000_000 + true_offset, 9_000_000 + true_offset, 10_000_000)      # out 9 ms, back 1 ms
    fast = (20_000_000, 20_100_000 + true_offset, 20_150_000 + true_offset, 20_350_000)
    est = ntp_offset([slow, fast])
    assert est == ClockOffset(offset_ns=true_offset - 50_000, rtt_ns=300_000, samples=2)
    assert abs(est.offset_ns - true_offset) <= est.error_bound_ns
    with pytest.raises(ValueError, match="at least one"):
        ntp_offset([])


def test_shift_records_moves_every_stamp() -> None:
    rows = [{"scheduled_ns": 1, "woke_ns": 2, "sent_ns": 3, "end_ns": 4, "request_id": 9}]
    chunks = [{"received_ns": [5, 6], "index": [0, 1]}]
    shift_records(rows, chunks, 100)
    assert rows == [{"scheduled_ns": 101, "woke_ns": 102, "sent_ns": 103, "end_ns": 104, "request_id": 9}]
    assert chunks == [{"received_ns": [105, 106], "index": [0, 1]}]


def test_bad_cluster_argument_fails_before_any_request(sandbox: vt.Sandbox, emu: InferenceEmulator) -> None:
    before = emu.chat_requests
    with pytest.raises(vt.ConfigError, match="cluster"):
        vt.bench.run(sandbox, model=MODEL, max_tokens=4, concurrency=2, requests=2, progress=False, cluster=42)
    with pytest.raises(vt.ConfigError, match="scheduler address"):
        vt.bench.run(sandbox, model=MODEL, max_tokens=4, concurrency=2, requests=2, progress=False,
                     cluster="not an address")
    assert emu.chat_requests == before


# --- on the cluster -----------------------------------------------------------------------------------------------
def test_closed_loop_splits_users_exactly_and_merges_the_union(sandbox: vt.Sandbox, emu: InferenceEmulator,
                                                                dask_client: Any) -> None:
    emu.chunk_log(clear=True)
    res = vt.bench.run(sandbox, model=MODEL, concurrency=7, requests=14, warmup=2, max_tokens=8, progress=False,
                       cluster=dask_client)
    req = res.requests
    workers = sorted(dask_client.scheduler_info()["workers"])
    assert res.meta["cluster"]["workers"] == workers and res.meta["workers"] == 2
    # every request sent has one row; the union of the shards is exactly what the server answered
    assert len(req) == 2 + 14 and req["request_id"].is_unique and set(req["status"]) == {"ok"}
    assert set(req["response_id"]) == _chat_ids(emu)
    measure = req[req["phase"] == "measure"]
    # 7 users over 2 workers = 4 + 3, and the 14 requests follow the users: 8 + 6
    assert measure.groupby("worker").size().to_dict() == {0: 8, 1: 6}
    assert {w: _max_overlap(g) for w, g in measure.groupby("worker")} == {0: 4, 1: 3}
    assert sorted(req.loc[req["phase"] == "warmup", "worker"].tolist()) == [0, 1]   # 2 warm-ups: one each
    # the merged chunks are per request and the summary sees one level of 14 requests
    assert set(res.chunks["request_id"]) == set(req["request_id"])
    s = res.summary(warn=False)
    assert s["requests"].tolist() == [14] and s["errors"].tolist() == [0]
    assert int(res.levels["workers"].iloc[0]) == 2
    # stamps are on the client's clock: every request was sent inside its level's wall-clock window
    lv = res.levels.iloc[0]
    assert (measure["sent_at"] >= lv["started_at"] - pd.Timedelta("1ms")).all()
    assert (measure["ended_at"] <= lv["ended_at"]).all()


def test_open_loop_schedule_is_dealt_exactly(sandbox: vt.Sandbox, dask_client: Any) -> None:
    res = vt.bench.run(sandbox, model=MODEL, rate=[40.0, 60.0], requests=9, max_tokens=4, seed=3, progress=False,
                       cluster=dask_client)
    req = res.requests
    assert len(req) == 18 and set(req["status"]) == {"ok"}
    plan = build_plan(model=MODEL, max_tokens=4, rate=[40.0, 60.0], requests=9, seed=3)
    rng = np.random.default_rng((3, 7))
    for index, level in enumerate(plan.levels):
        asked = np.array(_level_offsets(level, rng)) // 1000           # µs, the frame's resolution
        mine = req[req["level_index"] == index].sort_values("request_id")
        start = res.levels.loc[res.levels["level_index"] == index, "started_at"].iloc[0]
        got = ((mine["scheduled_at"] - start).dt.total_seconds() * 1e6).round().astype("int64").to_numpy()
        # the union of the two shards' send times IS the asked schedule (±1 µs of rounding) ...
        assert np.abs(got - asked).max() <= 1, index
        # ... dealt round-robin: 9 over 2 workers = 5 + 4
        assert mine.groupby("worker").size().to_dict() == {0: 5, 1: 4}
        assert mine["worker"].tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0]


def test_clock_offset_correction_recovers_injected_skew(sandbox: vt.Sandbox, emu: InferenceEmulator,
                                                        dask_client: Any) -> None:
    skews = [2_500_000_000, -1_700_000_000]    # worker 0 reads 2.5 s ahead, worker 1 1.7 s behind
    cfg, _ = _resolve(sandbox)
    plan = build_plan(model=MODEL, max_tokens=6, concurrency=[2, 4], requests=8, seed=1)
    emu.chunk_log(clear=True)
    rows, chunks, levels, info = run_plan_on_cluster(cfg, plan, dask_client, clock_skew_ns=skews)
    server = emu.chunk_log(clear=True)
    # the offsets measured through the scheduler recover the skew within 1 ms, at every level
    for per_level in info["clock_offset_ms"]:
        for est_ms, skew in zip(per_level, skews, strict=True):
            assert abs(est_ms - skew / 1e6) < 1.0, (est_ms, skew)
    assert len(levels) == 2 and len(rows) == 16
    # and the merged stamps are on the client's clock: a chunk arrives after the server sent it (causality,
    # within the 1 ms budget) and soon after; uncorrected, worker 0's would be 2.5 s late and worker 1's early
    ids = {r["request_id"]: r["response_id"] for r in rows}
    flat = pd.DataFrame({"request_id": [i for c in chunks for i in c["request_id"]],
                         "index": [i for c in chunks for i in c["index"]],
                         "received_ns": [t for c in chunks for t in c["received_ns"]]})
    flat["response_id"] = flat["request_id"].map(ids)
    m = flat.merge(server.rename(columns={"request_id": "response_id"}), on=["response_id", "index"])
    assert len(m) == len(flat) > 0
    delay_ms = (m["received_ns"] - m["sent_ns"]) / 1e6
    assert delay_ms.min() > -1.0
    assert delay_ms.median() < 50.0
    # the level starts were honoured on each worker's own clock: nobody started a second early or late
    sent = pd.Series([r["sent_ns"] for r in rows])
    assert sent.min() >= levels[0]["start_ns"] - 1_000_000
    assert sent.max() <= levels[1]["end_ns"]


def test_scheduler_address_and_worker_subset(sandbox: vt.Sandbox, dask_client: Any) -> None:
    address = dask_client.scheduler.address
    res = vt.bench.run(sandbox, model=MODEL, concurrency=3, requests=3, max_tokens=4, progress=False,
                       cluster=address, workers=1)
    assert res.meta["cluster"]["scheduler"] == address and len(res.meta["cluster"]["workers"]) == 1
    assert res.requests["worker"].tolist() == [0, 0, 0] and set(res.requests["status"]) == {"ok"}
    with pytest.raises(vt.ConfigError, match="asked for 5"):
        pick_workers(dask_client, 5, wait_s=0.5)


def test_a_worker_leaving_mid_run_fails_clearly(sandbox: vt.Sandbox, emu: InferenceEmulator) -> None:
    # its own small cluster: the module's must keep both workers for the other tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, host="127.0.0.1")
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        doomed = sorted(client.scheduler_info()["workers"])[1]
        pid = client.run(os.getpid, workers=[doomed])[doomed]

        def kill_later() -> None:
            time.sleep(1.5)
            os.kill(pid, signal.SIGKILL)   # the worker process crashes mid-level

        threading.Thread(target=kill_later, daemon=True).start()
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match=r"Dask worker .* died during level 0"):
            vt.bench.run(sandbox, model=MODEL, rate=10.0, duration_s=30.0, max_tokens=4, progress=False,
                         cluster=client)
        assert time.monotonic() - t0 < 25   # it fails when the worker goes, not after the level's 30 s
        # and the surviving worker stopped sending too (it would send 5 requests/s until the level's end)
        sent = emu.chat_requests
        time.sleep(1.0)
        assert emu.chat_requests == sent


def test_a_worker_dying_during_the_clock_exchange_is_a_worker_lost_error() -> None:
    # CI once killed the worker of the test above before its level started: the clock exchange then failed with
    # a bare CommClosedError instead of saying which worker left.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, host="127.0.0.1")
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        addrs = pick_workers(client, 2)
        shards = _Shards(client, addrs)
        with pytest.raises(ValueError, match="unrelated"), _explain_worker_loss(shards, settle_s=60):
            raise ValueError("unrelated")      # not a comm error: passes through at once (no 60-s settle)
        with pytest.raises(ConnectionResetError), _explain_worker_loss(shards, settle_s=0.2):
            raise ConnectionResetError("flaky network")   # a comm error, but every worker alive: unchanged
        pid = client.run(os.getpid, workers=[addrs[1]])[addrs[1]]
        os.kill(pid, signal.SIGKILL)
        # The scheduler (in this process) would retry connecting to the dead worker for the default 30 s.
        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
                pytest.raises(WorkerLostError, match="died during level 0") as info, \
                _explain_worker_loss(shards):
            estimate_offsets(client, addrs, rounds=3)
    assert addrs[1] in str(info.value) and addrs[0] not in str(info.value)


def test_arun_inside_a_running_loop_and_the_result_round_trips(sandbox: vt.Sandbox, dask_client: Any,
                                                                tmp_path: Any) -> None:
    async def notebook_cell() -> vt.bench.BenchmarkResult:   # as in Jupyter: a loop is already running
        return await vt.bench.arun(sandbox, model=MODEL, concurrency=2, requests=4, max_tokens=4, progress=False,
                                   cluster=dask_client)

    res = asyncio.run(notebook_cell())
    assert len(res.requests) == 4 and sorted(res.requests["worker"].tolist()) == [0, 0, 1, 1]
    store = vt.store.HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}")
    back = vt.bench.BenchmarkResult.load(store, res.save(store))
    assert back.meta["cluster"] == res.meta["cluster"]
    pd.testing.assert_frame_equal(back.requests, res.requests)


def test_the_inference_key_never_leaves_the_engine(sandbox: vt.Sandbox, dask_client: Any) -> None:
    canary = "sk-CANARY-dask-5be1"
    settings = sandbox.settings(inference_api_key=canary)
    res = vt.bench.run(settings, model=MODEL, concurrency=2, requests=2, max_tokens=4, progress=False,
                       cluster=dask_client)
    assert set(res.requests["error_kind"].astype(str)) == {"http_4xx"}   # the key was sent (and refused)
    shown = [repr(res), json.dumps(res.meta, default=str), res.requests.to_csv(), res.chunks.to_csv(),
             json.dumps(dask_client.get_worker_logs(), default=str),
             json.dumps(dask_client.get_scheduler_logs(), default=str)]
    assert not any(canary in text for text in shown)
