"""Cache under failure: server restart mid-test, a lost reply to mget_and_delete, secrets in errors and logs.

These need a real server to break, so they run on Valkey only (the in-process backend cannot fail this way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.plugins.servers import HOST, ValkeyServer
from vultr_toolkit import CacheError
from vultr_toolkit.cache import Cache


def test_server_restart_mid_test_degrades_then_recovers(private_valkey_server: ValkeyServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    srv = private_valkey_server
    cache = Cache(srv.url, namespace="restart", error_cooldown=0.05, socket_timeout=1)
    calls: list[int] = []

    def fn() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("k", fn, ttl=60) == 1
    assert cache.get_or_compute("k", fn, ttl=60) == 1  # hit

    srv.stop()
    caplog.set_level(logging.INFO, logger="vultr_toolkit.cache")
    values = []
    for _ in range(5):
        values.append(cache.get_or_compute("k", fn, ttl=60))  # never raises: fn's value instead
        time.sleep(0.06)  # past the cooldown: each call really retries the dead server
    assert values == [2, 3, 4, 5, 6]
    assert asyncio.run(cache.aget_or_compute("k", _async_value, ttl=60)) == "async-fn"
    with pytest.raises(CacheError):
        cache.get("k")
    with pytest.raises(CacheError):
        cache.mget_and_delete(["k"])
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1, "an outage is logged once, not per call"
    assert cache.stats().errors >= 5

    srv.start()  # same port, empty (no persistence)
    time.sleep(0.1)
    assert cache.get_or_compute("k", fn, ttl=60) == 7  # recovered: computed and stored again
    assert cache.get_or_compute("k", fn, ttl=60) == 7  # ... and now a hit
    assert cache.get("k") == 7
    assert any("recovered" in r.getMessage() for r in caplog.records)
    cache.close()


async def _async_value() -> str:
    return "async-fn"


# ---- a lost reply to mget_and_delete (T14) ---------------------------------------------------------------------------


class DroppingProxy:
    """A loopback TCP proxy to a server that, when armed, drops the next reply and closes the connection.

    That is the hazard of retrying a non-idempotent take: the server ran it, the client never saw the answer.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.armed = threading.Event()
        self._srv = socket.create_server((HOST, 0))
        self.port = self._srv.getsockname()[1]
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        self._srv.settimeout(0.1)
        while not self._stop:
            try:
                client, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection((HOST, self.upstream_port))
            t = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        with client, upstream:
            while not self._stop:
                ready, _, _ = select.select([client, upstream], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is upstream and self.armed.is_set():
                        self.armed.clear()
                        return  # the reply is lost; both sockets close
                    (upstream if s is client else client).sendall(data)

    def close(self) -> None:
        self._stop = True
        self._srv.close()
        self._accept.join(2)
        for t in self._threads:
            t.join(2)


@pytest.fixture
def proxy(valkey_server: ValkeyServer, valkey_url: str) -> Iterator[DroppingProxy]:
    p = DroppingProxy(valkey_server.port)
    try:
        yield p
    finally:
        p.close()


def test_mget_and_delete_raises_on_a_lost_reply_instead_of_losing_values(proxy: DroppingProxy,
                                                                         valkey_server: ValkeyServer) -> None:
    cache = Cache(f"redis://{HOST}:{proxy.port}/0", namespace="take")
    cache.mget_and_delete(["warm-up"], claim_ttl=None)  # loads the script, opens the connection
    cache.set("a", "A")
    cache.set("b", "B")
    proxy.armed.set()
    with pytest.raises(CacheError, match="mget_and_delete"):
        cache.mget_and_delete(["a", "b"], claim_ttl=None)  # the one-trip take; the default claims (see below)
    direct = valkey_server.client()
    try:
        # The server did run the take: the values are gone. Raising is the only honest answer.
        assert direct.exists(cache.prefix + "k:a", cache.prefix + "k:b") == 0
    finally:
        direct.close()
    cache.close()


def test_a_retrying_client_would_silently_lose_the_values(proxy: DroppingProxy, valkey_server: ValkeyServer) -> None:
    # The counterfactual behind "retry OFF": redis-py's default retry replays the take and returns nil.
    from vultr_toolkit.cache import _LUA_MGET_AND_DELETE

    retrying = redis.Redis(host=HOST, port=proxy.port)  # redis-py 8 default: Retry(..., retries=10)
    take = retrying.register_script(_LUA_MGET_AND_DELETE)
    take(keys=["warm-up"], args=["p:"])
    retrying.set("x", "\nvalue")
    proxy.armed.set()
    assert take(keys=["x"], args=["p:"]) == [None]  # the value existed and is lost, without an error
    retrying.close()


# ---- secrets -------------------------------------------------------------------------------------------------------


def test_url_password_never_in_repr_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    canary = f"sk-CANARY-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    with ValkeyServer(password=canary) as srv:
        cache = Cache(srv.url, namespace="secret")
        assert canary in srv.url
        assert cache.get_or_compute("k", lambda: 1, ttl=60) == 1  # the password works
        assert canary not in repr(cache) and canary not in cache.backend
        cache.close()

        wrong = Cache(srv.url.replace(canary, canary + "-wrong"), namespace="secret", error_cooldown=0)
        assert wrong.get_or_compute("k", lambda: 2, ttl=60) == 2  # auth failure degrades like an outage
        with pytest.raises(CacheError) as info:
            wrong.get("k")
        rendered = [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value)),
                    repr(wrong), caplog.text]
        wrong.close()
    dead_port = srv.port
    down = Cache(f"valkey://:{canary}@{HOST}:{dead_port}/0", namespace="secret")
    with pytest.raises(CacheError) as info2:
        down.ping()
    rendered += [str(info2.value), repr(down), caplog.text]
    down.close()
    for text in rendered:
        assert canary not in text


