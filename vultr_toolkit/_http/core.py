"""The resilient HTTP core: the only module of vultr_toolkit that imports httpx2.

It serves every HTTP API the toolkit talks to — Vultr v2 (management) and any OpenAI-compatible inference
endpoint — through one small internal API that other modules build on::

    core = HTTPCore("https://api.vultr.com/v2", api_key="...", limiter=shared_limiter(...),
                    policy=RetryPolicy(), timeout_s=30, name="management")     # or client.http_core("management")
    data = core.request_json("GET", "/instances", params={"per_page": 500})   # -> dict, typed errors
    resp = core.request("GET", "/account")        # -> APIResponse(status, headers, data, attempts, elapsed_s)
    with core.stream("POST", "/chat/completions", json=body) as s:            # retried only until it opens
        for line in s.iter_lines(): ...                                       # or s.iter_bytes(); s.status, s.headers
    core.stats(); core.close()

    # AsyncHTTPCore: the same methods, awaited; ``async with core.stream(...) as s: async for line in s.aiter_lines()``

Every request method takes ``params``, ``json``, ``idempotent`` (None = by method; True lets a read-only POST be
retried after 5xx), ``timeout_s`` (read timeout for this call) and ``headers`` (this call only). Paths are
relative to the base URL. Non-2xx answers raise; 3xx too, because redirects are never followed (a redirect must
not carry the key to another host). A JSON body that is not an object raises :class:`APIResponseError`; an empty
body (204) gives ``{}``.

Pieces (pure logic once, thin sync and async drivers):

* :func:`client_kwargs` / :func:`make_client` / :func:`make_async_client` — the client factory: Bearer auth (an
  :class:`httpx2.Auth` whose repr hides the key), ``User-Agent: vultr-toolkit/<version>``,
  ``Accept: application/json``, timeouts, TLS verification on (turning it off needs ``allow_insecure=True``).
* :func:`error_from_response` / :func:`error_from_exception` — map a status or an httpx2 exception to the typed
  errors of :mod:`vultr_toolkit._errors` with method, path, status and the API's own message (JSON ``error``,
  OpenAI ``error.message``, ``message``, or the HTML/text page Vultr serves during maintenance). Each error
  carries a private retry hint (:func:`retry_hint`).
* :func:`parse_retry_after` — ``retry-after-ms``, ``Retry-After`` in delta-seconds or HTTP-date.
* :class:`RetryPolicy` (tenacity) and :class:`RetryBudget`. Rules (research R1–R5):

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
  the floor, while a low-volume client still rides through a blip. Every attempt, retries included,
  re-acquires a rate-limiter slot (:mod:`vultr_toolkit._ratelimit`: reserve, sleep, confirm right before the
  send). Each retry is logged at DEBUG on ``vultr_toolkit.http`` (redacted).
* :class:`HTTPCore` / :class:`AsyncHTTPCore` — the drivers. ``stats()`` returns counters
  (``calls``, ``requests``, ``retries``, ``retries_denied``, ``budget_tokens``, ``limiter_waits``, ...).

Streams: :meth:`HTTPCore.stream` retries only while *opening* (until a non-error status line arrived); once the
context manager hands the response to the caller nothing is retried, so a consumer never sees a chunk twice.
Errors while reading a stream become :class:`StreamTruncatedError` (connection dropped / incomplete body) or
:class:`StreamStalledError` (read timeout).

Deadline: ``RetryPolicy.deadline_s`` bounds a whole ``request()`` — attempts, sleeps *and* reading the body (checked
after every chunk, so a trickling server is cut off at ~deadline + one read). For ``stream()`` it bounds only the
opening (attempts up to the status line): a stream's consumption is paced by the caller and a long generation is
legitimate, so while reading it only ``timeout_s`` applies, per read (a stall raises :class:`StreamStalledError`).

Secrets: the key lives only inside the auth object; it never appears in reprs, errors (all redacted) or logs.
Paths must be relative to the base URL, so the key can never be sent to another host.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import html
import json as jsonlib
import logging
import random
import re
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx2
import tenacity

from .._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    ConfigError,
    RateLimitError,
    StreamStalledError,
    StreamTruncatedError,
    status_error_class,
)
from .._ratelimit import Limiter
from .._redact import fingerprint, redact
from .._version import __version__

__all__ = [
    "IDEMPOTENT_METHODS",
    "USER_AGENT",
    "APIResponse",
    "AsyncHTTPCore",
    "AsyncStreamResponse",
    "HTTPCore",
    "RetryBudget",
    "RetryHint",
    "RetryPolicy",
    "StreamResponse",
    "client_kwargs",
    "error_from_exception",
    "error_from_response",
    "extract_api_message",
    "is_idempotent",
    "key_label",
    "make_async_client",
    "make_client",
    "parse_retry_after",
    "retry_hint",
    "should_retry",
]

logger = logging.getLogger("vultr_toolkit.http")

USER_AGENT = f"vultr-toolkit/{__version__}"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_MAX_API_MESSAGE = 300

RetryWhen = Literal["always", "idempotent", "never"]


def key_label_fp(fp: str) -> str:
    """``<sha256:…>`` for a fingerprint, ``<unset>`` as is (for reprs)."""
    return fp if fp.startswith("<") else f"<{fp}>"


def key_label(key: str | None) -> str:
    """How reprs show a key: ``<sha256:1a2b3c4d>`` or ``<unset>``, never the key.

    >>> key_label(None)
    '<unset>'
    """
    return key_label_fp(fingerprint(key))


# --------------------------------------------------------------------------------------------------------------
# Client factory
# --------------------------------------------------------------------------------------------------------------
class _BearerAuth(httpx2.Auth):
    """``Authorization: Bearer <key>`` added per request, so the key is in no client-level header dict."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._key}"
        yield request

    def __repr__(self) -> str:
        return f"BearerAuth({key_label(self._key)})"


