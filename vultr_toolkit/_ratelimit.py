"""Client-side rate limiting: one budget per (API base URL, key), shared by every client in the process.

Vultr answers 429 above 30 requests/s per source IP. The toolkit paces itself below that with a limiter that
combines two rules, both enforced at the moment a request is *granted*:

* **GCRA** (the single-timestamp form of a token bucket): sustained ``rate`` requests/s, bursts of ``burst``.
* **Sliding-window cap**: at most ``floor(rate * window_s)`` grants in any window of ``window_s + margin_s``
  seconds. A plain bucket with burst 10 at 20/s lets 30 requests through in its first second; the cap keeps
  every 1-second window, as the *server* counts it, at or under ``rate``. ``margin_s`` absorbs loopback/network
  jitter between the moment we grant and the moment the server stamps the request.

Design: **non-blocking reservations**. :meth:`RateLimiter.reserve` computes, under a :class:`threading.Lock`,
the grant time of the next request and returns how long the caller must wait; the caller then sleeps with
``time.sleep`` or ``await asyncio.sleep``. No asyncio primitive is held, so one limiter serves sync clients,
async clients and several event loops (two sequential ``asyncio.run`` calls, a Jupyter kernel plus worker
threads) at once.

Reservations are plans; a sleeping thread or task can wake up late on a loaded machine and send after a
request that was planned later. So right before sending, the caller calls :meth:`RateLimiter.confirm`: it
applies the sliding-window cap to the *actual* send times and returns 0 (go; the send is recorded) or how much
longer to wait (sleep, then confirm again). Drivers::

    sleep(limiter.reserve())
    while (extra := limiter.confirm()) > 0: sleep(extra)
    send()

:class:`RedisRateLimiter` runs the same algorithm as a Lua script on a Valkey/Redis server, using the server's
``TIME``, so several processes or kernels share one budget (``VULTR_TOOLKIT_LIMITER_URL``). If the server
cannot be reached it degrades to a local limiter at a conservative share of the rate (``degraded_share``,
default 1/2: the processes on one budget can't see each other while it is down), logs a warning, probes the
server again every ``probe_s`` and returns to the shared budget when it answers — keeping the local cap for one
more window, because the shared log does not hold the sends made while degraded.

:func:`shared_limiter` is the registry: every client built for the same base URL and key gets the same
instance (keyed by a fingerprint, never the key itself).

Example::

    >>> lim = RateLimiter(rate=10, burst=2)
    >>> [round(lim.reserve(), 1) for _ in range(3)]   # two immediately, the third one 1/rate later
    [0.0, 0.0, 0.1]
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ._errors import ConfigError
from ._redact import fingerprint, redact
from ._tls import check_redis_url

__all__ = [
    "Limiter",
    "RateLimiter",
    "RedisRateLimiter",
    "clear_registry",
    "shared_limiter",
]

logger = logging.getLogger("vultr_toolkit.ratelimit")

DEFAULT_WINDOW_S = 1.0
DEFAULT_MARGIN_S = 0.1


class Limiter(Protocol):
    """What the HTTP core needs from a limiter: a reservation and its bookkeeping."""

    rate: float
    burst: int
    #: True when :meth:`reserve` does I/O (Redis): async callers run it in a worker thread.
    blocking_io: bool

    def reserve(self) -> float:
        """Book the next request slot; return the seconds to wait before sending (0 = now)."""
        ...

    def confirm(self) -> float:
        """Right before sending: 0 to go (the send is recorded), else seconds to wait before confirming again."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters for ``client.stats()``."""
        ...

    def configure(self, rate: float, burst: int) -> None:
        """Change rate and burst in place."""
        ...


def _window_count(rate: float, window_s: float) -> int:
    return max(1, math.floor(rate * window_s + 1e-9))


