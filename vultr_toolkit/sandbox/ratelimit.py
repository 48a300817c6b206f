"""The sandbox's server-side rate limit: a rolling one-second window per client IP, like Vultr's 30 req/s.

Only admitted requests count toward the window, so the server-side guarantee is simple to check from the request
log: in any rolling second at most ``rate`` requests from one client were served; the others got 429.

Example::

    >>> lim = RollingWindowLimiter(2)
    >>> [lim.admit("127.0.0.1", t) for t in (0.0, 0.1, 0.2, 1.05)]
    [None, None, 1, None]
"""

from __future__ import annotations

import math
import threading
from collections import deque

__all__ = ["RollingWindowLimiter"]


class RollingWindowLimiter:
    """At most ``rate`` admitted requests per client in any rolling ``window_s``; thread-safe."""

    def __init__(self, rate: float, window_s: float = 1.0) -> None:
        self.rate = rate
        self.window_s = window_s
        self._limit = max(1, math.floor(rate))
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, client: str, now: float) -> int | None:
        """Record a request at ``now`` (monotonic seconds); None if admitted, else the Retry-After in seconds."""
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self._limit:
                # Wait until the oldest admitted request leaves the window; whole seconds, at least 1.
                return max(1, math.ceil(hits[0] + self.window_s - now))
            hits.append(now)
            return None

    def reset(self) -> None:
        """Forget every client's history."""
        with self._lock:
            self._hits.clear()
