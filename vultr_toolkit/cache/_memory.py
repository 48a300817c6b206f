"""The in-process backend of ``Cache()``: the primitives of the Lua scripts, in Python, under one lock.

>>> from vultr_toolkit.cache._memory import _MemoryStore
>>> store = _MemoryStore()
>>> store.incr("n"), store.incr("n"), store.delete(["n", "missing"])
(1, 2, 1)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence

from ._ops import BUSY, HIT, LOCKED, _GetOrLock, _Put, _TryLock, _Unlock


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
