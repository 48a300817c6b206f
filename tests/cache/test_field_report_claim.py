"""Field report 12, item 6: a lost reply of the atomic take never loses values (claim-then-ack).

A loopback TCP proxy in front of the real Valkey forwards the take's EVALSHA and then closes the client's socket
instead of relaying the reply: the script ran, the client never heard back.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import vultr_toolkit as vt
from vultr_toolkit._errors import CacheError
from vultr_toolkit.cache import _LUA_ACK, _LUA_CLAIM, _LUA_MGET_AND_DELETE


class ReplyDropProxy:
    """Forward 127.0.0.1:<port> to the server; drop the reply of scripts whose SHA is in ``drop`` (budget-limited)."""

    def __init__(self, upstream_port: int, shas: tuple[str, ...]) -> None:
        self.upstream_port = upstream_port
        self.shas = [s.encode() for s in shas]
        self.budget = 0
        self.every = 0  # drop every n-th matching request (0 = use budget)
        self.seen = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._srv = socket.create_server(("127.0.0.1", 0))
        self.port = self._srv.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _should_drop(self, chunk: bytes) -> bool:
        if b"EVALSHA" not in chunk.upper() or not any(s in chunk for s in self.shas):
            return False
        with self._lock:
            self.seen += 1
            if self.every:
                drop = self.seen % self.every == 0
            else:
                drop = self.budget > 0
                self.budget -= drop
            self.dropped += drop
            return drop

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._srv.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            drop = threading.Event()
            threading.Thread(target=self._up, args=(client, server, drop), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, drop), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, drop: threading.Event) -> None:
        try:
            while chunk := client.recv(65536):
                if self._should_drop(chunk):
                    drop.set()
                server.sendall(chunk)
        except OSError:
            pass

    def _down(self, server: socket.socket, client: socket.socket, drop: threading.Event) -> None:
        try:
            while chunk := server.recv(65536):
                if drop.is_set():  # the script ran on the server; the client never hears of it
                    break
                client.sendall(chunk)
        except OSError:
            pass
        for s in (client, server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._stop = True
        self._srv.close()


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture
def proxy(valkey_url: str, valkey_server: object) -> Iterator[ReplyDropProxy]:
    import redis

    direct = redis.Redis.from_url(valkey_url)
    # Loaded up front: a NOSCRIPT round trip must not eat the drop.
    for script in (_LUA_CLAIM, _LUA_ACK, _LUA_MGET_AND_DELETE):
        direct.script_load(script)
    direct.close()
    port = int(valkey_url.rsplit(":", 1)[1].split("/")[0])
    p = ReplyDropProxy(port, (_sha(_LUA_CLAIM), _sha(_LUA_ACK), _sha(_LUA_MGET_AND_DELETE)))
    yield p
    p.close()


def _fill(cache: vt.Cache, n: int) -> dict[str, int]:
    want = {f"job:{i}": i for i in range(n)}
    for k, v in want.items():
        cache.set(k, v)
    return want


def test_lost_reply_of_take_loses_nothing(valkey_url: str, proxy: ReplyDropProxy) -> None:
    cache = vt.Cache(f"redis://127.0.0.1:{proxy.port}/0", namespace="claim1")
    want = _fill(cache, 100)
    proxy.budget = 1
    got = cache.mget_and_delete(list(want))  # the first reply is lost; the replay returns the same claim
    assert proxy.dropped == 1
    proxy.budget = 0
    assert dict(zip(want, got, strict=True)) == want
    assert cache.restore_expired_claims() == 0 and cache.mget_and_delete(list(want)) == [None] * 100
    cache.close()


def test_take_at_ten_percent_reply_loss_delivers_once_or_restores(valkey_url: str, proxy: ReplyDropProxy) -> None:
    cache = vt.Cache(f"redis://127.0.0.1:{proxy.port}/0", namespace="claim2")
    want = _fill(cache, 2000)
    proxy.every = 10
    delivered: list[int] = []
    failed = 0
    keys = list(want)
    for i in range(0, len(keys), 20):
        try:
            delivered += [v for v in cache.mget_and_delete(keys[i:i + 20], claim_ttl=0.2) if v is not None]
        except CacheError:
            failed += 1
    assert proxy.dropped >= 20  # claims and acks (200+ scripts, every 10th reply lost)
    time.sleep(0.3)  # let any un-acked claim expire (not a timing assert: restore is what is checked)
    proxy.every = 0
    cache.restore_expired_claims(limit=10_000)
    restored = [v for v in cache.mget_and_delete(keys) if v is not None]
    assert len(delivered) == len(set(delivered))  # nothing delivered twice
    assert sorted(delivered + restored) == sorted(want.values())  # nothing lost
    cache.close()


def test_unreachable_claim_is_recoverable(valkey_url: str, proxy: ReplyDropProxy) -> None:
    cache = vt.Cache(f"redis://127.0.0.1:{proxy.port}/0", namespace="claim3")
    want = _fill(cache, 50)
    proxy.budget = 2  # the call and its replay both lose their reply
    with pytest.raises(CacheError, match="restore_expired_claims"):
        cache.claim(list(want), ttl=0.1)
    assert cache.mget_and_delete(list(want)) == [None] * 50  # claimed, not yet back
    time.sleep(0.2)
    assert cache.restore_expired_claims() == 50
    assert cache.mget_and_delete(list(want)) == list(want.values())
    cache.close()


@pytest.mark.parametrize("backend", ["memory", "valkey"])
def test_claim_context_manager_acks_on_success_and_keeps_on_error(backend: str, valkey_url: str) -> None:
    cache = vt.Cache(valkey_url if backend == "valkey" else None, namespace=f"claim4{backend}")
    cache.clear()
    cache.set("a", 1, ttl=600)
    cache.set("b", 2)
    with cache.claim(["a", "b", "c"], ttl=0.1) as claim:
        assert claim.values == [1, 2, None]
    cache.set("a", 10)
    with pytest.raises(RuntimeError), cache.claim(["a"], ttl=0.1) as claim2:
        assert claim2.values == [10]
        raise RuntimeError("worker crashed")
    assert cache.get("a") is None
    time.sleep(0.2)
    cache.set("b", 99)  # written since: keeps its newer value; only "a" (from the un-acked claim) comes back
    assert cache.restore_expired_claims() == 1
    assert cache.get("a") == 10 and cache.get("b") == 99
    assert cache.restore_expired_claims() == 0
    cache.clear()


def test_claim_bad_ttl_is_config_error() -> None:
    with pytest.raises(vt.ConfigError, match="ttl"):
        vt.Cache(namespace="claim5").claim(["x"], ttl=0)
