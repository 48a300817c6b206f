"""The ``Cache`` facade (``vt.Cache``): keys, TTLs, tags, the public methods and the get_or_compute drivers.

The algorithm is the pure plan in :mod:`vultr_toolkit.cache._ops`; the stores are :mod:`~vultr_toolkit.cache._memory`
and :mod:`~vultr_toolkit.cache._redis`; values go through :mod:`~vultr_toolkit.cache._codec`. The package
docstring (:mod:`vultr_toolkit.cache`) explains how it works.

>>> from vultr_toolkit.cache import Cache
>>> with Cache(namespace="doc-core") as cache:
...     cache.set("k", {"n": 1}, ttl=60)
...     cache.get("k"), cache.backend
({'n': 1}, 'memory')
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from hashlib import sha256
from typing import Any, TypeVar

from .._errors import CacheError, ConfigError
from ._codec import InvalidEntry, decode_entry, encode_entry
from ._memory import _MEMORY, _MemoryStore
from ._ops import (
    _COMPUTE,
    _MISS,
    _NOT_FETCHED,
    BUSY,
    HIT,
    _BackendDown,
    _Get,
    _GetOrLock,
    _Put,
    _Sleep,
    get_or_compute_plan,
    run_op,
)
from ._redis import _AsyncRedisStore, _normalize_url, _RedisStore
from ._stats import CacheStats, _Counters

__all__ = ["Cache", "CacheStats", "Claim"]

log = logging.getLogger("vultr_toolkit.cache")
T = TypeVar("T")

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAX_PLAIN_KEY = 200  # longer keys are hashed (Valkey docs: avoid very long keys)


# ---- the facade -----------------------------------------------------------------------------------------------------


class Claim:
    """Values taken by :meth:`Cache.claim`: ``.values`` (in key order, None where missing), ``.ack()`` to drop them.

    As a context manager it acks when the block ends without an exception; on an exception it leaves the claim,
    so :meth:`Cache.restore_expired_claims` returns the values to their keys after the claim's ttl.

    Example::

        >>> c = Cache(namespace="doc")
        >>> c.set("q:1", 1)
        >>> claim = c.claim(["q:1"])
        >>> claim.values, claim.ack()
        ([1], None)
    """

    def __init__(self, cache: Cache, cid: str, keys: list[str], values: list[Any]) -> None:
        self.id = cid
        self.keys = keys
        self.values = values
        self._cache = cache
        self.acked = not keys

    def ack(self) -> None:
        """Drop the claimed values for good (idempotent)."""
        if not self.acked:
            self._cache._ack(self.id)
            self.acked = True

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.ack()

    def __repr__(self) -> str:
        return f"Claim(id={self.id!r}, keys={len(self.keys)}, acked={self.acked})"



class Cache:
    """A namespaced cache on Valkey/Redis (``url``) or in process (``url=None``), with the same semantics.

    Args:
        url: ``redis://``, ``rediss://``, ``valkey://`` or ``valkeys://`` URL; None for the in-process backend.
        namespace: keys live under ``vtk:<namespace>:`` (letters, digits, ``_.-``).
        default_ttl: seconds for entries stored without an explicit ``ttl`` (None = no expiry).
        lock_ttl: seconds a compute lock lives if its holder dies (the holder deletes it when done).
        lock_wait: seconds a waiter polls before computing uncached.
        socket_timeout: seconds for connect and reads on the redis connection.
        error_cooldown: seconds ``get_or_compute`` skips the backend after it failed.
        cluster_hash_tag: write the prefix as ``vtk:{<namespace>}:`` (one Redis Cluster slot per namespace).
        client: an existing ``redis.Redis`` to use instead of ``url`` (sync paths only).
        rng: a ``random.Random`` for XFetch and jitter (seed it in tests).

    Example::

        >>> cache = Cache(namespace="doc")
        >>> cache.get_or_compute("answer", lambda: 42, ttl=60)
        42
        >>> cache.get("answer")
        42
    """

    def __init__(
        self,
        url: str | None = None,
        namespace: str = "vtk",
        *,
        default_ttl: float | None = None,
        lock_ttl: float = 10.0,
        lock_wait: float = 5.0,
        socket_timeout: float = 2.0,
        error_cooldown: float = 1.0,
        cluster_hash_tag: bool = False,
        client: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        if not _NAMESPACE_RE.match(namespace):
            raise ConfigError(f"Cache namespace must match {_NAMESPACE_RE.pattern} (got {namespace!r})")
        for name, value in (("lock_ttl", lock_ttl), ("lock_wait", lock_wait), ("socket_timeout", socket_timeout)):
            if not value > 0:
                raise ConfigError(f"Cache {name} must be > 0 (got {value!r})")
        if default_ttl is not None and not default_ttl > 0:
            raise ConfigError(f"Cache default_ttl must be > 0 or None (got {default_ttl!r})")
        self.namespace = namespace
        self.prefix = f"vtk:{{{namespace}}}:" if cluster_hash_tag else f"vtk:{namespace}:"
        self._tagv_prefix = self.prefix + "tagv:"
        self.default_ttl = default_ttl
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_wait
        self.error_cooldown = error_cooldown
        self._socket_timeout = socket_timeout
        self._rng = rng or random.Random()
        self._stats = _Counters()
        self._down_until = 0.0
        self._down_logged = False
        self._url: str | None = None
        self._store: _MemoryStore | _RedisStore
        if url is None and client is None:
            self._store = _MEMORY
        else:
            self._url = _normalize_url(url) if url is not None else None
            self._store = _RedisStore(self._url or "", socket_timeout=socket_timeout, client=client)
        self._async_stores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncRedisStore] = (
            weakref.WeakKeyDictionary()
        )

    # -- keys --------------------------------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if type(key) is not str:
            raise TypeError(f"cache keys are str, got {type(key).__name__}")
        if len(key) > _MAX_PLAIN_KEY:
            return self.prefix + "h:" + sha256(key.encode()).hexdigest()[:32]
        return self.prefix + "k:" + key

    def _lock_key(self, key: str) -> str:
        return self.prefix + "lock:" + self._key(key)[len(self.prefix) :]

    def _ttl_ms(self, ttl: float | None) -> int:
        ttl = self.default_ttl if ttl is None else ttl
        if ttl is None:
            return 0
        if not ttl > 0:
            raise ValueError(f"ttl must be > 0 seconds or None (got {ttl!r})")
        return max(1, math.ceil(ttl * 1000))

    @staticmethod
    def _tags(tags: Iterable[str]) -> tuple[str, ...]:
        if isinstance(tags, str):
            raise TypeError("tags must be a list of strings, not a single string")
        out = tuple(dict.fromkeys(tags))
        for t in out:
            if type(t) is not str or not t:
                raise TypeError(f"tags are non-empty strings, got {t!r}")
        return out

    # -- failure handling --------------------------------------------------------------------------------------------

    def _backend_failed(self, exc: BaseException) -> None:
        self._stats.add("errors")
        self._down_until = time.monotonic() + self.error_cooldown
        if not self._down_logged:
            self._down_logged = True
            log.warning("cache backend %s failed (%s); get_or_compute calls fn directly until it recovers",
                        self._store.describe(), exc)

    def _backend_ok(self) -> None:
        if self._down_logged:
            self._down_logged = False
            log.info("cache backend %s recovered", self._store.describe())

    def _raise(self, action: str, exc: _BackendDown) -> CacheError:
        self._stats.add("errors")
        return CacheError(f"cache {action} failed on {self._store.describe()}: {exc}")

    # -- get_or_compute: the pure plan -------------------------------------------------------------------------------

    def _xfetch(self, exp: float | None, delta: float | None, beta: float) -> bool:
        """XFetch: recompute early iff ``now - delta * beta * ln(u) >= exp`` with u uniform in (0, 1]."""
        if exp is None or not delta or beta <= 0:
            return False
        return time.time() - delta * beta * math.log(1.0 - self._rng.random()) >= exp

    def _decode(self, raw: bytes | None, key: str) -> Any:
        """The decoded entry, or None: an invalid entry (foreign bytes, pickle, other version) reads as a miss."""
        if raw is None:
            return None
        try:
            return decode_entry(raw)
        except InvalidEntry:
            log.warning("cache entry %s is not a valid envelope; deleting it", key)
            return None

    # The hit path = one round trip. Untagged entries (empty header) need no version check, so the drivers first
    # try a plain GET and :meth:`_fast_hit` (no generator, nothing else computed); anything else — a miss, a tagged
    # entry, an entry due for early refresh — continues in ``_ops.get_or_compute_plan``, which goes through the
    # Lua script (version check + lock on miss in the same trip). With tags= the entry is expected tagged: straight
    # to it.

    def _fast_hit(self, raw: bytes | None, beta: float) -> Any:
        """The value when ``raw`` is a valid untagged entry not due for XFetch refresh, else ``_MISS``."""
        if raw is None or raw[:1] != b"\n":
            return _MISS
        try:
            entry = decode_entry(raw)
        except InvalidEntry:
            return _MISS
        if self._xfetch(entry.exp, entry.delta, beta):
            return _MISS
        if self._down_logged:
            self._backend_ok()
        self._stats.add("hits")
        return entry.value

    def _wants_prefetch(self, tags: Sequence[str]) -> bool:
        return not tags and time.monotonic() >= self._down_until


    # -- public API --------------------------------------------------------------------------------------------------

    def get_or_compute(self, key: str, fn: Callable[[], T], ttl: float | None = None, *, beta: float = 1.0,
                       lock_wait: float | None = None, tags: Sequence[str] = ()) -> T:
        """Return the cached value of ``key``, or call ``fn()`` once (across threads and processes) and cache it.

        One round trip on a hit. Concurrent misses wait for the single computation (polling with jitter); past
        ``lock_wait`` seconds a waiter computes without caching. ``beta`` tunes XFetch early refresh (0 = off,
        ``math.inf`` = always refresh). ``tags`` stores the result as :meth:`set_with_tags` would. A server
        failure never raises here: ``fn()`` is called directly. Errors raised by ``fn`` propagate unchanged.

        Example::

            >>> cache = Cache(namespace="doc")
            >>> cache.get_or_compute("regions", lambda: ["ewr", "ams"], ttl=300)
            ['ewr', 'ams']
        """
        store, prefix = self._store, self._tagv_prefix
        first: Any = _NOT_FETCHED
        if self._wants_prefetch(tags):
            try:
                first = store.get(self._key(key))
            except _BackendDown as exc:
                first = exc
            else:
                value = self._fast_hit(first, beta)
                if value is not _MISS:
                    return value
        plan = get_or_compute_plan(self, key, ttl, beta, lock_wait, tags, first)
        send: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = plan.send(send) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value
            send, error = None, None
            try:
                if op is _COMPUTE:
                    send = fn()
                elif type(op) is _Sleep:
                    time.sleep(op.seconds)
                else:
                    send = run_op(store, op, prefix)
            except BaseException as exc:  # thrown into the plan: it releases the lock, then re-raises or degrades
                error = exc

    async def aget_or_compute(self, key: str, fn: Callable[[], Awaitable[T]], ttl: float | None = None, *,
                              beta: float = 1.0, lock_wait: float | None = None, tags: Sequence[str] = ()) -> T:
        """The async twin of :meth:`get_or_compute` for coroutine functions (same plan, awaited I/O).

        Example:

            >>> import asyncio
            >>> async def load() -> dict[str, int]:
            ...     return {"answer": 42}
            >>> asyncio.run(Cache(namespace="doc-async").aget_or_compute("k", load, ttl=60))
            {'answer': 42}
        """
        prefix = self._tagv_prefix
        astore = self._async_store()
        first: Any = _NOT_FETCHED
        if self._wants_prefetch(tags):
            k = self._key(key)
            try:
                first = self._store.get(k) if astore is None else await astore.run(_Get(k), prefix)
            except _BackendDown as exc:
                first = exc
            else:
                value = self._fast_hit(first, beta)
                if value is not _MISS:
                    return value
        plan = get_or_compute_plan(self, key, ttl, beta, lock_wait, tags, first)
        send: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = plan.send(send) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value
            send, error = None, None
            try:
                if op is _COMPUTE:
                    send = await fn()
                elif type(op) is _Sleep:
                    await asyncio.sleep(op.seconds)
                elif astore is None:  # in-process backend: its primitives never block
                    send = run_op(self._store, op, prefix)
                else:
                    send = await astore.run(op, prefix)
            except BaseException as exc:
                error = exc

    def _async_store(self) -> _AsyncRedisStore | None:
        if self._url is None:
            if isinstance(self._store, _RedisStore):
                raise CacheError("aget_or_compute needs a Cache built from a URL (not client=)")
            return None
        loop = asyncio.get_running_loop()
        store = self._async_stores.get(loop)
        if store is None:  # redis.asyncio clients belong to one event loop
            store = self._async_stores[loop] = _AsyncRedisStore(self._url, socket_timeout=self._socket_timeout)
        return store

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored at ``key`` (``default`` on a miss, an expired entry or a stale tag version).

        Example::

            >>> Cache(namespace="doc").get("nothing-here", default=0)
            0
        """
        k = self._key(key)
        try:
            raw = self._store.get(k)
            status = HIT if raw is not None else BUSY
            if raw is not None and raw[:1] != b"\n":  # tagged: let the server check the versions
                status, raw = self._store.get_or_lock(_GetOrLock(k, "", "", 0), self._tagv_prefix)
            entry = self._decode(raw, k) if status == HIT else None
            if status == HIT and entry is None:
                self._store.delete([k])
        except _BackendDown as exc:
            raise self._raise("get", exc) from None
        self._stats.add("hits" if entry is not None else "misses")
        return entry.value if entry is not None else default

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``default_ttl`` when None).

        Raises TypeError (before writing anything) when the value can't be serialised.

        Example::

            >>> import datetime
            >>> Cache(namespace="doc").set("k", {"when": datetime.date(2024, 1, 1)}, ttl=60)
        """
        self.set_with_tags(key, value, (), ttl)

    def set_with_tags(self, key: str, value: Any, tags: Sequence[str], ttl: float | None = None) -> None:
        """Store ``value`` and remember the current version of each tag; :meth:`invalidate_by_tag` expires it.

        Example::

            >>> c = Cache(namespace="doc")
            >>> c.set_with_tags("product:123", {"price": 10}, ["products", "category:shirts"], ttl=3600)
            >>> c.invalidate_by_tag("products") > 0
            True
            >>> c.get("product:123") is None
            True
        """
        k = self._key(key)
        tag_t = self._tags(tags)
        ttl_ms = self._ttl_ms(ttl)
        body = encode_entry(value, exp=time.time() + ttl_ms / 1000 if ttl_ms else None, delta=None)
        try:
            self._store.put(_Put(k, body, tag_t, ttl_ms), self._tagv_prefix)
        except _BackendDown as exc:
            raise self._raise("set", exc) from None

    def invalidate_by_tag(self, tag: str, *, reclaim: bool = False) -> int:
        """Invalidate every entry carrying ``tag``: one ``INCR`` of the tag's version, whatever the key count.

        Returns the new version. ``reclaim=True`` also deletes the now-stale entries right away (a SCAN of the
        namespace: O(keys), for memory pressure; otherwise they expire by TTL).

        Example::

            >>> Cache(namespace="doc").invalidate_by_tag("products") > 0
            True
        """
        self._tags([tag])
        try:
            version = self._store.incr(self._tagv_prefix + tag)
        except _BackendDown as exc:
            raise self._raise("invalidate_by_tag", exc) from None
        if reclaim:
            self.reclaim()
        return version

    def reclaim(self) -> int:
        """Delete entries of this namespace whose tag versions are stale; returns how many. SCAN-based, batched.

        Example::

            >>> Cache(namespace="doc").reclaim() >= 0
            True
        """
        try:
            return self._store.reclaim((self.prefix + "k:", self.prefix + "h:"), self._tagv_prefix)
        except _BackendDown as exc:
            raise self._raise("reclaim", exc) from None

    def delete(self, *keys: str) -> int:
        """Delete keys; returns how many existed.

        Example::

            >>> Cache(namespace="doc").delete("a", "b")
            0
        """
        try:
            return self._store.delete([self._key(k) for k in keys])
        except _BackendDown as exc:
            raise self._raise("delete", exc) from None

    def mget_and_delete(self, keys: Sequence[str], *, claim_ttl: float | None = 60.0) -> list[Any]:
        """Atomically read and delete ``keys``; values in order, None where missing (or stale by tag).

        Under concurrent callers each stored value goes to exactly one of them. By default (``claim_ttl`` set) this
        is :meth:`claim` + :meth:`Claim.ack`: the values move to a claim that a lost reply can re-read (the call
        replays once with the same claim id, which returns the same values), so a lost reply never loses data. If
        the server stays unreachable the call raises :class:`CacheError` and the values stay claimed;
        :meth:`restore_expired_claims` puts them back after ``claim_ttl`` seconds. Two round trips instead of one.

        ``claim_ttl=None`` is the old one-script take: one round trip, but a lost reply raises and the values it
        deleted are gone (at-most-once).

        Example::

            >>> c = Cache(namespace="doc")
            >>> c.set("job:1", "a")
            >>> c.mget_and_delete(["job:1", "job:2"])
            ['a', None]
        """
        if isinstance(keys, str):
            raise TypeError("mget_and_delete takes a list of keys")
        if claim_ttl is not None:
            claim = self.claim(keys, ttl=claim_ttl)
            try:
                claim.ack()
            except CacheError as exc:
                # The values are in hand: return them. If the ack never ran, restore_expired_claims() would
                # deliver them again after claim_ttl — a duplicate is the lesser harm than a loss.
                log.warning("cache claim %s delivered but not acked (%s); it may be restored after %s s",
                            claim.id, exc, claim_ttl)
            return claim.values
        full = [self._key(k) for k in keys]
        if not full:
            return []
        try:
            raws = self._store.mget_and_delete(full, self._tagv_prefix)
        except _BackendDown as exc:
            raise self._raise("mget_and_delete", exc) from None
        return self._values(full, raws)

    def _values(self, full: Sequence[str], raws: Sequence[bytes | None]) -> list[Any]:
        out: list[Any] = []
        for k, raw in zip(full, raws, strict=True):
            entry = self._decode(raw, k)
            out.append(entry.value if entry is not None else None)
        return out

    def claim(self, keys: Sequence[str], *, ttl: float = 60.0) -> Claim:
        """Take ``keys`` into a claim (safe take): values leave their keys now and are dropped only on ack.

        The claim id is made here, so a lost reply is replayed once with the same id (the server returns what the
        first run claimed). Use the claim as a context manager to ack on success; on an exception, or without
        an ack, :meth:`restore_expired_claims` returns the values to their keys once ``ttl`` seconds have passed.
        If both attempts fail, :class:`CacheError` names the claim id and the values are recoverable the same way.

        Example::

            >>> c = Cache(namespace="doc")
            >>> c.set("job:1", "a")
            >>> with c.claim(["job:1", "job:2"], ttl=30) as claim:
            ...     claim.values
            ['a', None]
        """
        if isinstance(keys, str):
            raise TypeError("claim takes a list of keys")
        if not (isinstance(ttl, (int, float)) and math.isfinite(ttl) and ttl > 0):
            raise ConfigError(f"Cache.claim ttl must be a finite number of seconds > 0 (got {ttl!r}); it is how "
                              "long an un-acked claim is held before restore_expired_claims() may return it")
        full = [self._key(k) for k in keys]
        cid = os.urandom(12).hex()
        claim_key = f"{self.prefix}claims:{cid}"
        if not full:
            return Claim(self, cid, [], [])
        last: _BackendDown | None = None
        for _ in range(2):  # replay once: idempotent per claim id, so a lost reply costs nothing
            try:
                raws = self._store.claim(claim_key, full, self._tagv_prefix, self._ttl_ms(ttl))
                return Claim(self, cid, list(keys), self._values(full, raws))
            except _BackendDown as exc:
                last = exc
        assert last is not None
        self._stats.add("errors")
        raise CacheError(f"cache claim {cid} failed on {self._store.describe()}: {last}; its values (if it ran) "
                         f"are held and restore_expired_claims() returns them to their keys after {ttl} s")

    def _ack(self, cid: str) -> None:
        claim_key = f"{self.prefix}claims:{cid}"
        last: _BackendDown | None = None
        for _ in range(2):  # idempotent: a replayed ack after a lost reply just finds nothing to delete
            try:
                self._store.ack(claim_key)
                return
            except _BackendDown as exc:
                last = exc
        assert last is not None
        raise self._raise(f"ack of claim {cid}", last)

    def restore_expired_claims(self, *, limit: int = 1000) -> int:
        """Put the values of claims older than their ``ttl`` and never acked back to their keys; returns how many.

        A key written since the claim keeps its newer value (the claimed one is dropped). Call it from a
        periodic job, or after a :class:`CacheError` from :meth:`claim`/:meth:`mget_and_delete`.

        Example::

            >>> Cache(namespace="doc").restore_expired_claims() >= 0
            True
        """
        try:
            return self._store.restore_claims(f"{self.prefix}claims:", limit)
        except _BackendDown as exc:
            raise self._raise("restore_expired_claims", exc) from None

    def clear(self) -> int:
        """Delete every key of this namespace (SCAN + UNLINK in batches; never FLUSHDB). Returns the count.

        Example::

            >>> Cache(namespace="doc").clear() >= 0
            True
        """
        try:
            return self._store.clear(self.prefix)
        except _BackendDown as exc:
            raise self._raise("clear", exc) from None

    def stats(self) -> CacheStats:
        """Counters since this object was created: hits, misses, computes, lock waits, ...

        Example::

            >>> Cache(namespace="doc").stats().hits
            0
        """
        return self._stats.snapshot()

    def ping(self) -> bool:
        """True when the backend answers (raises :class:`CacheError` when it doesn't)."""
        try:
            return self._store.ping()
        except _BackendDown as exc:
            raise self._raise("ping", exc) from None

    @property
    def backend(self) -> str:
        """``"memory"`` or the redacted server URL."""
        return self._store.describe()

    def close(self) -> None:
        """Close the server connections (the in-process backend keeps its data for other ``Cache()`` objects)."""
        self._store.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cache(backend={self.backend!r}, namespace={self.namespace!r})"

