"""``vt.Cache``: a Valkey/Redis cache helper with stampede protection, tag invalidation and atomic take.

``Cache(url)`` speaks to Valkey or Redis through redis-py (``redis://``, ``rediss://``, ``valkey://``,
``valkeys://``); ``Cache()`` (no URL) is an in-process backend with the same semantics, for notebooks without a
server. Values are JSON in a small envelope (:mod:`vultr_toolkit._cache_codec`: datetime, Decimal, UUID, bytes and
DataFrames round-trip with dtypes) — never pickle.

The original TypeScript integration's names map one to one:

==========================================  ==========================================
``VultrCacheHelper.getOrCompute``           :meth:`Cache.get_or_compute` (+ :meth:`Cache.aget_or_compute`)
``VultrCacheHelper.setWithTags``            :meth:`Cache.set_with_tags`
``VultrCacheHelper.invalidateByTag``        :meth:`Cache.invalidate_by_tag`
``vultrValkey.mgetAndDelete``               :meth:`Cache.mget_and_delete`
==========================================  ==========================================

How it works
------------
* **Keys** live under ``vtk:<namespace>:`` — values ``…:k:<key>``, locks ``…:lock:<key>``, tag versions
  ``…:tagv:<tag>``. :meth:`Cache.clear` SCANs that prefix and UNLINKs in batches of 500; nothing here ever runs
  FLUSHDB/FLUSHALL or touches a key outside the namespace. ``cluster_hash_tag=True`` writes the prefix as
  ``vtk:{<namespace>}:`` so every key of a namespace hashes to one slot (the scripts read tag versions they
  don't declare, which a cluster allows only within one slot). Redis Cluster itself is not supported yet:
  use a standalone server (or a primary's URL).
* **One round trip on a hit.** An untagged entry is one ``GET`` on a per-thread connection that skips redis-py's
  per-command machinery (faster than a plain redis-py ``GET``: see ``benchmarks/results/cache.md``). A tagged
  entry, or a miss, is one Lua script: GET the value, check its tag versions and, on a miss, ``SET lock NX PX`` —
  so the first miss also takes the lock in the same trip. Only idempotent calls use the per-thread connection;
  on any error it is dropped and the call retried once through redis-py (which reconnects).
* **Stampedes.** Exactly one caller (across threads and processes) holds the per-key lock and calls ``fn``; the
  others poll with jittered, growing sleeps and take the value as soon as it lands. A holder that fails releases
  the lock so a waiter takes over; past ``lock_wait`` a waiter calls ``fn`` itself *without caching* (never a
  deadlock). XFetch (Vattani et al., VLDB 2015) refreshes early with probability ``exp(-remaining/(delta*beta))``
  where ``delta`` is the measured compute time, so hot keys are recomputed before they expire.
* **Tags** are versions (Symfony's design): ``set_with_tags`` stores each tag's current version in the entry's
  header; ``invalidate_by_tag`` is one ``INCR`` whatever the number of keys; a read whose stored version differs
  is a miss. Stale entries die by TTL or by :meth:`Cache.reclaim`. A missing version key (evicted) is a miss too;
  versions start at the server's clock in µs so a re-created version never matches an old entry.
* **mget_and_delete** is one Lua script (GET each + UNLINK, atomic) sent on a connection with redis-py's automatic
  retry OFF: a replayed take after a lost reply would return nil for values already deleted — silently losing
  them. So by default it is claim-then-ack: one script moves the values (with their TTLs) into a claim hash
  ``…:claims:<id>`` (deadline in the ``…:claims`` zset) under an id made by the client, so a lost reply is
  replayed with the same id and returns the same values; a second script acks (deletes) the claim. If the
  server stays away, ``CacheError`` and the values wait in the claim until :meth:`Cache.restore_expired_claims`
  returns them. ``claim_ttl=None`` keeps the one-trip, at-most-once take; :meth:`Cache.claim` exposes the
  claim itself (ack when your work is done).
* **In-process backend** (``Cache()``): the same primitives under one lock, shared by every ``Cache()`` in the
  process like one local server. It is not shared across processes — use Valkey for that — and it has no
  eviction: entries without a TTL stay until deleted or cleared (expired ones are swept as writes go on).
* **Failures.** Server errors make ``get_or_compute`` call ``fn`` directly (logged once per outage, retried after
  ``error_cooldown`` seconds): the cache never breaks the user's path. Plain ``get``/``set``/... raise
  :class:`~vultr_toolkit.CacheError`. The URL's password never appears in reprs, logs or errors.

Example::

    cache = vt.Cache("redis://127.0.0.1:6379/0", namespace="inventory")
    plans = cache.get_or_compute("plans", lambda: client.management.get("/plans"), ttl=3600)
    cache.set_with_tags("product:123", {"price": Decimal("9.99")}, ["products", "category:shirts"], ttl=3600)
    cache.invalidate_by_tag("products")          # one INCR; product:123 is now a miss
    cache.stats()                                # CacheStats(hits=…, misses=…, computes=…, lock_waits=…, …)
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import asdict, dataclass
from hashlib import sha256
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .._errors import CacheError, ConfigError
from .._redact import check_url_userinfo, redact, redact_url, register_url_passwords
from .._tls import check_redis_url
from ._codec import InvalidEntry, decode_entry, encode_entry

__all__ = ["Cache", "CacheStats", "Claim"]

log = logging.getLogger("vultr_toolkit.cache")
T = TypeVar("T")

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAX_PLAIN_KEY = 200  # longer keys are hashed (Valkey docs: avoid very long keys)
_SCAN_BATCH = 500

# ---- Lua (one text, used by the sync and async redis stores) -------------------------------------------------------

# fresh(v, prefix): is the entry's tag header still current? Header = JSON ["tag", "ver", ...] before the first \n;
# an empty header (untagged) is always fresh. A header that isn't ours is left for Python to reject.
_LUA_FRESH = """
local function fresh(v, prefix)
  local nl = string.find(v, '\\n', 1, true)
  if nl == nil or nl == 1 then return true end
  local ok, tv = pcall(cjson.decode, string.sub(v, 1, nl - 1))
  if not ok or type(tv) ~= 'table' then return true end
  for i = 1, #tv, 2 do
    if redis.call('GET', prefix .. tostring(tv[i])) ~= tv[i + 1] then return false end
  end
  return true
