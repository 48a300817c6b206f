"""Field report item 3, CLI: ``vultr-toolkit bench`` on SIGINT/SIGTERM stops the load, prints the finished levels
marked interrupted and exits 130. The sandbox runs in the test process, so its request log counts the load.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pandas as pd
import pytest

import vultr_toolkit as vt

PER_LEVEL = 6


def _chat_posts(sb: vt.Sandbox) -> int:
    log = sb.requests_log()
    return int(((log["method"] == "POST") & (log["path"] == "/v1/chat/completions")).sum())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_bench_signal_saves_finished_levels_and_stops(make_sandbox: Callable[..., vt.Sandbox],
                                                          sig: signal.Signals) -> None:
    sb = make_sandbox(rate_limit=None, inference={"time_scale": 1.0})
    env = {**os.environ, "VULTR_INFERENCE_URL": sb.inference_url, "VULTR_INFERENCE_API_KEY": sb.inference_api_key,
           "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("VULTR_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "vultr_toolkit.cli", "bench", "--model", "qwen3.8-27b",
                             "--concurrency", "1,2,2", "--requests", str(PER_LEVEL), "--max-tokens", "20",
                             "--format", "csv", "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (_chat_posts(sb) >= PER_LEVEL + 1 and sb.inference.active_streams() > 0):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    summary = pd.read_csv(io.StringIO(out))
    assert summary["level"].tolist() == [1.0]          # only level 0 finished; the cut level is not reported
    assert summary["requests"].tolist() == [PER_LEVEL]
    time.sleep(0.3)
    assert sb.inference.active_streams() == 0
    before = _chat_posts(sb)
    time.sleep(1.5)
    assert _chat_posts(sb) == before                   # no load continues
