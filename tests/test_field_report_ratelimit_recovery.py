"""Field report 12, item 13: the shared limiter returns to Valkey after an outage and stays conservative meanwhile.

Two processes on one Valkey-backed budget; the server is stopped for 2 s mid-run and restarted. The sandbox's
request log is the judge: no 1-s window above the configured rate — before, during and after the outage.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

from tests.plugins.servers import ValkeyServer, free_port
from tests.test_ratelimit_sandbox import max_in_window, served_times
from vultr_toolkit._errors import ConfigError
from vultr_toolkit._ratelimit import RedisRateLimiter
from vultr_toolkit.sandbox import Sandbox

RATE = 10
N = 35  # per process: ~7 s for the pair at RATE, the outage in the middle

_WORKER = textwrap.dedent("""
    import json, sys
    import vultr_toolkit as vt
    cfg = json.loads(sys.argv[1])
    with vt.Client(api_url=cfg["api_url"], api_key=cfg["api_key"], rate_limit=cfg["rate"],
                   limiter_url=cfg["limiter_url"]) as c:
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        sys.stdin.readline()
        for _ in range(cfg["n"]):
            c.management.get("/account")
        print(json.dumps(c.stats()["by_api"]["management"]["limiter"]))
""")


@pytest.mark.valkey
def test_two_processes_recover_the_shared_budget_after_an_outage(
        make_sandbox: Callable[..., Sandbox], private_valkey_server: ValkeyServer) -> None:
    sb = make_sandbox()
    cfg = json.dumps({"api_url": sb.api_url, "api_key": sb.api_key, "rate": RATE,
                      "limiter_url": private_valkey_server.url, "n": N})
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        time.sleep(1.5)
        private_valkey_server.stop()
        time.sleep(2.0)  # the outage of the field report
        private_valkey_server.start()
        outs = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    times = served_times(sb)
    assert len(times) == 2 * N
    assert max_in_window(times) <= RATE  # before, during (2 x 1/2 share) and after the outage
    assert (sb.requests_log()["status"] == 429).sum() == 0
    for out, _ in outs:
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["limiter"] == "redis", stats  # back on the shared budget, not stuck on the local fallback


def test_degraded_limiter_uses_a_conservative_share() -> None:
    lim = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", name="down", rate=20, burst=10)
    waits = [lim.reserve() for _ in range(6)]
    assert waits[:5] == [0.0] * 5 and waits[5] > 0  # burst 10 x 1/2 share, then paced
    assert lim.stats()["limiter"] == "redis-fallback-local"
    lim.close()


def test_degraded_share_out_of_range_is_config_error() -> None:
    with pytest.raises(ConfigError, match="degraded_share"):
        RedisRateLimiter("redis://127.0.0.1:1/0", name="x", rate=5, degraded_share=0)