end
"""
# KEYS: value, lock. ARGV: tagv prefix, token, lock ms ('0' = read only). -> {1, value} | {2} locked | {0} busy
# Idempotent per token: a retried call (its first reply lost) finds its own lock and still reports "locked".
_LUA_GET_OR_LOCK = _LUA_FRESH + """
local v = redis.call('GET', KEYS[1])
if v and fresh(v, ARGV[1]) then return {1, v} end
if ARGV[3] ~= '0' then
  if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {2} end
  if redis.call('GET', KEYS[2]) == ARGV[2] then return {2} end
end
return {0}
"""
# KEYS: value. ARGV: tagv prefix, ttl ms ('0' = none), body, tags... Versions start at the server clock (µs).
_LUA_SET_TAGGED = """
local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', tonumber(t[2]))
local hdr = {}
for i = 4, #ARGV do
  local vk = ARGV[1] .. ARGV[i]
  redis.call('SET', vk, now, 'NX')
  hdr[#hdr + 1] = ARGV[i]
  hdr[#hdr + 1] = redis.call('GET', vk)
end
local v = cjson.encode(hdr) .. '\\n' .. ARGV[3]
if ARGV[2] ~= '0' then redis.call('SET', KEYS[1], v, 'PX', ARGV[2]) else redis.call('SET', KEYS[1], v) end
return 1
"""
_LUA_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: values. ARGV: tagv prefix. Atomic: nobody else can take a value between our GET and UNLINK.
_LUA_MGET_AND_DELETE = _LUA_FRESH + """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and not fresh(v, ARGV[1]) then v = false end
  out[i] = v
  redis.call('UNLINK', k)
end
return out
"""
# Claim-then-ack (safe take). KEYS: claim hash, claims zset, values... ARGV: tagv prefix, claim id, ttl ms.
# Moves each fresh value (and its PTTL) into the claim hash and deletes its key; the claim's deadline goes in the
# zset. Idempotent per claim id: a replay after a lost reply returns what the first run claimed, claims nothing new.
_LUA_CLAIM = _LUA_FRESH + """
local out = {}
if redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 3, #KEYS do out[i - 2] = redis.call('HGET', KEYS[1], 'v:' .. KEYS[i]) end
  return out
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], '~', '1')
for i = 3, #KEYS do
  local k = KEYS[i]
  local v = redis.call('GET', k)
  if v and not fresh(v, ARGV[1]) then v = false end
  if v then redis.call('HSET', KEYS[1], 'v:' .. k, v, 't:' .. k, redis.call('PTTL', k)) end
  redis.call('UNLINK', k)
  out[i - 2] = v
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
return out
"""
# KEYS: claim hash, claims zset. ARGV: claim id. Idempotent: a replayed ack deletes nothing and still succeeds.
_LUA_ACK = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""
# KEYS: claims zset. ARGV: claim key prefix, max claims. Puts expired claims' values back (SET NX: a key written
# since the claim keeps its newer value) with their remaining TTL, then drops the claims. -> values restored.
_LUA_RESTORE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, id in ipairs(ids) do
  local ck = ARGV[1] .. id
  local h = redis.call('HGETALL', ck)
  for j = 1, #h, 2 do
    local f = h[j]
    if string.sub(f, 1, 2) == 'v:' then
      local k = string.sub(f, 3)
      local ttl = tonumber(redis.call('HGET', ck, 't:' .. k) or '-1')
      local ok
      if ttl > 0 then ok = redis.call('SET', k, h[j + 1], 'NX', 'PX', ttl)
      else ok = redis.call('SET', k, h[j + 1], 'NX') end
      if ok then n = n + 1 end
    end
  end
  redis.call('DEL', ck)
  redis.call('ZREM', KEYS[1], id)
end
return n
"""
# KEYS: candidate value keys. ARGV: tagv prefix. Deletes entries whose tag versions are stale.
_LUA_RECLAIM = _LUA_FRESH + """
local n = 0
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and not fresh(v, ARGV[1]) then redis.call('UNLINK', k); n = n + 1 end
end
return n
"""