def test_bad_url_is_a_config_error_without_the_password() -> None:
    canary = f"sk-CANARY-{uuid.uuid4().hex}"
    with pytest.raises(ValueError) as info:
        Cache(f"http://:{canary}@{HOST}:1/0")
    assert canary not in str(info.value)
    with contextlib.suppress(Exception):
        Cache(f"memcached://{HOST}")


def test_a_lost_get_reply_never_poisons_the_connection(proxy: DroppingProxy) -> None:
    # The hit path's GET runs on a per-thread connection; a lost reply must drop it, and the read is retried
    # on a fresh connection (GET is idempotent), so the caller still gets the right value — and so do later reads.
    cache = Cache(f"redis://{HOST}:{proxy.port}/0", namespace="fastget")
    cache.set("a", "A")
    cache.set("b", "B")
    assert cache.get("a") == "A"
    proxy.armed.set()
    assert cache.get_or_compute("a", lambda: "recomputed", ttl=60) == "A"
    assert [cache.get("b"), cache.get("a"), cache.get("b")] == ["B", "A", "B"]
    assert cache.stats().computes == 0
    cache.close()


def test_a_lost_reply_after_taking_the_lock_does_not_make_us_wait_for_ourselves(proxy: DroppingProxy) -> None:
    # tags= goes straight to the Lua get-or-lock; its first reply (lock taken) is lost, the retry must see our own
    # lock as ours — otherwise we would wait lock_wait for ourselves and compute uncached.
    cache = Cache(f"redis://{HOST}:{proxy.port}/0", namespace="ownlock", lock_wait=3)
    for _ in range(2):  # script loaded (first call), then the per-thread connection open and idle (second)
        cache.get_or_compute("warm", lambda: 0, ttl=60, tags=["t"])
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return "v"

    proxy.armed.set()
    assert cache.get_or_compute("k", compute, ttl=60, tags=["t"]) == "v"
    assert calls == [1]
    s = cache.stats()
    assert (s.lock_waits, s.lock_timeouts, s.uncached_computes) == (0, 0, 0)
    assert cache.get("k") == "v"
    cache.close()
