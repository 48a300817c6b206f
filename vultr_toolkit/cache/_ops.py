"""The protocol between the pure get_or_compute logic and its drivers: op types, one dispatch table, the plan.

:func:`get_or_compute_plan` is the whole get_or_compute algorithm (hit, lock, wait with jitter, compute, store,
release; degrade to calling ``fn`` when the backend fails) as a generator that yields I/O ops and receives their
results — sans-I/O, like tenacity's action machine. ``Cache.get_or_compute`` and ``Cache.aget_or_compute`` are
thin loops that perform each op: :data:`_COMPUTE` and :class:`_Sleep` themselves, every store op through
:func:`run_op`, the one op -> store-method table shared by the in-process, redis and async redis stores.

>>> from vultr_toolkit.cache._memory import _MemoryStore
>>> from vultr_toolkit.cache._ops import _Get, _Put, run_op
>>> store = _MemoryStore()
>>> run_op(store, _Put("k", b"body", (), 0), "tagv:"), run_op(store, _Get("k"), "tagv:")
(None, b'\\nbody')
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from ._codec import encode_entry
from ._stats import _Counters


class _BackendDown(Exception):
    """Internal: the store failed (connection, timeout, server error). Carries the redacted cause."""



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


# op type -> the store method performing it. Every store (in-process, redis, async redis) has these methods with
# the same arguments, so one table replaces a sync and an async if-chain; the async store's methods are coroutines
# and its driver awaits what this returns.
_OP_METHODS: dict[type, Callable[[Any, Any, str], Any]] = {
    _Get: lambda store, op, prefix: store.get(op.key),
    _GetOrLock: lambda store, op, prefix: store.get_or_lock(op, prefix),
    _TryLock: lambda store, op, prefix: store.try_lock(op),
    _Unlock: lambda store, op, prefix: store.unlock(op),
    _Put: lambda store, op, prefix: store.put(op, prefix),
    _Delete: lambda store, op, prefix: store.delete([op.key]),
}


def run_op(store: Any, op: _Op, prefix: str) -> Any:
    """Perform one store op of the plan on ``store`` (``prefix`` is the namespace's tag-version prefix)."""
    method = _OP_METHODS.get(type(op))
    if method is None:  # _Compute and _Sleep belong to the drivers
        raise AssertionError(f"unexpected op {op!r}")
    return method(store, op, prefix)


class PlanHost(Protocol):
    """What the plan reads from the ``Cache`` facade: key and TTL rules, its stats, lock settings, failure state."""

    lock_ttl: float
    lock_wait: float
    _down_until: float
    _rng: random.Random
    _stats: _Counters

    def _key(self, key: str) -> str: ...
    def _lock_key(self, key: str) -> str: ...
    def _ttl_ms(self, ttl: float | None) -> int: ...
    def _tags(self, tags: Iterable[str]) -> tuple[str, ...]: ...
    def _decode(self, raw: bytes | None, key: str) -> Any: ...
    def _xfetch(self, exp: float | None, delta: float | None, beta: float) -> bool: ...
    def _backend_ok(self) -> None: ...
    def _backend_failed(self, exc: BaseException) -> None: ...


def get_or_compute_plan(c: PlanHost, key: str, ttl: float | None, beta: float, lock_wait: float | None,
                        tags: Sequence[str], first: Any = None) -> _Plan:
    """The get_or_compute algorithm as a generator of I/O ops; ``first`` is the prefetched GET's result
    (bytes, None, or the _BackendDown it raised), or _NOT_FETCHED."""
    k = c._key(key)
    ttl_ms = c._ttl_ms(ttl)
    tag_t = c._tags(tags) if tags else ()
    if first is _NOT_FETCHED and time.monotonic() < c._down_until:
        c._stats.add("uncached_computes")  # backend failed a moment ago: don't pay its timeout again
        return (yield _COMPUTE)
    lk = c._lock_key(key)
    token = os.urandom(12).hex()
    lock_ms = max(1, int(c.lock_ttl * 1000))
    wait = c.lock_wait if lock_wait is None else lock_wait
    try:
        if isinstance(first, _BackendDown):
            raise first
        # A prefetched untagged entry that _fast_hit refused is invalid or due for early refresh.
        prefetched = type(first) is bytes and first[:1] == b"\n"
        if prefetched:
            status, raw = HIT, first
        else:
            status, raw = yield _GetOrLock(k, lk, token, lock_ms)
        c._backend_ok()
        if status == HIT:
            entry = c._decode(raw, k)
            if entry is not None:
                refresh = prefetched or c._xfetch(entry.exp, entry.delta, beta)
                if not refresh or not (yield _TryLock(lk, token, lock_ms)):
                    c._stats.add("hits")
                    return entry.value
                c._stats.add("early_refreshes")
                status = LOCKED
            else:
                yield _Delete(k)
                status = LOCKED if (yield _TryLock(lk, token, lock_ms)) else BUSY
        if status != LOCKED:
            c._stats.add("lock_waits")
            deadline = time.monotonic() + wait
            attempt = 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    c._stats.add("lock_timeouts")
                    c._stats.add("uncached_computes")
                    return (yield _COMPUTE)
                # Full jitter on a growing step (5 ms .. 100 ms): waiters don't poll in lockstep.
                step = min(0.1, 0.005 * 2**attempt)
                yield _Sleep(min(remaining, c._rng.uniform(0.5, 1.5) * step))
                attempt += 1
                status, raw = yield _GetOrLock(k, lk, token, lock_ms)
                if status == HIT and (entry := c._decode(raw, k)) is not None:
                    c._stats.add("hits")
                    return entry.value
                if status == LOCKED:
                    break
    except _BackendDown as exc:
        c._backend_failed(exc)
        c._stats.add("uncached_computes")
        return (yield _COMPUTE)
    # We hold the lock: compute, store, release. On any failure release so a waiter can take over.
    c._stats.add("misses")
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
            c._backend_failed(exc)
        raise
    try:
        yield _Put(k, body, tag_t, ttl_ms)
        yield _Unlock(lk, token)
        c._stats.add("computes")
    except _BackendDown as exc:
        c._backend_failed(exc)
        c._stats.add("uncached_computes")
    return value