class _BackendDown(Exception):
    """Internal: the store failed (connection, timeout, server error). Carries the redacted cause."""


# ---- stats ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of one :class:`Cache` object (this process only).

    ``hits``/``misses`` count reads by ``get``/``get_or_compute``; ``computes`` the calls of ``fn`` whose result was
    stored; ``lock_waits`` the calls that waited for another caller's computation; ``lock_timeouts`` the waits
    that gave up after ``lock_wait`` and computed uncached; ``early_refreshes`` XFetch recomputations;
    ``uncached_computes`` calls of ``fn`` whose value was not stored (lock timeout or backend down); ``errors``
    backend failures.
    """

    hits: int = 0
    misses: int = 0
    computes: int = 0
    lock_waits: int = 0
    lock_timeouts: int = 0
    early_refreshes: int = 0
    uncached_computes: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Counters:
    __slots__ = ("_lock", "c")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.c = dict.fromkeys(CacheStats.__dataclass_fields__, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.c[name] += n

    def snapshot(self) -> CacheStats:
        with self._lock:
            return CacheStats(**self.c)


# ---- operations: the protocol between the pure get_or_compute logic and its sync/async drivers -------------------
# NamedTuples: created on every call of the hit path, and C-level construction is the cheapest.


class _Get(NamedTuple):
    key: str


class _GetOrLock(NamedTuple):
    key: str
    lock_key: str
    token: str
    lock_ms: int


class _TryLock(NamedTuple):
    lock_key: str
    token: str
    lock_ms: int


class _Unlock(NamedTuple):
    lock_key: str
    token: str


class _Put(NamedTuple):
    key: str
    body: bytes
    tags: tuple[str, ...]
    ttl_ms: int


class _Delete(NamedTuple):
    key: str


class _Sleep(NamedTuple):
    seconds: float


class _Compute:
    """Call the user's fn (sync driver) or await it (async driver)."""


_COMPUTE = _Compute()
_MISS = object()
_NOT_FETCHED = object()
_Op = _Get | _GetOrLock | _TryLock | _Unlock | _Put | _Delete | _Sleep | _Compute
_Plan = Generator[_Op, Any, Any]

HIT, LOCKED, BUSY = 1, 2, 0


# ---- stores --------------------------------------------------------------------------------------------------------


