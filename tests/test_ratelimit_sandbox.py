"""The limiter measured where it matters: every 1-s window of the sandbox's request log stays at or under the
configured rate — for one client, two clients, sync and async clients mixed, and two processes sharing a
Valkey/Redis-backed budget."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import pytest

import vultr_toolkit as vt
from vultr_toolkit._ratelimit import RedisRateLimiter
from vultr_toolkit.sandbox import Sandbox

RATE = 10  # small, to keep the tests short: 40 requests take ~3.5 s


def served_times(sb: Sandbox, path: str = "/v2/account") -> list[float]:
    log = sb.requests_log()
    return sorted(log.loc[log["path"] == path, "t_mono"].tolist())


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of requests the server stamped within any half-open window [t, t + window)."""
    j = best = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def assert_paced(sb: Sandbox, n: int, rate: int = RATE) -> None:
    times = served_times(sb)
    assert len(times) == n
    assert max_in_window(times) <= rate
    assert (sb.requests_log()["status"] == 429).sum() == 0
    # Not paced absurdly slowly either (a loose bound: the ideal is (n - rate) / rate windows of 1.1 s).
    assert times[-1] - times[0] <= 2 * (n - rate) / rate * 1.1 + 1.0


def test_one_client_keeps_every_window_under_the_rate(sandbox: Sandbox) -> None:
    with vt.Client(sandbox.settings(rate_limit=RATE)) as c:
        for _ in range(40):
            c.management.get("/account")
        assert c.stats()["limiter_waits"] > 0
    assert_paced(sandbox, 40)


def test_two_clients_share_one_budget(sandbox: Sandbox) -> None:
    clients = [vt.Client(sandbox.settings(rate_limit=RATE)) for _ in range(2)]

    def work(c: vt.Client) -> None:
        for _ in range(20):
            c.management.get("/account")

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    assert_paced(sandbox, 40)


def test_sync_and_async_clients_mixed(sandbox: Sandbox) -> None:
    sync_client = vt.Client(sandbox.settings(rate_limit=RATE))
    go = threading.Event()

    def sync_work() -> None:
        go.wait(10)
        for _ in range(14):
            sync_client.management.get("/account")

    async def async_work() -> None:
        async with vt.AsyncClient(sandbox.settings(rate_limit=RATE)) as ac:
            # Warm both clients up (thread start, first connections) outside the measured stream: a cold start on
            # a loaded 2-core machine can delay one request by more than the limiter's jitter margin.
            sync_client.management.get("/account")
            await ac.management.get("/account")
            sandbox.clear_requests_log()
            go.set()
            # Concurrent tasks on one loop, while a thread drives the sync client.
            await asyncio.gather(*(ac.management.get("/account") for _ in range(26)))

    t = threading.Thread(target=sync_work)
    t.start()
    try:
        asyncio.run(async_work())
    finally:
        go.set()
        t.join()
        sync_client.close()
    assert_paced(sandbox, 40)


_WORKER = textwrap.dedent("""
    import json, sys
    import vultr_toolkit as vt
    cfg = json.loads(sys.argv[1])
    with vt.Client(api_url=cfg["api_url"], api_key=cfg["api_key"], rate_limit=cfg["rate"],
                   limiter_url=cfg["limiter_url"]) as c:
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        sys.stdin.readline()  # start together
        for _ in range(cfg["n"]):
            c.management.get("/account")
        print(json.dumps(c.stats()["by_api"]["management"]["limiter"]))
""")


@pytest.mark.valkey
def test_two_processes_share_a_redis_backed_budget(make_sandbox: Callable[..., Sandbox], valkey_url: str) -> None:
    sb = make_sandbox()
    cfg = json.dumps({"api_url": sb.api_url, "api_key": sb.api_key, "rate": RATE, "limiter_url": valkey_url,
                      "n": 20})
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["limiter"] == "redis" and stats["limiter_grants"] == 20
    # The combined stream, as the server saw it: never more than RATE in any second.
    assert_paced(sb, 40)


def test_redis_limiter_falls_back_to_local_when_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    from tests.plugins.servers import free_port

    lim = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", name="nowhere", rate=5, burst=2,
                           degraded_share=1.0)  # the whole rate locally (default: a conservative 1/2)
    with caplog.at_level(logging.WARNING, logger="vultr_toolkit.ratelimit"):
        waits = [lim.reserve() for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # still paced, locally
    assert lim.stats()["limiter"] == "redis-fallback-local"
    assert sum("falling back" in r.message for r in caplog.records) == 1


@pytest.mark.valkey
def test_async_client_on_the_redis_backed_limiter(make_sandbox: Callable[..., Sandbox], valkey_url: str) -> None:
    """The async path reserves in a worker thread (redis-py is blocking) and still paces the server's view."""
    sb = make_sandbox()

    async def main() -> dict:
        async with vt.AsyncClient(sb.settings(rate_limit=RATE, limiter_url=valkey_url)) as ac:
            await asyncio.gather(*(ac.management.get("/account") for _ in range(25)))
            return dict(ac.stats()["by_api"]["management"]["limiter"])

    stats = asyncio.run(main())
    assert stats["limiter"] == "redis" and stats["limiter_grants"] == 25 and stats["limiter_waits"] > 0
    assert_paced(sb, 25)