def client_kwargs(
    base_url: str,
    *,
    api_key: str | None = None,
    timeout_s: float = 30.0,
    connect_timeout_s: float | None = None,
    verify: bool | str = True,
    allow_insecure: bool = False,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``httpx2.Client``/``httpx2.AsyncClient``, shared by the sync and async factories.

    >>> kw = client_kwargs("https://api.vultr.com/v2", api_key="sk-example-000000")
    >>> kw["headers"]["User-Agent"].startswith("vultr-toolkit/")
    True
    """
    if "://" not in base_url:
        raise ConfigError(f"base URL must be an absolute http(s) URL, got {redact(base_url)!r}")
    if verify is False:
        if not allow_insecure:
            raise ConfigError("verify=False turns off TLS certificate checks; pass allow_insecure=True to accept "
                              "that risk explicitly")
        warnings.warn(f"TLS certificate verification is OFF for {redact(base_url)}", stacklevel=3)
    hdrs = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    hdrs.update(headers or {})
    connect = connect_timeout_s if connect_timeout_s is not None else min(10.0, timeout_s)
    return {
        # A trailing slash makes httpx append relative paths to the /v2 or /v1 prefix instead of replacing it.
        "base_url": base_url.rstrip("/") + "/",
        "headers": hdrs,
        "auth": _BearerAuth(api_key) if api_key else None,
        "timeout": httpx2.Timeout(timeout_s, connect=connect),
        "verify": verify,
        "follow_redirects": False,  # a redirect to another host must not carry the key
    }


def make_client(base_url: str, *, transport: httpx2.BaseTransport | None = None, **kw: Any) -> httpx2.Client:
    """A configured sync ``httpx2.Client`` (see :func:`client_kwargs` for the options)."""
    return httpx2.Client(transport=transport, **client_kwargs(base_url, **kw))


def make_async_client(base_url: str, *, transport: httpx2.AsyncBaseTransport | None = None,
                      **kw: Any) -> httpx2.AsyncClient:
    """A configured ``httpx2.AsyncClient`` (see :func:`client_kwargs` for the options)."""
    return httpx2.AsyncClient(transport=transport, **client_kwargs(base_url, **kw))


# --------------------------------------------------------------------------------------------------------------
# Pure helpers: idempotency, Retry-After, API message extraction, error mapping
# --------------------------------------------------------------------------------------------------------------
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


_TAG_RE = re.compile(r"<[^>]*>")
_DROP_RE = re.compile(r"(?is)<(script|style|head)\b.*?</\1\s*>")
_WS_RE = re.compile(r"\s+")


def _truncate(text: str, limit: int = _MAX_API_MESSAGE) -> str:
    text = _WS_RE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def extract_api_message(content: bytes, content_type: str = "") -> str | None:
    """The API's own error text from a response body, or None if there is none.

    Understands Vultr ``{"error": "..."}``, OpenAI/OpenRouter ``{"error": {"message": ...}}``, ``{"message": ...}``
    and HTML/text pages (tags stripped, whitespace collapsed, truncated to 300 characters).

    >>> extract_api_message(b'{"error": "Invalid API token.", "status": 401}')
    'Invalid API token.'
    >>> extract_api_message(b"<html><body><h1>Check back in a few minutes!</h1></body></html>", "text/html")
    'Check back in a few minutes!'
    """
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            data = jsonlib.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("error", "message", "detail"):
                value = data.get(key)
                if isinstance(value, dict):
                    inner = value.get("message") or value.get("error") or value.get("detail")
                    if inner:
                        return _truncate(str(inner))
                elif isinstance(value, str) and value.strip():
                    return _truncate(value)
            return None
        if data is not None:
            return None
    if "html" in content_type.lower() or stripped[:1] == "<":
        text = html.unescape(_TAG_RE.sub(" ", _DROP_RE.sub(" ", text)))
    text = _truncate(text)
    return text or None


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


_STATUS_HINTS: dict[int, str] = {
    400: "the request was rejected; check the arguments",
    401: "the API key is missing, wrong or revoked; check VULTR_API_KEY (or the key you passed)",
    403: ("the key is not allowed to do this. Vultr API keys can be IP-restricted in the customer portal "
          "(Account > API > Access Control): allow this machine's public IP, or check the key's permissions"),
    404: "no such resource or route; check the path and the id",
    422: "the request failed validation; check the arguments",
    429: "rate limited; the toolkit backs off automatically, lower VULTR_TOOLKIT_RATE_LIMIT if this persists",
}


def _reason(status: int) -> str:
    return httpx2.codes.get_reason_phrase(status)


def error_from_response(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
) -> APIStatusError:
    """The typed error for an error status, with the API's message and a hint of what to do.

    >>> e = error_from_response("GET", "/account", 403, {}, b'{"error": "Unauthorized IP address"}')
    >>> type(e).__name__, e.status, e.api_message
    ('PermissionDeniedError', 403, 'Unauthorized IP address')
    >>> "IP-restricted" in str(e)
    True
    """
    method = method.upper()
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    api_message = extract_api_message(content, ctype)
    retry_after = parse_retry_after(headers)
    parts = [f"{method} {path} failed: HTTP {status} {_reason(status)}".rstrip()]
    if api_message:
        parts[0] += f": {api_message.rstrip('. ')}"  # parts are joined with ". "
    if status >= 500:
        parts.append("the server failed; usually transient, try again later")
    elif 300 <= status < 400:
        location = redact(next((v for k, v in headers.items() if k.lower() == "location"), "?"))
        parts.append(f"the API redirected to {location}; redirects are not followed so the key never goes to "
                     "another host: check the base URL (https, path prefix)")
    elif status in _STATUS_HINTS:
        parts.append(_STATUS_HINTS[status])
    if retry_after is not None:
        parts.append(f"the server asked to retry after {retry_after:g} s")
    message = ". ".join(parts)
    cls = status_error_class(status)
    kw: dict[str, Any] = {"method": method, "path": path, "status": status, "api_message": api_message}
    err = cls(message, retry_after_s=retry_after, **kw) if cls is RateLimitError else cls(message, **kw)
    when: RetryWhen
    if status in (429, 503):
        when = "always"
    elif status in (500, 502, 504):
        when = "idempotent"
    else:
        when = "never"
    server_says: bool | None = None
    xsr = next((v for k, v in headers.items() if k.lower() == "x-should-retry"), None)
    if xsr is not None and xsr.strip().lower() in ("true", "false"):
        server_says = xsr.strip().lower() == "true"
    _attach(err, RetryHint(when, retry_after, server_says))
    return err


def error_from_exception(method: str, path: str, exc: Exception, *, host: str = "",
                         phase: Literal["send", "body", "stream"] = "send") -> APIError:
    """Map an httpx2 (or JSON) exception to a typed error with a retry hint.

    ``phase`` says where it happened: ``send`` (before a status line), ``body`` (reading a complete 2xx body:
    failures become :class:`APIResponseError`), ``stream`` (after the caller got the stream: never retried).

    >>> e = error_from_exception("GET", "/x", httpx2.ConnectError("refused"))
    >>> type(e).__name__, retry_hint(e).when
    ('APIConnectionError', 'always')
    """
    method = method.upper()
    where = f"{method} {path}"
    detail = redact(str(exc)) or type(exc).__name__
    to = f" to {host}" if host else ""
    err: APIError
    when: RetryWhen
    if phase == "stream":
        when = "never"
        if isinstance(exc, httpx2.TimeoutException):
            err = StreamStalledError(f"{where}: the stream stalled, no data within the read timeout ({detail})",
                                     method=method, path=path)
        else:
            err = StreamTruncatedError(f"{where}: the stream broke off before it was complete ({detail})",
                                       method=method, path=path)
        return _attach(err, RetryHint(when))
    if phase == "body" and not isinstance(exc, httpx2.TimeoutException):
        # Headers said 2xx but the body is cut short or not JSON; a replay is safe only for idempotent calls.
        err = APIResponseError(f"{where}: the response body was truncated or malformed ({detail}); "
                               "retried automatically for idempotent requests", method=method, path=path)
        return _attach(err, RetryHint("idempotent"))
    if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
        err = APITimeoutError(f"{where}: timed out connecting{to} ({detail}); check the URL and the network",
                              method=method, path=path)
        when = "always"
    elif isinstance(exc, httpx2.TimeoutException):
        err = APITimeoutError(f"{where}: timed out waiting for the response ({detail}); raise "
                              "VULTR_TOOLKIT_TIMEOUT if the server is just slow", method=method, path=path)
        when = "idempotent"
    elif isinstance(exc, httpx2.ConnectError):
        err = APIConnectionError(f"{where}: could not connect{to} ({detail}); check the URL and the network",
                                 method=method, path=path)
        when = "always"
    elif isinstance(exc, httpx2.TransportError):
        # Read/write errors, resets and protocol errors after the request went out: may have been processed.
        err = APIConnectionError(f"{where}: the connection failed{to} after the request was sent ({detail})",
                                 method=method, path=path)
        when = "idempotent"
    else:
        err = APIError(f"{where}: {type(exc).__name__}: {detail}", method=method, path=path)
        when = "never"
    return _attach(err, RetryHint(when))


def _decode_json(method: str, path: str, content: bytes) -> dict[str, Any]:
    if not content.strip():
        return {}
    try:
        data = jsonlib.loads(content)
    except ValueError as e:
        raise error_from_exception(method, path, e, phase="body") from None
    if not isinstance(data, dict):
        err = APIResponseError(f"{method} {path}: expected a JSON object, got {type(data).__name__}",
                               method=method, path=path)
        raise _attach(err, RetryHint("never"))
    return data


def _check_path(path: str) -> str:
    # An absolute URL would make httpx send our Authorization header to whatever host it names.
    if "://" in path.split("?", 1)[0] or path.startswith("//"):
        raise ConfigError(f"path must be relative to the API base URL (like '/instances'), got {redact(path)!r}")
    return path


# --------------------------------------------------------------------------------------------------------------
# Retry policy and budget
# --------------------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class APIResponse:
    """A decoded JSON response: ``status``, ``headers`` (lower-case names), ``data`` and the attempts it took."""

    status: int
    headers: dict[str, str]
    data: dict[str, Any]
    attempts: int = 1
    elapsed_s: float = 0.0


def _headers(resp: httpx2.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}


class _StreamBase:
    def __init__(self, resp: httpx2.Response, method: str, path: str) -> None:
        self._resp = resp
        self.method = method
        self.path = path
        self.status: int = resp.status_code
        self.headers: dict[str, str] = _headers(resp)

    def _error(self, exc: Exception) -> APIError:
        return error_from_exception(self.method, self.path, exc, phase="stream")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.path} status={self.status}>"


class StreamResponse(_StreamBase):
    """A successfully opened stream (sync). Iterate with :meth:`iter_lines` or :meth:`iter_bytes`."""

    def iter_bytes(self) -> Iterator[bytes]:
        """Raw chunks as they arrive; transport failures become StreamTruncatedError/StreamStalledError."""
        try:
            yield from self._resp.iter_bytes()
        except httpx2.HTTPError as e:
            raise self._error(e) from None

    def iter_lines(self) -> Iterator[str]:
        """Decoded text lines (for SSE: ``data: ...`` lines and blank separators)."""
        try:
            yield from self._resp.iter_lines()
        except httpx2.HTTPError as e:
            raise self._error(e) from None


class AsyncStreamResponse(_StreamBase):
    """A successfully opened stream (async). Iterate with :meth:`aiter_lines` or :meth:`aiter_bytes`."""

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Raw chunks as they arrive; transport failures become StreamTruncatedError/StreamStalledError."""
        try:
            async for chunk in self._resp.aiter_bytes():
                yield chunk
        except httpx2.HTTPError as e:
            raise self._error(e) from None

    async def aiter_lines(self) -> AsyncIterator[str]:
        """Decoded text lines (for SSE: ``data: ...`` lines and blank separators)."""
        try:
            async for line in self._resp.aiter_lines():
                yield line
        except httpx2.HTTPError as e:
            raise self._error(e) from None


# --------------------------------------------------------------------------------------------------------------
# The cores: shared state and pure steps in _CoreBase, I/O in two thin drivers
# --------------------------------------------------------------------------------------------------------------
@dataclass
class _Call:
    """One logical call: what to send and how it may be retried."""

    method: str
    path: str
    params: Mapping[str, Any] | None
    json: Any
    idempotent: bool
    timeout_s: float | None
    headers: Mapping[str, str] | None = None
    deadline_s: float = float("inf")
    started: float = field(default_factory=time.monotonic)

    def check_deadline(self) -> None:
        """Raise the typed timeout once the call's ``deadline_s`` is spent; checked after every body chunk, so
        a server trickling one byte per read timeout cannot hold a call open past the deadline (field report:
        44 s with timeout_s=5, deadline_s=10). Not retried: the deadline is what bounds retries too."""
        if time.monotonic() - self.started > self.deadline_s:
            raise APITimeoutError(f"{self.method} {self.path}: the response body was still arriving after the "
                                  f"call's deadline of {self.deadline_s:g} s; raise RetryPolicy.deadline_s if "
                                  "this endpoint is legitimately slow", method=self.method, path=self.path)

    def request_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"params": self.params}
        if self.headers:
            kw["headers"] = dict(self.headers)
        if self.json is not None:
            kw["json"] = self.json
        if self.timeout_s is not None:
            kw["timeout"] = self.timeout_s
        return kw