class RateLimiter:
    """In-process GCRA limiter with a sliding-window cap; thread-safe and event-loop agnostic.

    ``rate`` is requests per second, ``burst`` how many may go back to back after an idle period, ``window_s``
    and ``margin_s`` define the sliding window (see the module docstring). ``clock`` is injectable for tests.

    >>> lim = RateLimiter(rate=20, burst=10)
    >>> lim.reserve()
    0.0
    """

    blocking_io = False

    def __init__(
        self,
        rate: float,
        burst: int = 10,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        margin_s: float = DEFAULT_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._tat = -math.inf  # GCRA "theoretical arrival time"
        self._last = -math.inf  # grants never go backwards, so the window deque stays sorted
        self._grants: deque[float] = deque()
        self._sent: deque[float] = deque()
        self._granted = 0
        self._late = 0
        self._delayed = 0
        self._wait_s = 0.0
        self.configure(rate, burst, window_s=window_s, margin_s=margin_s)

    def configure(self, rate: float, burst: int, *, window_s: float | None = None,
                  margin_s: float | None = None) -> None:
        """Change the rate and burst in place (clients sharing this limiter all see the change)."""
        if not rate > 0:
            raise ConfigError(f"rate limit must be > 0 requests/s, got {rate!r} (VULTR_TOOLKIT_RATE_LIMIT)")
        if burst < 1:
            raise ConfigError(f"rate burst must be >= 1, got {burst!r} (VULTR_TOOLKIT_RATE_BURST)")
        with self._lock:
            self.rate = float(rate)
            self.burst = int(burst)
            if window_s is not None:
                self.window_s = float(window_s)
            if margin_s is not None:
                self.margin_s = float(margin_s)
            self._interval = 1.0 / self.rate
            self._tolerance = (self.burst - 1) * self._interval
            self._n = _window_count(self.rate, self.window_s)
            self._grants = deque(self._grants, maxlen=self._n)
            self._sent = deque(self._sent, maxlen=self._n)

    def reserve(self) -> float:
        """Book the next slot and return how long to wait (seconds) before sending; never blocks."""
        with self._lock:
            now = self._clock()
            grant = max(now, self._tat - self._tolerance, self._last)
            if len(self._grants) >= self._n:
                # The n-th previous grant must be a whole window (plus margin) ago.
                grant = max(grant, self._grants[0] + self.window_s + self.margin_s)
            self._tat = max(self._tat, grant) + self._interval
            self._last = grant
            self._grants.append(grant)
            wait = grant - now
            self._granted += 1
            if wait > 0:
                self._delayed += 1
                self._wait_s += wait
            return wait

    def confirm(self) -> float:
        """Apply the window cap to actual send times: 0 = send now (recorded), else wait that long and retry."""
        with self._lock:
            now = self._clock()
            if len(self._sent) >= self._n:
                earliest = self._sent[0] + self.window_s + self.margin_s
                if now < earliest:
                    self._late += 1
                    return earliest - now
            self._sent.append(now)
            return 0.0

    def stats(self) -> dict[str, Any]:
        """Grants so far, how many had to wait and for how long in total, and how often a late wake-up made a
        confirmation wait (``limiter_confirm_waits``)."""
        with self._lock:
            return {
                "limiter": "local",
                "rate": self.rate,
                "burst": self.burst,
                "limiter_grants": self._granted,
                "limiter_waits": self._delayed,
                "limiter_wait_s": round(self._wait_s, 6),
                "limiter_confirm_waits": self._late,
            }

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst}, window={self.window_s + self.margin_s:g}s)"


# The same algorithm as RateLimiter.reserve, on the server's clock. State: a hash {tat, last} and a list of the
# last n grant times. Numbers go back as strings because Redis truncates Lua numbers to integers.
_LUA_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local ttl_ms = tonumber(ARGV[5])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '-1e18')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '-1e18')
local grant = math.max(now, tat - tolerance, last)
if redis.call('LLEN', KEYS[2]) >= n then
  local first = tonumber(redis.call('LINDEX', KEYS[2], -n))
  grant = math.max(grant, first + window)
end
tat = math.max(tat, grant) + interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat), 'last', string.format('%.6f', grant))
redis.call('RPUSH', KEYS[2], string.format('%.6f', grant))
redis.call('LTRIM', KEYS[2], -n, -1)
redis.call('PEXPIRE', KEYS[1], ttl_ms)
redis.call('PEXPIRE', KEYS[2], ttl_ms)
return string.format('%.6f', grant - now)
"""


# The confirmation step on the server's clock: a list of the last n actual send times.
_LUA_CONFIRM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ttl_ms = tonumber(ARGV[3])
if redis.call('LLEN', KEYS[1]) >= n then
  local earliest = tonumber(redis.call('LINDEX', KEYS[1], -n)) + window
  if now < earliest then
    return string.format('%.6f', earliest - now)
  end
end
redis.call('RPUSH', KEYS[1], string.format('%.6f', now))
redis.call('LTRIM', KEYS[1], -n, -1)
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return '0'
"""


