"""The cache's counters: :class:`CacheStats` (a frozen snapshot, ``vt.CacheStats``) and the thread-safe tally.

>>> from vultr_toolkit.cache import Cache
>>> stats = Cache(namespace="doc-stats").stats()
>>> stats.hits, sorted(stats.as_dict())[:3]
(0, ['computes', 'early_refreshes', 'errors'])
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

__all__ = ["CacheStats"]


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