class _CoreBase:
    """Configuration, counters, budget and the pure steps both drivers share."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        policy: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        verify: bool | str = True,
        allow_insecure: bool = False,
        headers: Mapping[str, str] | None = None,
        name: str = "api",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.budget = self.policy.new_budget()
        self.key_fingerprint = fingerprint(api_key)
        self._host = httpx2.URL(self.base_url).host
        self._client_kw: dict[str, Any] = client_kwargs(
            self.base_url, api_key=api_key, timeout_s=timeout_s, verify=verify, allow_insecure=allow_insecure,
            headers=headers)
        self._lock = threading.Lock()
        self._counts = {"calls": 0, "requests": 0, "retries": 0, "retries_denied": 0, "errors": 0,
                        "rate_limited": 0, "limiter_waits": 0}
        self._limiter_wait_s = 0.0

    # -- counters ---------------------------------------------------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def stats(self) -> dict[str, Any]:
        """Counters since creation: calls, HTTP requests sent, retries, retries the budget denied, errors, 429s,
        budget tokens left, and how often/long this core waited for the rate limiter.

        >>> HTTPCore("http://127.0.0.1:9/v2").stats()["requests"]
        0
        """
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
            out["limiter_wait_s"] = round(self._limiter_wait_s, 6)
        out["budget_tokens"] = round(self.budget.tokens, 3)
        if self.limiter is not None:
            out["limiter"] = self.limiter.stats()
        return out

    # -- pure steps -------------------------------------------------------------------------------------------
    def _new_call(self, method: str, path: str, params: Mapping[str, Any] | None, json: Any,
                  idempotent: bool | None, timeout_s: float | None, headers: Mapping[str, str] | None) -> _Call:
        method = method.upper()
        call = _Call(method, _check_path(path), params, json, is_idempotent(method, idempotent), timeout_s,
                     headers, self.policy.deadline_s)
        self._count("calls")
        return call

    def _note_wait(self, wait: float) -> None:
        self._count("requests")
        if wait > 0:
            with self._lock:
                self._counts["limiter_waits"] += 1
                self._limiter_wait_s += wait

    def _hooks(self, call: _Call) -> dict[str, Any]:
        def on_retry(rs: tenacity.RetryCallState) -> None:
            self._count("retries")
            exc = rs.outcome.exception() if rs.outcome else None
            kind = getattr(exc, "kind", type(exc).__name__)
            sleep = rs.next_action.sleep if rs.next_action else 0.0
            logger.debug("%s: retrying %s %s after %s (attempt %d failed, sleeping %.3fs): %s", self.name,
                         call.method, call.path, kind, rs.attempt_number, sleep, redact(str(exc)))

        return {"idempotent": call.idempotent, "budget": self.budget, "on_retry": on_retry,
                "on_denied": lambda: self._count("retries_denied")}

    def _failed(self, err: APIError) -> APIError:
        self._count("errors")
        if isinstance(err, RateLimitError):
            self._count("rate_limited")
        return err

    def _finish(self, call: _Call, resp: httpx2.Response, content: bytes) -> APIResponse:
        """Status check and JSON decoding of a fully read response (raises typed errors)."""
        if resp.status_code >= 300:
            raise self._failed(error_from_response(call.method, call.path, resp.status_code, resp.headers,
                                                   content))
        try:
            data = _decode_json(call.method, call.path, content)
        except APIError as e:
            raise self._failed(e) from None
        return APIResponse(resp.status_code, _headers(resp), data, elapsed_s=time.monotonic() - call.started)

    def _transport_error(self, call: _Call, exc: Exception, phase: Literal["send", "body"]) -> APIError:
        return self._failed(error_from_exception(call.method, call.path, exc, host=self._host, phase=phase))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, key={key_label_fp(self.key_fingerprint)})"


class HTTPCore(_CoreBase):
    """Sync driver: ``request_json``, ``request``, ``stream``; safe to share between threads.

    >>> core = HTTPCore("http://127.0.0.1:9/v2", api_key="sk-example-000000")
    >>> "sk-example" in repr(core)
    False
    >>> core.close()
    """

    def __init__(self, base_url: str, *, transport: httpx2.BaseTransport | None = None, **kw: Any) -> None:
        super().__init__(base_url, **kw)
        self._client = httpx2.Client(transport=transport, **self._client_kw)

    def _acquire(self) -> None:
        """Sleep until the reserved limiter slot, then confirm against actual send times (see _ratelimit)."""
        total = 0.0
        if self.limiter is not None:
            wait = self.limiter.reserve()
            while True:
                if wait > 0:
                    time.sleep(wait)
                    total += wait
                wait = self.limiter.confirm()
                if wait <= 0:
                    break
        self._note_wait(total)

    def _open(self, call: _Call) -> httpx2.Response:
        """One attempt up to the status line; error statuses are read, closed and raised."""
        try:
            req = self._client.build_request(call.method, call.path, **call.request_kwargs())
        except httpx2.HTTPError as e:
            raise self._transport_error(call, e, "send") from e
        self._acquire()  # after the build, so the confirmed slot time is when the request really leaves
        try:
            resp = self._client.send(req, stream=True)
        except httpx2.HTTPError as e:
            raise self._transport_error(call, e, "send") from e
        if resp.status_code >= 300:
            try:
                content = resp.read()
            except httpx2.HTTPError:
                content = b""
            finally:
                resp.close()
            self._finish(call, resp, content)
        return resp

    def _attempt(self, call: _Call) -> APIResponse:
        resp = self._open(call)
        parts: list[bytes] = []
        try:
            for chunk in resp.iter_bytes():
                parts.append(chunk)
                call.check_deadline()
            content = b"".join(parts)
        except httpx2.HTTPError as e:
            raise self._transport_error(call, e, "body") from e
        finally:
            resp.close()
        return self._finish(call, resp, content)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                idempotent: bool | None = None, timeout_s: float | None = None,
                headers: Mapping[str, str] | None = None) -> APIResponse:
        """Send a request with retries and rate limiting; return the decoded :class:`APIResponse`.

        ``idempotent`` overrides the method's default (True lets a read-only POST be retried after 5xx);
        ``timeout_s`` overrides the read timeout; ``headers`` are added to this request only.
        """
        call = self._new_call(method, path, params, json, idempotent, timeout_s, headers)
        retrying = self.policy.retrying(**self._hooks(call))
        resp: APIResponse = retrying(self._attempt, call)
        return APIResponse(resp.status, resp.headers, resp.data, retrying.statistics.get("attempt_number", 1),
                           resp.elapsed_s)

    def request_json(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                     idempotent: bool | None = None, timeout_s: float | None = None,
                     headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Like :meth:`request` but returns only the JSON object.

        >>> HTTPCore(sb.api_url, api_key=sb.api_key).request_json("GET", "/account")  # doctest: +SKIP
        {'account': {...}}
        """
        return self.request(method, path, params=params, json=json, idempotent=idempotent,
                            timeout_s=timeout_s, headers=headers).data

    @contextlib.contextmanager
    def stream(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
               idempotent: bool | None = None, timeout_s: float | None = None,
               headers: Mapping[str, str] | None = None) -> Iterator[StreamResponse]:
        """Open a streamed response, retrying only until it is open; then hand it over, never retried.

        >>> with core.stream("POST", "/chat/completions", json=body) as s:  # doctest: +SKIP
        ...     for line in s.iter_lines(): print(line)
        """
        call = self._new_call(method, path, params, json, idempotent, timeout_s, headers)
        resp: httpx2.Response = self.policy.retrying(**self._hooks(call))(self._open, call)
        try:
            yield StreamResponse(resp, call.method, call.path)
        finally:
            resp.close()

    def close(self) -> None:
        """Close the connection pool (the shared rate limiter stays alive for other clients)."""
        self._client.close()

    def __enter__(self) -> HTTPCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHTTPCore(_CoreBase):
    """Async driver: the same methods as :class:`HTTPCore`, awaited.

    The underlying ``httpx2.AsyncClient`` is bound to the event loop it first ran on; if the core is used from a
    new loop (a second ``asyncio.run``), a fresh client is made for that loop. The limiter and budget are
    loop-agnostic and stay shared.
    """

    def __init__(self, base_url: str, *, transport: httpx2.AsyncBaseTransport | None = None, **kw: Any) -> None:
        super().__init__(base_url, **kw)
        self._transport = transport
        self._aclient: httpx2.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._loop is not loop:
            # Connections of the previous loop cannot be closed from here; let them be collected.
            self._aclient = httpx2.AsyncClient(transport=self._transport, **self._client_kw)
            self._loop = loop
        return self._aclient

    async def _acquire(self) -> None:
        """Sleep until the reserved limiter slot, then confirm against actual send times (see _ratelimit)."""
        limiter = self.limiter
        total = 0.0
        if limiter is not None:

            async def call(fn: Callable[[], float]) -> float:
                # redis-py blocks: run it in a worker thread rather than stall the event loop.
                return await asyncio.to_thread(fn) if limiter.blocking_io else fn()

            wait = await call(limiter.reserve)
            while True:
                if wait > 0:
                    await asyncio.sleep(wait)
                    total += wait
                wait = await call(limiter.confirm)
                if wait <= 0:
                    break
        self._note_wait(total)

    async def _open(self, call: _Call) -> httpx2.Response:
        # Everything slow (creating the client loads the CA bundle, encoding the body) happens before the limiter
        # slot is confirmed, so the confirmed time is the time the request really leaves.
        client = self._client()
        try:
            req = client.build_request(call.method, call.path, **call.request_kwargs())
        except httpx2.HTTPError as e:
            raise self._transport_error(call, e, "send") from e
        await self._acquire()
        try:
            resp = await client.send(req, stream=True)
        except httpx2.HTTPError as e:
            raise self._transport_error(call, e, "send") from e
        if resp.status_code >= 300:
            try:
                content = await resp.aread()
            except httpx2.HTTPError:
                content = b""
            finally:
                await resp.aclose()
            self._finish(call, resp, content)
        return resp

    async def _attempt(self, call: _Call) -> APIResponse:
        resp = await self._open(call)
        parts: list[bytes] = []
        try:
            async for chunk in resp.aiter_bytes():
                parts.append(chunk)
                call.check_deadline()
            content = b"".join(parts)
        except httpx2.HTTPError as e:
            raise self._transport_error(call, e, "body") from e
        finally:
            await resp.aclose()
        return self._finish(call, resp, content)

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      json: Any = None, idempotent: bool | None = None, timeout_s: float | None = None,
                      headers: Mapping[str, str] | None = None) -> APIResponse:
        """Send a request with retries and rate limiting; return the decoded :class:`APIResponse`
        (arguments as in :meth:`HTTPCore.request`)."""
        call = self._new_call(method, path, params, json, idempotent, timeout_s, headers)
        retrying = self.policy.async_retrying(**self._hooks(call))
        resp: APIResponse = await retrying(self._attempt, call)
        return APIResponse(resp.status, resp.headers, resp.data, retrying.statistics.get("attempt_number", 1),
                           resp.elapsed_s)

    async def request_json(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                           json: Any = None, idempotent: bool | None = None, timeout_s: float | None = None,
                           headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Like :meth:`request` but returns only the JSON object.

        >>> await AsyncHTTPCore(url, api_key=key).request_json("GET", "/account")  # doctest: +SKIP
        """
        resp = await self.request(method, path, params=params, json=json, idempotent=idempotent,
                                  timeout_s=timeout_s, headers=headers)
        return resp.data

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                     idempotent: bool | None = None, timeout_s: float | None = None,
                     headers: Mapping[str, str] | None = None) -> AsyncIterator[AsyncStreamResponse]:
        """Open a streamed response, retrying only until it is open; then hand it over, never retried.

        >>> async with core.stream("POST", "/chat/completions", json=body) as s:  # doctest: +SKIP
        ...     async for line in s.aiter_lines(): print(line)
        """
        call = self._new_call(method, path, params, json, idempotent, timeout_s, headers)
        resp: httpx2.Response = await self.policy.async_retrying(**self._hooks(call))(self._open, call)
        try:
            yield AsyncStreamResponse(resp, call.method, call.path)
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        """Close the connection pool of the current event loop's client."""
        if self._aclient is not None:
            with contextlib.suppress(RuntimeError):  # its loop may be gone already
                await self._aclient.aclose()
            self._aclient = None

    async def __aenter__(self) -> AsyncHTTPCore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