class RedisRateLimiter:
    """The limiter's algorithm run atomically on Valkey/Redis, so processes and kernels share one budget.

    ``name`` identifies the budget (:func:`shared_limiter` derives it from the base URL and key fingerprint).
    Needs the ``valkey`` extra (redis-py). If Redis fails, falls back to an in-process :class:`RateLimiter` at
    ``degraded_share`` of the rate, probes every ``probe_s`` and returns to the shared budget (module docstring);
    one warning per outage.

    >>> lim = RedisRateLimiter(valkey_url, name="demo", rate=20)   # e.g. "redis://127.0.0.1:6379/0"
    >>> lim.reserve()
    0.0
    """

    blocking_io = True

    def __init__(
        self,
        url: str,
        *,
        name: str,
        rate: float,
        burst: int = 10,
        window_s: float = DEFAULT_WINDOW_S,
        margin_s: float = DEFAULT_MARGIN_S,
        degraded_share: float = 0.5,
        probe_s: float = 1.0,
    ) -> None:
        if not 0 < degraded_share <= 1:
            raise ConfigError(f"RedisRateLimiter degraded_share must be in (0, 1] (got {degraded_share!r}); it is "
                              "the fraction of the rate one process uses while the shared server is down, e.g. "
                              "1 / the number of processes sharing the budget")
        if not probe_s > 0:
            raise ConfigError(f"RedisRateLimiter probe_s must be > 0 seconds (got {probe_s!r})")
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigError("VULTR_TOOLKIT_LIMITER_URL needs redis-py: pip install 'vultr-toolkit[valkey]'") from None
        self._url_display = redact(url)
        # Fail fast rather than hang a notebook: the limiter is on every request's path.
        self._redis = redis.Redis.from_url(check_redis_url(url), socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self._redis.register_script(_LUA_RESERVE)
        self._confirm_script = self._redis.register_script(_LUA_CONFIRM)
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        self._keys = [f"vultr_toolkit:ratelimit:{digest}:state", f"vultr_toolkit:ratelimit:{digest}:grants"]
        self._sent_key = f"vultr_toolkit:ratelimit:{digest}:sent"
        self._late = 0
        self._lock = threading.Lock()
        self._fallback: RateLimiter | None = None  # set while degraded
        self._local: RateLimiter | None = None  # the conservative local limiter, kept across outages
        self._guard_until = -math.inf  # after recovery, the local cap also applies until then (monotonic)
        self._next_probe = 0.0
        self.degraded_share = degraded_share
        self.probe_s = probe_s
        self._granted = 0
        self._delayed = 0
        self._wait_s = 0.0
        self.window_s = window_s
        self.margin_s = margin_s
        self.configure(rate, burst)

    def configure(self, rate: float, burst: int) -> None:
        """Change rate and burst (this process's view; other processes pass their own on each call)."""
        if not rate > 0 or burst < 1:
            raise ConfigError(f"invalid shared limiter settings rate={rate!r} burst={burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        if self._local is not None:
            self._local.configure(*self._local_settings())

    def _local_settings(self) -> tuple[float, int]:
        return self.rate * self.degraded_share, max(1, math.floor(self.burst * self.degraded_share))

    def _degraded(self) -> RateLimiter | None:
        """The local limiter while degraded (None: use the server). Probes the server every ``probe_s``."""
        fallback = self._fallback
        if fallback is None:
            return None
        with self._lock:
            now = time.monotonic()
            if now < self._next_probe:
                return fallback
            self._next_probe = now + self.probe_s  # one caller probes; the others stay local meanwhile
        try:
            self._redis.ping()
        except Exception:
            return fallback
        with self._lock:
            if self._fallback is not None:
                self._fallback = None
                # Our sends while degraded are not in the shared log: keep the local cap for one more window.
                self._guard_until = time.monotonic() + self._window()
                logger.info("shared rate limiter at %s is back; using the shared budget again", self._url_display)
        return None

    def _guard(self) -> RateLimiter | None:
        return self._local if time.monotonic() < self._guard_until else None

    def reserve(self) -> float:
        """Book the next slot on the shared server and return the seconds to wait."""
        if (fallback := self._degraded()) is not None:
            return fallback.reserve()
        interval = 1.0 / self.rate
        try:
            raw = self._script(keys=self._keys, args=[repr(interval), repr((self.burst - 1) * interval), self._n(),
                                                      repr(self._window()), self._ttl_ms()])
        except Exception as e:  # any redis failure: keep pacing locally rather than stop working
            return self._fall_back(e).reserve()
        wait = max(0.0, float(raw.decode() if isinstance(raw, bytes) else raw))
        if (guard := self._guard()) is not None:
            wait = max(wait, guard.reserve())
        with self._lock:
            self._granted += 1
            if wait > 0:
                self._delayed += 1
                self._wait_s += wait
        return wait

    def confirm(self) -> float:
        """The window cap on actual send times, shared by every process (see :meth:`RateLimiter.confirm`)."""
        if (fallback := self._fallback) is not None:
            return fallback.confirm()
        # Just after recovery the local cap goes first: a send it refuses is then not booked on the server.
        if (guard := self._guard()) is not None and (extra := guard.confirm()) > 0:
            return extra
        try:
            raw = self._confirm_script(keys=[self._sent_key], args=[self._n(), repr(self._window()), self._ttl_ms()])
        except Exception as e:
            return self._fall_back(e).confirm()
        wait = max(0.0, float(raw.decode() if isinstance(raw, bytes) else raw))
        if wait > 0:
            with self._lock:
                self._late += 1
        return wait

    def _n(self) -> int:
        return _window_count(self.rate, self.window_s)

    def _window(self) -> float:
        return self.window_s + self.margin_s

    def _ttl_ms(self) -> int:
        return int(max(self._window(), self.burst / self.rate) * 1000 * 4) + 1000

    def _fall_back(self, error: Exception) -> RateLimiter:
        with self._lock:
            if self._fallback is None:
                rate, burst = self._local_settings()
                logger.warning("shared rate limiter at %s failed (%s: %s); falling back to an in-process limiter "
                               "at %g/s (degraded_share %g) and probing every %g s", self._url_display,
                               type(error).__name__, redact(str(error)), rate, self.degraded_share, self.probe_s)
                if self._local is None:
                    self._local = RateLimiter(rate, burst, window_s=self.window_s, margin_s=self.margin_s)
                self._fallback = self._local
                self._next_probe = time.monotonic() + self.probe_s
            return self._fallback

    def stats(self) -> dict[str, Any]:
        """Grants so far from this process, waits, and whether the local fallback is active."""
        with self._lock:
            return {
                "limiter": "redis" if self._fallback is None else "redis-fallback-local",
                "rate": self.rate,
                "burst": self.burst,
                "limiter_grants": self._granted,
                "limiter_waits": self._delayed,
                "limiter_wait_s": round(self._wait_s, 6),
                "limiter_confirm_waits": self._late,
            }

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self._url_display!r}, rate={self.rate:g}/s, burst={self.burst})"


