"""Field report item 4: one dying benchmark worker must not lose the run, nor be blamed on a ``__main__`` guard.

Two load levels of 24 requests each against the real-time sandbox emulator. A watcher thread SIGKILLs one worker
process (a local spawned worker with ``workers=2``, or a process of a real 2-worker Dask LocalCluster) once level 0
has finished and level 1 is streaming (more than 24 requests at the emulator and streams open). The run must raise
:class:`WorkerLostError` naming that pid and signal 9, and its ``.partial_result`` must hold level 0 whole.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import vultr_toolkit as vt
from vultr_toolkit._errors import error_kind
from vultr_toolkit.bench import LostWorker, WorkerLostError
from vultr_toolkit.bench.result import BenchmarkResult

MODEL = "qwen3.8-27b"
PER_LEVEL = 24       # 4 users, max_tokens=20 at ~20 ms/token: ~0.5 s a request, ~3 s a level


def _kill_in_level_1(sb: vt.Sandbox, stop: threading.Event, pick_pid: Callable[[], int]) -> list[int]:
    """SIGKILL ``pick_pid()`` once level 0 is done and level 1 streams; the list receives the pid killed."""
    assert sb.inference is not None
    emu = sb.inference
    killed: list[int] = []

    def watch() -> None:
        while not stop.is_set():
            if emu.chat_requests > PER_LEVEL and emu.active_streams() > 0:
                pid = pick_pid()
                killed.append(pid)
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    return killed


def _run(sb: vt.Sandbox, *, use_arun: bool = False, **kw: Any) -> BenchmarkResult:
    args: dict[str, Any] = dict(model=MODEL, concurrency=[4, 4], requests=PER_LEVEL, max_tokens=20, progress=False)
    if use_arun:
        return asyncio.run(vt.bench.arun(sb, **args, **kw))
    return vt.bench.run(sb, **args, **kw)


def _assert_level_0_kept(err: WorkerLostError, lost: dict[str, Any]) -> BenchmarkResult:
    assert err.level_index == 1 and error_kind(err) == "worker_lost"
    assert isinstance(err, vt.VultrToolkitError) and isinstance(err, RuntimeError)   # old handlers still catch it
    res = err.partial_result
    assert isinstance(res, BenchmarkResult)
    # the finished level is there whole: its level row and all 24 request rows, every one served
    assert res.levels["level_index"].tolist() == [0]
    assert len(res.requests) == PER_LEVEL and res.requests["level_index"].tolist() == [0] * PER_LEVEL
    assert set(res.requests["status"]) == {"ok"} and res.requests["request_id"].is_unique
    assert res.summary(warn=False)["requests"].tolist() == [PER_LEVEL]
    assert res.meta["failure"] == {"kind": "worker_lost", "workers": [lost], "level_index": 1}
    assert res.meta["interrupted"] is False
    return res


@pytest.mark.parametrize("use_arun", [False, True], ids=["run", "arun"])
def test_a_killed_local_worker_process_keeps_the_finished_level(realtime_sandbox: vt.Sandbox, stop: threading.Event,
                                                                use_arun: bool, tmp_path: Path) -> None:
    before = {p.pid for p in multiprocessing.active_children()}

    def a_worker() -> int:
        # the engine's spawned worker processes: the multiprocessing children started since
        new = [p.pid for p in multiprocessing.active_children() if p.pid not in before]
        assert len(new) == 2, new
        return max(pid for pid in new if pid is not None)

    killed = _kill_in_level_1(realtime_sandbox, stop, a_worker)
    with pytest.raises(WorkerLostError) as ei:
        _run(realtime_sandbox, use_arun=use_arun, workers=2)
    err = ei.value
    [pid] = killed
    # the culprit only, not the sibling the pool terminated afterwards
    assert err.workers == [LostWorker(address=None, pid=pid, signal=9, exit_code=None)]
    text = str(err)
    assert f"pid {pid} (killed by signal 9, SIGKILL) died during level 1" in text
    assert "levels that finished (0..0) are kept in .partial_result" in text
    assert "__main__" not in text
    res = _assert_level_0_kept(err, {"address": None, "pid": pid, "signal": 9, "exit_code": None})
    # the partial result is an ordinary result: it saves, and the failure record survives the round trip
    store = vt.store.HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}")
    back = store.load_benchmark(res.save(store))
    assert back.meta["failure"] == res.meta["failure"] and len(back.requests) == PER_LEVEL


def test_a_killed_dask_worker_keeps_the_finished_level(realtime_sandbox: vt.Sandbox, stop: threading.Event) -> None:
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # dask warns about the port of a dashboard we do not start
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, host="127.0.0.1")
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        addrs = sorted(client.scheduler_info()["workers"])
        doomed = addrs[1]
        pid = client.run(os.getpid, workers=[doomed])[doomed]
        killed = _kill_in_level_1(realtime_sandbox, stop, lambda: pid)
        with pytest.raises(WorkerLostError) as ei:
            _run(realtime_sandbox, cluster=client)
    err = ei.value
    assert killed == [pid]
    assert err.workers == [LostWorker(address=doomed, pid=pid, signal=9, exit_code=None)]
    text = str(err)
    assert f"Dask worker {doomed} (pid {pid}) (killed by signal 9, SIGKILL) died during level 1" in text
    assert "(0..0) are kept in .partial_result" in text and "__main__" not in text
    res = _assert_level_0_kept(err, {"address": doomed, "pid": pid, "signal": 9, "exit_code": None})
    assert res.meta["cluster"]["workers"] == addrs and sorted(set(res.requests["worker"])) == [0, 1]


_UNGUARDED = """
import vultr_toolkit as vt

sb = vt.Sandbox(seed=0, inference={"time_scale": 0.05}).start()
vt.bench.run(sb, model="qwen3.8-27b", concurrency=2, requests=2, max_tokens=4, progress=False, workers=2)
"""


def test_the_main_guard_hint_stays_for_workers_that_never_started(tmp_path: Path) -> None:
    # The one case the hint is right about: a script without the guard re-runs itself in each spawned worker,
    # which then dies while starting (it tries to spawn workers of its own), before any level ran.
    script = tmp_path / "unguarded.py"
    script.write_text(_UNGUARDED)
    env = {**os.environ, "PYTHONPATH": str(Path(vt.__file__).parents[1])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env,
                          cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "died while starting" in proc.stderr and "if __name__ == '__main__':" in proc.stderr
    assert "WorkerLostError" not in proc.stderr
