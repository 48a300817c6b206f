"""The retry policy (tenacity) and the retry budget: which failures are retried, how long to wait, when to stop.

:class:`RetryPolicy` is the public preset (``vt.RetryPolicy``). Rules (research R1–R5):

================================================  ======================================
failure                                           retried for
================================================  ======================================
connect error / connect timeout / pool timeout    every method (never reached the server)
429, 503                                          every method ("not processed")
read/write timeout, reset, truncated body,        idempotent requests only: GET, HEAD, PUT,
malformed JSON (APIResponseError), 500/502/504    DELETE, OPTIONS, or ``idempotent=True``
other 4xx, 501, anything else                     never
================================================  ======================================

``x-should-retry: true|false`` (OpenAI-compatible servers) overrides the table. Waits are full-jitter
exponential (``wait_random_exponential``) unless the server sent Retry-After, which is honoured (+0–10 %
jitter so a herd released together does not re-trip the limit). A Retry-After above ``retry_after_cap_s`` or
beyond the deadline stops retrying and raises the typed error (``RateLimitError.retry_after_s`` says how long
the server asked for). A per-core :class:`RetryBudget` (Finagle's: +0.2 token per call, −1 per retry, both
expiring after 10 s, plus a floor of 10 retries/s) bounds load amplification during an outage to 1.2× plus
the floor, while a low-volume client still rides through a blip.

The errors built by :mod:`vultr_toolkit._http.errors` carry a :class:`RetryHint` (read with :func:`retry_hint`);
:func:`should_retry` applies the table to it.

>>> from vultr_toolkit._http.retry import RetryPolicy, parse_retry_after
>>> RetryPolicy(attempts=2).enabled, parse_retry_after({"Retry-After": "2"})
(True, 2.0)
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import tenacity

from .._errors import APIError, ConfigError

__all__ = [
    "IDEMPOTENT_METHODS",
    "RetryBudget",
    "RetryHint",
    "RetryPolicy",
    "is_idempotent",
    "parse_retry_after",
    "retry_hint",
    "should_retry",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

RetryWhen = Literal["always", "idempotent", "never"]


def is_idempotent(method: str, idempotent: bool | None = None) -> bool:
    """Whether a request may be replayed after it possibly reached the server (RFC 9110 §9.2.2).

    >>> is_idempotent("GET"), is_idempotent("POST"), is_idempotent("POST", True)
    (True, False, True)
    """
    if idempotent is not None:
        return idempotent
    return method.upper() in IDEMPOTENT_METHODS


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, then ``Retry-After`` (seconds or HTTP-date).

    A date in the past gives 0. Unparseable values give None (the caller falls back to backoff).

    >>> parse_retry_after({"Retry-After": "3"})
    3.0
    >>> parse_retry_after({"retry-after-ms": "250"})
    0.25
    >>> parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    0.0
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if value >= 0 and value == value:  # not NaN
                return value
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryHint:
    """What the retry policy needs to know about a failure (attached privately to the raised error)."""

    when: RetryWhen
    retry_after_s: float | None = None
    #: The server's ``x-should-retry`` header, when present.
    server_says: bool | None = None


_HINT_ATTR = "_vt_retry_hint"


def _attach(exc: APIError, hint: RetryHint) -> APIError:
    exc.__dict__[_HINT_ATTR] = hint
    return exc


def retry_hint(exc: BaseException) -> RetryHint:
    """The retry hint of an error built here; ``never`` for any other exception."""
    hint = getattr(exc, _HINT_ATTR, None)
    return hint if isinstance(hint, RetryHint) else RetryHint("never")


def should_retry(exc: BaseException, idempotent: bool) -> bool:
    """Whether the rules allow another attempt after ``exc`` (budget, attempts and deadline are checked later).

    >>> from vultr_toolkit._http.errors import error_from_response
    >>> should_retry(error_from_response("POST", "/x", 503, {}, b""), idempotent=False)
    True
    >>> should_retry(error_from_response("POST", "/x", 502, {}, b""), idempotent=False)
    False
    """
    hint = retry_hint(exc)
    if hint.server_says is not None:
        return hint.server_says
    if hint.when == "always":
        return True
    if hint.when == "idempotent":
        return idempotent
    return False


class RetryBudget:
    """Finagle's retry budget, shared by every call of one core, so a failure storm cannot multiply load.

    Each call deposits ``ratio`` tokens and each retry withdraws one; both expire after ``ttl_s`` seconds, and
    on top of them there is a standing floor of ``min_retries_per_s * ttl_s`` tokens per window
    (https://finagle.github.io/blog/2016/02/08/retry-budgets). The floor is what lets a low-volume notebook
    (a few sequential calls) ride through a blip of faults: with ``ratio`` alone, 40 calls earn 8 retries.
    Under 100 % failures the retries in any window of ``ttl_s`` are bounded by ``ratio`` × calls +
    ``min_retries_per_s`` × ``ttl_s``; the client-side rate limiter bounds the process's total load on top.

    >>> b = RetryBudget(ratio=0.2, min_retries_per_s=0.1, ttl_s=10)
    >>> b.try_spend(), b.try_spend()
    (True, False)
    """

    def __init__(self, ratio: float = 0.2, *, min_retries_per_s: float = 10.0, ttl_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ratio < 0 or min_retries_per_s < 0 or ttl_s <= 0:
            raise ConfigError(f"RetryBudget needs ratio >= 0, min_retries_per_s >= 0 and ttl_s > 0, got "
                              f"ratio={ratio}, min_retries_per_s={min_retries_per_s}, ttl_s={ttl_s}")
        self.ratio = ratio
        self.min_retries_per_s = min_retries_per_s
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        # (time, delta) for deposits (+ratio) and withdrawals (-1) still inside the window; a running sum keeps
        # the balance O(1) and expiry amortised O(1).
        self._events: collections.deque[tuple[float, float]] = collections.deque()
        self._sum = 0.0

    @property
    def reserve(self) -> float:
        """The standing floor of retries per window: ``min_retries_per_s * ttl_s``."""
        return self.min_retries_per_s * self.ttl_s

    def _expire(self, now: float) -> None:
        horizon = now - self.ttl_s
        while self._events and self._events[0][0] <= horizon:
            self._sum -= self._events.popleft()[1]
        if not self._events:
            self._sum = 0.0  # drop float drift once the window is empty

    def _balance(self) -> float:
        return self.reserve + self._sum

    def deposit(self) -> None:
        """Credit one call (its first attempt)."""
        if self.ratio == 0:
            return
        with self._lock:
            now = self._clock()
            self._expire(now)
            self._events.append((now, self.ratio))
            self._sum += self.ratio

    def try_spend(self) -> bool:
        """Take one token for a retry; False (and nothing taken) when the budget is exhausted."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if self._balance() >= 1.0 - 1e-9:
                self._events.append((now, -1.0))
                self._sum -= 1.0
                return True
            return False

    @property
    def tokens(self) -> float:
        """Retries available now."""
        with self._lock:
            self._expire(self._clock())
            return max(0.0, self._balance())


class _StopIf(tenacity.stop.stop_base):
    """A tenacity stop condition from a plain predicate (composes with ``stop_any``)."""

    def __init__(self, predicate: Callable[[tenacity.RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.predicate(retry_state)


@dataclass(frozen=True)
class RetryPolicy:
    """How one API is retried (research R1–R5); see the module docstring for which failures qualify.

    ``attempts`` counts the first try; ``deadline_s`` bounds the whole call including sleeps; backoff is
    ``uniform(0, min(max_backoff_s, multiplier_s * 2**(n-1)))``; a server Retry-After above ``retry_after_cap_s``
    raises instead of sleeping. ``budget_*`` configure the per-core :class:`RetryBudget`.

    >>> RetryPolicy().attempts, RetryPolicy.for_inference().attempts
    (4, 3)
    >>> RetryPolicy(attempts=1).enabled
    False
    """

    attempts: int = 4
    deadline_s: float = 30.0
    multiplier_s: float = 0.5
    max_backoff_s: float = 8.0
    retry_after_cap_s: float = 60.0
    retry_after_jitter: float = 0.1
    budget_ratio: float = 0.2
    budget_min_retries_per_s: float = 10.0
    budget_ttl_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if self.deadline_s <= 0 or self.multiplier_s < 0 or self.max_backoff_s < 0 or self.retry_after_cap_s < 0:
            raise ConfigError("RetryPolicy times must be positive")

    @classmethod
    def for_inference(cls, timeout_s: float = 120.0) -> RetryPolicy:
        """Three attempts, deadline = the user's timeout (R1)."""
        return cls(attempts=3, deadline_s=timeout_s)

    @property
    def enabled(self) -> bool:
        """False when no retries are allowed at all."""
        return self.attempts > 1

    def new_budget(self) -> RetryBudget:
        """A fresh budget with this policy's parameters (one per core)."""
        return RetryBudget(self.budget_ratio, min_retries_per_s=self.budget_min_retries_per_s,
                           ttl_s=self.budget_ttl_s)

    # -- tenacity strategies ---------------------------------------------------------------------------------
    def wait(self, retry_state: tenacity.RetryCallState) -> float:
        """Retry-After (+ jitter) when the server sent one, else full-jitter exponential backoff."""
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hint = retry_hint(exc) if exc is not None else RetryHint("never")
        if hint.retry_after_s is not None:
            return hint.retry_after_s * (1.0 + random.uniform(0.0, self.retry_after_jitter))
        return float(tenacity.wait_random_exponential(multiplier=self.multiplier_s,
                                                      max=self.max_backoff_s)(retry_state))

    def _over_cap(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        ra = retry_hint(exc).retry_after_s if exc is not None else None
        return ra is not None and ra > self.retry_after_cap_s

    def _tenacity_kwargs(
        self,
        idempotent: bool,
        budget: RetryBudget,
        on_retry: Callable[[tenacity.RetryCallState], None] | None,
        on_denied: Callable[[], None] | None,
    ) -> dict[str, Any]:
        budget.deposit()  # one Retrying object = one call: its first attempt earns the budget a share

        def spend(_: tenacity.RetryCallState) -> bool:
            if budget.try_spend():
                return False
            if on_denied is not None:
                on_denied()
            return True

        return {
            "retry": tenacity.retry_if_exception(lambda e: should_retry(e, idempotent)),
            "wait": self.wait,
            # Evaluated in order, budget last: a token is spent only for a retry that will really happen.
            "stop": tenacity.stop_any(tenacity.stop_after_attempt(self.attempts),
                                      tenacity.stop_before_delay(self.deadline_s),
                                      _StopIf(self._over_cap),
                                      _StopIf(spend)),
            "before_sleep": on_retry,
            "reraise": True,  # callers see our typed error, never tenacity.RetryError
        }

    def retrying(
        self,
        *,
        idempotent: bool,
        budget: RetryBudget,
        on_retry: Callable[[tenacity.RetryCallState], None] | None = None,
        on_denied: Callable[[], None] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity ``Retrying`` for one sync call (``on_retry`` runs before each sleep, ``on_denied`` when
        the budget refuses a retry).

        >>> r = RetryPolicy(multiplier_s=0).retrying(idempotent=True, budget=RetryBudget())
        >>> r(lambda: 42)
        42
        """
        return tenacity.Retrying(sleep=time.sleep, **self._tenacity_kwargs(idempotent, budget, on_retry, on_denied))

    def async_retrying(
        self,
        *,
        idempotent: bool,
        budget: RetryBudget,
        on_retry: Callable[[tenacity.RetryCallState], None] | None = None,
        on_denied: Callable[[], None] | None = None,
    ) -> tenacity.AsyncRetrying:
        """The ``AsyncRetrying`` twin of :meth:`retrying` (sleeps with ``asyncio.sleep``)."""
        return tenacity.AsyncRetrying(sleep=asyncio.sleep,
                                      **self._tenacity_kwargs(idempotent, budget, on_retry, on_denied))