_registry_lock = threading.Lock()
_registry: dict[tuple[str, str, str], Limiter] = {}


def shared_limiter(
    base_url: str,
    api_key: str | None,
    *,
    rate: float,
    burst: int = 10,
    limiter_url: str | None = None,
) -> Limiter:
    """The process-wide limiter for ``base_url`` + ``api_key``: created on first use, then shared.

    Every client (sync or async, any event loop) built for the same URL and key gets the same object, so
    together they stay under ``rate``. A later client with a different rate/burst reconfigures the shared
    limiter (last setting wins; logged at INFO). ``limiter_url`` selects the Redis-backed limiter.

    >>> a = shared_limiter("http://127.0.0.1:1/v2", "sk-example-000000", rate=20)
    >>> a is shared_limiter("http://127.0.0.1:1/v2", "sk-example-000000", rate=20)
    True
    """
    base = base_url.rstrip("/")
    key = (base, fingerprint(api_key), fingerprint(limiter_url) if limiter_url else "local")
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            if limiter_url:
                limiter = RedisRateLimiter(limiter_url, name=f"{base}|{fingerprint(api_key)}", rate=rate,
                                           burst=burst)
            else:
                limiter = RateLimiter(rate, burst)
            _registry[key] = limiter
        elif (limiter.rate, limiter.burst) != (float(rate), int(burst)):
            logger.info("rate limiter for %s reconfigured from %g/s burst %d to %g/s burst %d", base,
                        limiter.rate, limiter.burst, rate, burst)
            limiter.configure(rate, burst)
        return limiter


def clear_registry() -> None:
    """Forget every shared limiter (tests; a fresh notebook session)."""
    with _registry_lock:
        _registry.clear()
