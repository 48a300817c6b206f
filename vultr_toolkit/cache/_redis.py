"""The redis-py backends (Valkey or Redis): the sync store behind ``Cache(url)``, the asyncio store behind
``aget_or_compute``, and the URL checks both share.

Both connect with the same fail-fast options (:func:`_redis_client_kwargs`) and map every backend failure to
:class:`~vultr_toolkit.cache._ops._BackendDown` (redacted); the op dispatch is the one table in
:mod:`vultr_toolkit.cache._ops`.

>>> from vultr_toolkit.cache._redis import _normalize_url
>>> _normalize_url("valkey://127.0.0.1:6379/0")
'redis://127.0.0.1:6379/0'
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._errors import ConfigError
from .._redact import check_url_userinfo, redact, redact_url, register_url_passwords
from .._tls import check_redis_url
from ._lua import (
    _LUA_ACK,
    _LUA_CLAIM,
    _LUA_GET_OR_LOCK,
    _LUA_MGET_AND_DELETE,
    _LUA_RECLAIM,
    _LUA_RESTORE,
    _LUA_SET_TAGGED,
    _LUA_UNLOCK,
)
from ._ops import _BackendDown, _GetOrLock, _Op, _Put, _TryLock, _Unlock, run_op

_SCAN_BATCH = 500


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.RedisError, OSError)


def _redis_client_kwargs(socket_timeout: float, retry_class: Any) -> dict[str, Any]:
    """The connection options of both stores; ``retry_class`` is redis-py's sync or asyncio ``Retry``."""
    from redis.backoff import FullJitterBackoff

    # A cache must fail fast: redis-py 8's default retries 10x with backoff, turning an outage into seconds
    # of latency per call. One quick retry covers a stale pooled connection after a server restart.
    return {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout,
            "retry": retry_class(FullJitterBackoff(cap=0.05, base=0.005), 1)}


def _fail(exc: BaseException) -> _BackendDown:
    """A backend failure as the stores report it: the plan and the facade see only :class:`_BackendDown`."""
    return _BackendDown(redact(f"{type(exc).__name__}: {exc}"))