class _MemoryStore:
    """The in-process backend: the same primitives as the Lua scripts, under one lock.

    Shared by every ``Cache()`` of the process (like one local server), so namespaces and ``clear()`` behave
    as they do on Valkey. Not shared across processes: a notebook kernel is one process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, float | None]] = {}  # key -> (value, monotonic deadline or None)
        self._writes = 0
        # claim key -> (monotonic deadline, {value key: (raw, remaining ms or -1)}), as _LUA_CLAIM's hash + zset
        self._claims: dict[str, tuple[float, dict[str, tuple[bytes, int]]]] = {}

    def _get(self, key: str, now: float) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= now:
            del self._data[key]
            return None
        return item[0]

    def _fresh(self, raw: bytes, prefix: str, now: float) -> bool:
        nl = raw.find(b"\n")
        if nl <= 0:
            return True
        try:
            tv = json.loads(raw[:nl])
        except ValueError:
            return True
        if type(tv) is not list:
            return True
        for i in range(0, len(tv) - 1, 2):
            cur = self._get(prefix + str(tv[i]), now)
            if cur is None or cur.decode() != tv[i + 1]:
                return False
        return True

    def _put(self, key: str, raw: bytes, ttl_ms: int, now: float) -> None:
        self._data[key] = (raw, now + ttl_ms / 1000 if ttl_ms > 0 else None)
        self._writes += 1
        if self._writes % 1000 == 0:  # bound memory: sweep expired entries now and then
            for k in [k for k, (_, d) in self._data.items() if d is not None and d <= now]:
                del self._data[k]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._get(key, time.monotonic())

    def get_or_lock(self, op: _GetOrLock, prefix: str) -> tuple[int, bytes | None]:
        with self._lock:
            now = time.monotonic()
            raw = self._get(op.key, now)
            if raw is not None and self._fresh(raw, prefix, now):
                return HIT, raw
            if op.lock_ms:
                holder = self._get(op.lock_key, now)
                if holder is None:
                    self._put(op.lock_key, op.token.encode(), op.lock_ms, now)
                    return LOCKED, None
                if holder == op.token.encode():
                    return LOCKED, None
            return BUSY, None

    def try_lock(self, op: _TryLock) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._get(op.lock_key, now) is not None:
                return False
            self._put(op.lock_key, op.token.encode(), op.lock_ms, now)
            return True

    def unlock(self, op: _Unlock) -> None:
        with self._lock:
            if self._get(op.lock_key, time.monotonic()) == op.token.encode():
                del self._data[op.lock_key]

    def put(self, op: _Put, prefix: str) -> None:
        with self._lock:
            now = time.monotonic()
            header: list[str] = []
            for tag in op.tags:
                vk = prefix + tag
                if self._get(vk, now) is None:
                    self._put(vk, str(time.time_ns() // 1000).encode(), 0, now)
                header += [tag, self._data[vk][0].decode()]
            head = json.dumps(header, separators=(",", ":")).encode() if header else b""
            self._put(op.key, head + b"\n" + op.body, op.ttl_ms, now)

    def delete(self, keys: Sequence[str]) -> int:
        with self._lock:
            now = time.monotonic()
            n = 0
            for k in keys:
                if self._get(k, now) is not None:
                    del self._data[k]
                    n += 1
            return n

    def mget_and_delete(self, keys: Sequence[str], prefix: str) -> list[bytes | None]:
        with self._lock:
            now = time.monotonic()
            out: list[bytes | None] = []
            for k in keys:
                raw = self._get(k, now)
                if raw is not None:
                    del self._data[k]
                    if not self._fresh(raw, prefix, now):
                        raw = None
                out.append(raw)
            return out

    def claim(self, claim_key: str, keys: Sequence[str], prefix: str, ttl_ms: int) -> list[bytes | None]:
        with self._lock:
            now = time.monotonic()
            if claim_key in self._claims:
                held = self._claims[claim_key][1]
                return [held[k][0] if k in held else None for k in keys]
            taken: dict[str, tuple[bytes, int]] = {}
            out: list[bytes | None] = []
            for k in keys:
                raw = self._get(k, now)
                if raw is not None:
                    deadline = self._data.pop(k)[1]
                    if not self._fresh(raw, prefix, now):
                        raw = None
                    else:
                        taken[k] = (raw, -1 if deadline is None else max(1, int((deadline - now) * 1000)))
                out.append(raw)
            self._claims[claim_key] = (now + ttl_ms / 1000, taken)
            return out

    def ack(self, claim_key: str) -> int:
        with self._lock:
            return 1 if self._claims.pop(claim_key, None) is not None else 0

    def restore_claims(self, claim_prefix: str, limit: int) -> int:
        with self._lock:
            now = time.monotonic()
            due = [ck for ck, (d, _) in self._claims.items() if ck.startswith(claim_prefix) and d <= now][:limit]
            n = 0
            for ck in due:
                for k, (raw, ttl_ms) in self._claims.pop(ck)[1].items():
                    if self._get(k, now) is None:
                        self._put(k, raw, max(ttl_ms, 0), now)
                        n += 1
            return n

    def incr(self, key: str) -> int:
        with self._lock:
            now = time.monotonic()
            cur = self._get(key, now)
            value = int(cur or b"0") + 1
            self._put(key, str(value).encode(), 0, now)
            return value

    def clear(self, prefix: str) -> int:
        with self._lock:
            doomed = [k for k in self._data if k.startswith(prefix)]
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def reclaim(self, value_prefixes: Sequence[str], tagv_prefix: str) -> int:
        with self._lock:
            now = time.monotonic()
            doomed = [k for k in list(self._data) if k.startswith(tuple(value_prefixes))
                      and (raw := self._get(k, now)) is not None and not self._fresh(raw, tagv_prefix, now)]
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def ping(self) -> bool:
        return True

    def describe(self) -> str:
        return "memory"

    def close(self) -> None:
        pass


_MEMORY = _MemoryStore()


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.RedisError, OSError)


class _RedisStore:
    """The redis-py backend (sync). Every method maps backend failures to :class:`_BackendDown`."""

    def __init__(self, url: str, *, socket_timeout: float, client: Any = None) -> None:
        import redis
        from redis.backoff import FullJitterBackoff, NoBackoff
        from redis.retry import Retry

        self._url = url
        # A cache must fail fast: redis-py 8's default retries 10x with backoff, turning an outage into seconds
        # of latency per call. One quick retry covers a stale pooled connection after a server restart.
        # Typed Any: redis-py's own annotations and the types-redis stubs disagree; our wrappers give the types.
        self.client: Any = client or redis.Redis.from_url(
            check_redis_url(url),
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(FullJitterBackoff(cap=0.05, base=0.005), 1),
        )
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

    def _fail(self, exc: BaseException) -> _BackendDown:
        return _BackendDown(redact(f"{type(exc).__name__}: {exc}"))

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
            raise self._fail(exc) from None

    def get_or_lock(self, op: _GetOrLock, prefix: str) -> tuple[int, bytes | None]:
        args = (prefix, op.token, op.lock_ms)
        try:  # idempotent per token (see the script), so the retry below is safe
            res = self._lean("EVALSHA", self._get_or_lock.sha, 2, op.key, op.lock_key, *args)
        except self._errors:
            try:
                res = self._get_or_lock(keys=(op.key, op.lock_key), args=args)
            except self._errors as exc:
                raise self._fail(exc) from None
        return int(res[0]), (res[1] if len(res) > 1 else None)

    def try_lock(self, op: _TryLock) -> bool:
        try:
            return bool(self.client.set(op.lock_key, op.token, nx=True, px=op.lock_ms))
        except self._errors as exc:
            raise self._fail(exc) from None

    def unlock(self, op: _Unlock) -> None:
        try:
            self._unlock(keys=(op.lock_key,), args=(op.token,))
        except self._errors as exc:
            raise self._fail(exc) from None

    def put(self, op: _Put, prefix: str) -> None:
        try:
            if op.tags:
                self._set_tagged(keys=(op.key,), args=(prefix, op.ttl_ms, op.body, *op.tags))
            else:
                self.client.set(op.key, b"\n" + op.body, px=op.ttl_ms or None)
        except self._errors as exc:
            raise self._fail(exc) from None

    def delete(self, keys: Sequence[str]) -> int:
        try:
            return int(self.client.unlink(*keys)) if keys else 0
        except self._errors as exc:
            raise self._fail(exc) from None

    def mget_and_delete(self, keys: Sequence[str], prefix: str) -> list[bytes | None]:
        try:
            return list(self._mget_del(keys=keys, args=(prefix,), client=self.noretry))
        except self._errors as exc:
            raise self._fail(exc) from None

    def claim(self, claim_key: str, keys: Sequence[str], prefix: str, ttl_ms: int) -> list[bytes | None]:
        zset = claim_key.rsplit(":", 1)[0]
        try:  # no-retry connection: the caller replays with the same claim id, which the script makes idempotent
            return list(self._claim(keys=[claim_key, zset, *keys], args=(prefix, claim_key.rsplit(":", 1)[1],
                                                                            ttl_ms), client=self.noretry))
        except self._errors as exc:
            raise self._fail(exc) from None

    def ack(self, claim_key: str) -> int:
        zset, cid = claim_key.rsplit(":", 1)
        try:
            return int(self._ack(keys=[claim_key, zset], args=(cid,)))
        except self._errors as exc:
            raise self._fail(exc) from None

    def restore_claims(self, claim_prefix: str, limit: int) -> int:
        try:
            return int(self._restore(keys=[claim_prefix.rstrip(":")], args=(claim_prefix, limit)))
        except self._errors as exc:
            raise self._fail(exc) from None

    def incr(self, key: str) -> int:
        try:
            return int(self.client.incr(key))
        except self._errors as exc:
            raise self._fail(exc) from None

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
            raise self._fail(exc) from None

    def reclaim(self, value_prefixes: Sequence[str], tagv_prefix: str) -> int:
        try:
            return sum(
                int(self._reclaim(keys=batch, args=(tagv_prefix,)))
                for p in value_prefixes
                for batch in self._scan(_glob_escape(p) + "*")
            )
        except self._errors as exc:
            raise self._fail(exc) from None

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except self._errors as exc:
            raise self._fail(exc) from None

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
        from redis.backoff import FullJitterBackoff

        self.client: Any = aredis.Redis.from_url(
            check_redis_url(url),
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(FullJitterBackoff(cap=0.05, base=0.005), 1),
        )
        self._errors = _redis_errors()
        self._get_or_lock = self.client.register_script(_LUA_GET_OR_LOCK)
        self._set_tagged = self.client.register_script(_LUA_SET_TAGGED)
        self._unlock = self.client.register_script(_LUA_UNLOCK)

    async def run(self, op: _Op, prefix: str) -> Any:
        try:
            if type(op) is _Get:
                return await self.client.get(op.key)
            if type(op) is _GetOrLock:
                res = await self._get_or_lock(keys=(op.key, op.lock_key), args=(prefix, op.token, op.lock_ms))
                return int(res[0]), (res[1] if len(res) > 1 else None)
            if type(op) is _TryLock:
                return bool(await self.client.set(op.lock_key, op.token, nx=True, px=op.lock_ms))
            if type(op) is _Unlock:
                return await self._unlock(keys=(op.lock_key,), args=(op.token,))
            if type(op) is _Put:
                if op.tags:
                    return await self._set_tagged(keys=(op.key,), args=(prefix, op.ttl_ms, op.body, *op.tags))
                return await self.client.set(op.key, b"\n" + op.body, px=op.ttl_ms or None)
            if type(op) is _Delete:
                return await self.client.unlink(op.key)
        except self._errors as exc:
            raise _BackendDown(redact(f"{type(exc).__name__}: {exc}")) from None
        raise AssertionError(f"unexpected op {op!r}")


def _run_sync_op(store: _MemoryStore | _RedisStore, op: _Op, prefix: str) -> Any:
    if type(op) is _Get:
        return store.get(op.key)
    if type(op) is _GetOrLock:
        return store.get_or_lock(op, prefix)
    if type(op) is _TryLock:
        return store.try_lock(op)
    if type(op) is _Unlock:
        return store.unlock(op)
    if type(op) is _Put:
        return store.put(op, prefix)
    if type(op) is _Delete:
        return store.delete([op.key])
    raise AssertionError(f"unexpected op {op!r}")


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


# ---- the cache -----------------------------------------------------------------------------------------------------


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
    # entry, an entry due for early refresh — continues in :meth:`_plan`, which goes through the Lua script
    # (version check + lock on miss in the same trip). With tags= the entry is expected tagged: straight to it.

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

    def _plan(self, key: str, ttl: float | None, beta: float, lock_wait: float | None,
              tags: Sequence[str], first: Any = None) -> _Plan:
        """The get_or_compute algorithm as a generator of I/O ops; ``first`` is the prefetched GET's result
        (bytes, None, or the _BackendDown it raised), or _NOT_FETCHED."""
        k = self._key(key)
        ttl_ms = self._ttl_ms(ttl)
        tag_t = self._tags(tags) if tags else ()
        if first is _NOT_FETCHED and time.monotonic() < self._down_until:
            self._stats.add("uncached_computes")  # backend failed a moment ago: don't pay its timeout again
            return (yield _COMPUTE)
        lk = self._lock_key(key)
        token = os.urandom(12).hex()
        lock_ms = max(1, int(self.lock_ttl * 1000))
        wait = self.lock_wait if lock_wait is None else lock_wait
        try:
            if isinstance(first, _BackendDown):
                raise first
            # A prefetched untagged entry that _fast_hit refused is invalid or due for early refresh.
            prefetched = type(first) is bytes and first[:1] == b"\n"
            if prefetched:
                status, raw = HIT, first
            else:
                status, raw = yield _GetOrLock(k, lk, token, lock_ms)
            self._backend_ok()
            if status == HIT:
                entry = self._decode(raw, k)
                if entry is not None:
                    refresh = prefetched or self._xfetch(entry.exp, entry.delta, beta)
                    if not refresh or not (yield _TryLock(lk, token, lock_ms)):
                        self._stats.add("hits")
                        return entry.value
                    self._stats.add("early_refreshes")
                    status = LOCKED
                else:
                    yield _Delete(k)
                    status = LOCKED if (yield _TryLock(lk, token, lock_ms)) else BUSY
            if status != LOCKED:
                self._stats.add("lock_waits")
                deadline = time.monotonic() + wait
                attempt = 0
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._stats.add("lock_timeouts")
                        self._stats.add("uncached_computes")
                        return (yield _COMPUTE)
                    # Full jitter on a growing step (5 ms .. 100 ms): waiters don't poll in lockstep.
                    step = min(0.1, 0.005 * 2**attempt)
                    yield _Sleep(min(remaining, self._rng.uniform(0.5, 1.5) * step))
                    attempt += 1
                    status, raw = yield _GetOrLock(k, lk, token, lock_ms)
                    if status == HIT and (entry := self._decode(raw, k)) is not None:
                        self._stats.add("hits")
                        return entry.value
                    if status == LOCKED:
                        break
        except _BackendDown as exc:
            self._backend_failed(exc)
            self._stats.add("uncached_computes")
            return (yield _COMPUTE)
        # We hold the lock: compute, store, release. On any failure release so a waiter can take over.
        self._stats.add("misses")
        started = time.monotonic()
        try:
            value = yield _COMPUTE
            delta = time.monotonic() - started
            exp = time.time() + ttl_ms / 1000 if ttl_ms else None
            body = encode_entry(value, exp=exp, delta=delta)  # TypeError here: nothing written, lock released below
        except GeneratorExit:
            raise
        except BaseException:
            try:
                yield _Unlock(lk, token)
            except _BackendDown as exc:
                self._backend_failed(exc)
            raise
        try:
            yield _Put(k, body, tag_t, ttl_ms)
            yield _Unlock(lk, token)
            self._stats.add("computes")
        except _BackendDown as exc:
            self._backend_failed(exc)
            self._stats.add("uncached_computes")
        return value

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
        plan = self._plan(key, ttl, beta, lock_wait, tags, first)
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
                    send = _run_sync_op(store, op, prefix)
            except BaseException as exc:  # thrown into the plan: it releases the lock, then re-raises or degrades
                error = exc

    async def aget_or_compute(self, key: str, fn: Callable[[], Awaitable[T]], ttl: float | None = None, *,
                              beta: float = 1.0, lock_wait: float | None = None, tags: Sequence[str] = ()) -> T:
        """The async twin of :meth:`get_or_compute` for coroutine functions (same plan, awaited I/O).

        Example::

            async def load() -> dict: ...
            value = await cache.aget_or_compute("k", load, ttl=60)
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
        plan = self._plan(key, ttl, beta, lock_wait, tags, first)
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
                    send = _run_sync_op(self._store, op, prefix)
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
