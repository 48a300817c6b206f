"""Field report item 3: interrupting a benchmark stops the load (counted at the emulator) and keeps finished levels.

A watcher thread delivers a real KeyboardInterrupt to the main thread (``_thread.interrupt_main``) once the second
level has started; the sandbox's request log and the emulator's active-stream count show whether load went on.
"""

from __future__ import annotations

import _thread
import asyncio
import sys
import threading
import time

import pytest

import vultr_toolkit as vt
from vultr_toolkit.bench.driver import BenchmarkInterruptedWarning
from vultr_toolkit.bench.result import BenchmarkResult

MODEL = "qwen3.8-27b"
PER_LEVEL = 6       # max_tokens=20 at ~20 ms/token: level 0 (1 user) ~3 s, levels 1-2 (2 users) ~1.5 s each


def _chat_posts(sb: vt.Sandbox) -> int:
    log = sb.requests_log()
    return int(((log["method"] == "POST") & (log["path"] == "/v1/chat/completions")).sum())


def _interrupt_in_level_1(sb: vt.Sandbox, stop: threading.Event) -> None:
    def watch() -> None:
        while not stop.is_set():
            if _chat_posts(sb) >= PER_LEVEL + 1 and sb.inference.active_streams() > 0:
                _thread.interrupt_main()
                return
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()


def _run(sb: vt.Sandbox, workers: int | None = None) -> BenchmarkResult:
    return vt.bench.run(sb, model=MODEL, concurrency=[1, 2, 2], requests=PER_LEVEL, max_tokens=20,
                        progress=False, workers=workers)


def _assert_load_stopped(sb: vt.Sandbox) -> None:
    deadline = time.monotonic() + 0.5                 # grace for the server to see the sockets close
    while sb.inference.active_streams() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sb.inference.active_streams() == 0         # every in-flight stream was closed
    before = _chat_posts(sb)
    time.sleep(1.5)                                   # the rest of the plan would send ~7 requests in ~2.5 s
    assert _chat_posts(sb) == before


def _assert_partial(res: BenchmarkResult) -> None:
    assert res.meta["interrupted"] is True
    assert res.levels["level_index"].tolist() == [0]  # the level cut midway is dropped, not reported complete
    assert len(res.requests) == PER_LEVEL and set(res.requests["status"]) == {"ok"}


def test_script_interrupt_stops_load_and_reraises_with_partial(realtime_sandbox: vt.Sandbox, stop: threading.Event
                                                               ) -> None:
    _interrupt_in_level_1(realtime_sandbox, stop)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as ei:
        _run(realtime_sandbox)
    assert time.monotonic() - t0 < 15                 # did not run the plan to the end first
    _assert_load_stopped(realtime_sandbox)
    _assert_partial(ei.value.partial_result)          # type: ignore[attr-defined]


def test_interactive_interrupt_returns_partial_with_warning(realtime_sandbox: vt.Sandbox, stop: threading.Event,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)   # what IPython / python -i set
    _interrupt_in_level_1(realtime_sandbox, stop)
    with pytest.warns(BenchmarkInterruptedWarning, match="1 completed level"):
        res = _run(realtime_sandbox)
    _assert_load_stopped(realtime_sandbox)
    _assert_partial(res)


def test_workers_interrupt_kills_worker_processes(realtime_sandbox: vt.Sandbox, stop: threading.Event) -> None:
    _interrupt_in_level_1(realtime_sandbox, stop)
    with pytest.raises(KeyboardInterrupt) as ei:
        _run(realtime_sandbox, workers=2)
    _assert_load_stopped(realtime_sandbox)
    _assert_partial(ei.value.partial_result)          # type: ignore[attr-defined]


def test_arun_cancel_stops_in_flight_requests(realtime_sandbox: vt.Sandbox) -> None:
    async def main() -> None:
        task = asyncio.create_task(vt.bench.arun(realtime_sandbox, model=MODEL, concurrency=[2], requests=40,
                                                 max_tokens=20, progress=False))
        while realtime_sandbox.inference.active_streams() == 0:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    _assert_load_stopped(realtime_sandbox)