class _RedisStore:
    """The redis-py backend (sync). Every method maps backend failures to :class:`_BackendDown`."""

    def __init__(self, url: str, *, socket_timeout: float, client: Any = None) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._url = url
        # Typed Any: redis-py's own annotations and the types-redis stubs disagree; our wrappers give the types.
        self.client: Any = client or redis.Redis.from_url(check_redis_url(url),
                                                          **_redis_client_kwargs(socket_timeout, Retry))
        pool = self.client.connection_pool
        # mget_and_delete's connection: retry OFF, so a take whose reply was lost is never replayed.
        self.noretry: Any = redis.Redis(
            connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class,
                **{**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)},
            )
        )
        self._errors = _redis_errors()
        self._local = threading.local()
        self._get_or_lock: Any = self.client.register_script(_LUA_GET_OR_LOCK)
        self._set_tagged = self.client.register_script(_LUA_SET_TAGGED)
        self._unlock = self.client.register_script(_LUA_UNLOCK)
        self._mget_del = self.client.register_script(_LUA_MGET_AND_DELETE)
        self._claim = self.client.register_script(_LUA_CLAIM)
        self._ack = self.client.register_script(_LUA_ACK)
        self._restore = self.client.register_script(_LUA_RESTORE)
        self._reclaim = self.client.register_script(_LUA_RECLAIM)

    def _lean(self, *args: Any) -> Any:
        """One command on this thread's own connection: the hit path's one round trip, without redis-py's
        per-command machinery (pool checkout, retry wrapper, observability hooks), which costs more than the
        trip itself on loopback (measured: 48 µs -> 19 µs per GET). Only for idempotent commands: on any error
        the connection is dropped and the caller retries once through the regular client (which reconnects,
        e.g. after a server restart, and loads scripts on NOSCRIPT)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():  # never share a socket with a forked parent
            pool = self.client.connection_pool
            conn = local.conn = pool.connection_class(**pool.connection_kwargs)
            local.pid = os.getpid()
        try:
            conn.send_command(*args)
            return conn.read_response()
        except BaseException:
            # A half-read reply would poison every later read on this socket: always drop it.
            conn.disconnect()
            local.conn = None
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._lean("GET", key)
        except self._errors:
            pass
        try:
            return self.client.get(key)
        except self._errors as exc:
            raise _fail(exc) from None

    def get_or_lock(self, op: _GetOrLock, prefix: str) -> tuple[int, bytes | None]:
        args = (prefix, op.token, op.lock_ms)
        try:  # idempotent per token (see the script), so the retry below is safe
            res = self._lean("EVALSHA", self._get_or_lock.sha, 2, op.key, op.lock_key, *args)
        except self._errors:
            try:
                res = self._get_or_lock(keys=(op.key, op.lock_key), args=args)
            except self._errors as exc:
                raise _fail(exc) from None
        return int(res[0]), (res[1] if len(res) > 1 else None)

    def try_lock(self, op: _TryLock) -> bool:
        try:
            return bool(self.client.set(op.lock_key, op.token, nx=True, px=op.lock_ms))
        except self._errors as exc:
            raise _fail(exc) from None

    def unlock(self, op: _Unlock) -> None:
        try:
            self._unlock(keys=(op.lock_key,), args=(op.token,))
        except self._errors as exc:
            raise _fail(exc) from None

    def put(self, op: _Put, prefix: str) -> None:
        try:
            if op.tags:
                self._set_tagged(keys=(op.key,), args=(prefix, op.ttl_ms, op.body, *op.tags))
            else:
                self.client.set(op.key, b"\n" + op.body, px=op.ttl_ms or None)
        except self._errors as exc:
            raise _fail(exc) from None

    def delete(self, keys: Sequence[str]) -> int:
        try:
            return int(self.client.unlink(*keys)) if keys else 0
        except self._errors as exc:
            raise _fail(exc) from None

    def mget_and_delete(self, keys: Sequence[str], prefix: str) -> list[bytes | None]:
        try:
            return list(self._mget_del(keys=keys, args=(prefix,), client=self.noretry))
        except self._errors as exc:
            raise _fail(exc) from None

    def claim(self, claim_key: str, keys: Sequence[str], prefix: str, ttl_ms: int) -> list[bytes | None]:
        zset = claim_key.rsplit(":", 1)[0]
        try:  # no-retry connection: the caller replays with the same claim id, which the script makes idempotent
            return list(self._claim(keys=[claim_key, zset, *keys], args=(prefix, claim_key.rsplit(":", 1)[1],
                                                                            ttl_ms), client=self.noretry))
        except self._errors as exc:
            raise _fail(exc) from None

    def ack(self, claim_key: str) -> int:
        zset, cid = claim_key.rsplit(":", 1)
        try:
            return int(self._ack(keys=[claim_key, zset], args=(cid,)))
        except self._errors as exc:
            raise _fail(exc) from None

    def restore_claims(self, claim_prefix: str, limit: int) -> int:
        try:
            return int(self._restore(keys=[claim_prefix.rstrip(":")], args=(claim_prefix, limit)))
        except self._errors as exc:
            raise _fail(exc) from None

    def incr(self, key: str) -> int:
        try:
            return int(self.client.incr(key))
        except self._errors as exc:
            raise _fail(exc) from None

    def _scan(self, pattern: str) -> Iterable[list[Any]]:
        batch: list[Any] = []
        for k in self.client.scan_iter(match=pattern, count=_SCAN_BATCH):
            batch.append(k)
            if len(batch) >= _SCAN_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def clear(self, prefix: str) -> int:
        try:
            return sum(int(self.client.unlink(*batch)) for batch in self._scan(_glob_escape(prefix) + "*"))
        except self._errors as exc:
            raise _fail(exc) from None

    def reclaim(self, value_prefixes: Sequence[str], tagv_prefix: str) -> int:
        try:
            return sum(
                int(self._reclaim(keys=batch, args=(tagv_prefix,)))
                for p in value_prefixes
                for batch in self._scan(_glob_escape(p) + "*")
            )
        except self._errors as exc:
            raise _fail(exc) from None

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except self._errors as exc:
            raise _fail(exc) from None

    def describe(self) -> str:
        return redact_url(self._url)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:  # other threads' fast connections close when their threads end
            conn.disconnect()
            self._local.conn = None
        self.client.close()
        self.noretry.close()


class _AsyncRedisStore:
    """The redis-py asyncio backend used by :meth:`Cache.aget_or_compute` (one per event loop)."""

    def __init__(self, url: str, *, socket_timeout: float) -> None:
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry

        self.client: Any = aredis.Redis.from_url(check_redis_url(url), **_redis_client_kwargs(socket_timeout, Retry))
        self._errors = _redis_errors()
        self._get_or_lock = self.client.register_script(_LUA_GET_OR_LOCK)
        self._set_tagged = self.client.register_script(_LUA_SET_TAGGED)
        self._unlock = self.client.register_script(_LUA_UNLOCK)

    async def run(self, op: _Op, prefix: str) -> Any:
        """Perform one op of the plan (dispatched by the shared table in ``_ops``), failures as _BackendDown."""
        try:
            return await run_op(self, op, prefix)
        except self._errors as exc:
            raise _fail(exc) from None

    # The op methods, named and shaped as _RedisStore's (the dispatch table calls either); coroutines here.
    async def get(self, key: str) -> bytes | None:
        return await self.client.get(key)

    async def get_or_lock(self, op: _GetOrLock, prefix: str) -> tuple[int, bytes | None]:
        res = await self._get_or_lock(keys=(op.key, op.lock_key), args=(prefix, op.token, op.lock_ms))
        return int(res[0]), (res[1] if len(res) > 1 else None)

    async def try_lock(self, op: _TryLock) -> bool:
        return bool(await self.client.set(op.lock_key, op.token, nx=True, px=op.lock_ms))

    async def unlock(self, op: _Unlock) -> None:
        await self._unlock(keys=(op.lock_key,), args=(op.token,))

    async def put(self, op: _Put, prefix: str) -> None:
        if op.tags:
            await self._set_tagged(keys=(op.key,), args=(prefix, op.ttl_ms, op.body, *op.tags))
        else:
            await self.client.set(op.key, b"\n" + op.body, px=op.ttl_ms or None)

    async def delete(self, keys: Sequence[str]) -> int:
        return int(await self.client.unlink(*keys)) if keys else 0


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _normalize_url(url: str) -> str:
    parts = urlsplit(check_url_userinfo(url, "Cache url"))
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"Cache url must be redis://, rediss://, valkey:// or valkeys:// (got {redact_url(url)!r}); "
            "use Cache() for the in-process backend"
        )
    register_url_passwords(url)
    # Checked here, before any connection: redis-py would raise a bare ValueError later (or at first use).
    try:
        parts.port  # noqa: B018 - property access validates the port
    except ValueError:
        raise ConfigError(
            f"Cache url has an invalid port in {redact_url(url)!r}; use host:port with a number 1-65535, "
            "e.g. valkey://127.0.0.1:6379/0"
        ) from None
    db = parts.path.lstrip("/")
    if scheme != "unix" and db and not db.isdigit():
        raise ConfigError(
            f"Cache url database must be a number (got {db!r} in {redact_url(url)!r}); "
            "e.g. valkey://127.0.0.1:6379/0"
        )
    return urlunsplit((scheme, *parts[1:]))

