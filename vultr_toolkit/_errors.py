"""The one error tree of vultr_toolkit.

Every exception the toolkit raises on purpose is a :class:`VultrToolkitError`::

    VultrToolkitError
    ├── ConfigError                 bad settings or arguments (also a ValueError)
    ├── APIError                    anything that went wrong talking to an HTTP API
    │   ├── APIConnectionError      the request may never have reached the server
    │   │   └── APITimeoutError     connect/read/pool timeout
    │   ├── APIResponseError        2xx but the body is truncated or not the JSON we expect
    │   │   ├── MissingKeyError     valid JSON, but without the list/object key the route should have
    │   │   └── IncompleteListError a paged list ended short of its meta.total (or on a pager guard)
    │   ├── StreamError             an SSE stream failed after HTTP 200
    │   │   ├── InBandStreamError   the server sent an error event inside the stream
    │   │   ├── StreamTruncatedError the stream ended without [DONE] / finish_reason
    │   │   └── StreamStalledError  no chunk arrived within the stall timeout
    │   └── APIStatusError          the server answered with a 4xx/5xx status
    │       ├── BadRequestError         400, 422
    │       ├── AuthenticationError     401
    │       ├── PermissionDeniedError   403 (Vultr keys can be IP-restricted)
    │       ├── NotFoundError           404
    │       ├── RateLimitError          429 (carries retry_after_s)
    │       └── ServerError             5xx
    ├── StoreError                  the history store failed
    └── CacheError                  the cache backend failed (never raised from get_or_compute)

Messages say what failed, where (method and path, or target) and what to do. They never contain a secret:
construct them through :func:`vultr_toolkit._redact.redact` (the constructors here do it for you).

Example (a wrong key on the sandbox):

>>> with vt.Client(api_key="sk-wrong-000000", api_url=sb.api_url) as bad:
...     try:
...         bad.management.get("/account")
...     except vt.AuthenticationError as e:
...         print(e.status, e.path, "sk-wrong" in str(e))
401 /account False
"""

from __future__ import annotations

from typing import Any

from ._redact import redact

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CacheError",
    "ConfigError",
    "InBandStreamError",
    "IncompleteListError",
    "MissingKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "StoreError",
    "StreamError",
    "StreamStalledError",
    "StreamTruncatedError",
    "VultrToolkitError",
    "error_kind",
    "status_error_class",
]


class VultrToolkitError(Exception):
    """Base class of every error raised by vultr_toolkit. Its message is always redacted.

    Errors pickle (they cross Dask worker and process boundaries) with their attributes:

    >>> import pickle
    >>> err = pickle.loads(pickle.dumps(IncompleteListError("short list", received=1, total=2, reason="cap")))
    >>> type(err).__name__, err.received, str(err)
    ('IncompleteListError', 1, 'short list')
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__ (which BaseException's default, cls(*args), does): subclasses take
        # required keyword arguments (IncompleteListError) that args does not hold. __dict__ carries the rest.
        return (_rebuild, (type(self), self.args), self.__dict__)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


def _rebuild(cls: type[VultrToolkitError], args: tuple[Any, ...]) -> VultrToolkitError:
    """Unpickle an error: the instance without ``__init__`` (its message was redacted when it was raised)."""
    err = cls.__new__(cls)
    err.args = args
    return err


class ConfigError(VultrToolkitError, ValueError):
    """A setting or argument is invalid; the message names the variable or argument and how to fix it."""


class StoreError(VultrToolkitError):
    """The history store (SQLite or PostgreSQL) could not be read or written."""


class CacheError(VultrToolkitError):
    """The cache backend failed (raised by plain get/set; get_or_compute degrades instead)."""


class APIError(VultrToolkitError):
    """An HTTP API call failed. ``method`` and ``path`` say which call; ``status`` is None without a response."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        api_message: str | None = None,
    ) -> None:
        self.method = method
        self.path = redact(path) if path is not None else None
        self.status = status
        self.api_message = redact(api_message) if api_message is not None else None
        super().__init__(message)

    @property
    def kind(self) -> str:
        """A short, stable classification used in DataFrames (``error_kind`` columns)."""
        return error_kind(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class APIConnectionError(APIError):
    """The connection failed (refused, reset, DNS); the request may not have reached the server."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or waiting for a pooled connection)."""


class APIResponseError(APIError):
    """The server answered 2xx but the body could not be used (truncated or malformed JSON, missing key)."""


class MissingKeyError(APIResponseError):
    """The body is valid JSON but lacks the expected key (``key``); the API may use another name for it."""

    def __init__(self, message: str, *, key: str | None = None, **kw: Any) -> None:
        self.key = key
        super().__init__(message, **kw)


class IncompleteListError(APIResponseError):
    """A paged list could not be read whole: fewer distinct items than the server's ``meta.total``, or the walk
    stopped on a guard (repeated cursor, page cap, empty page) with no total to prove it complete.

    ``received`` is the number of distinct items read, ``total`` the server's count (None when it sent none),
    ``reason`` the pager's stop reason and ``items`` the distinct items read — nothing read is thrown away.
    """

    def __init__(self, message: str, *, received: int, total: int | None, reason: str | None,
                 items: list[Any] | None = None, **kw: Any) -> None:
        self.received = received
        self.total = total
        self.reason = reason
        self.items = items if items is not None else []
        super().__init__(message, **kw)


class StreamError(APIError):
    """A streamed response failed after the HTTP status line said 200."""


class InBandStreamError(StreamError):
    """The server sent an error event inside an SSE stream (after HTTP 200)."""


class StreamTruncatedError(StreamError):
    """The stream ended (or the connection dropped) before it was complete."""


class StreamStalledError(StreamError):
    """No data arrived on an open stream within the stall timeout."""


class APIStatusError(APIError):
    """The server answered with an error status. ``api_message`` holds the API's own ``error`` text."""


class BadRequestError(APIStatusError):
    """400/422: the request was malformed or failed validation; fix the arguments."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this. Vultr API keys can be restricted to IP ranges in the portal."""


class NotFoundError(APIStatusError):
    """404: no such resource or route."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after_s`` is the server's Retry-After, when it sent one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **kw)


class ServerError(APIStatusError):
    """5xx: the server failed; usually transient (retried automatically for idempotent calls)."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The error class for an HTTP status (``status_error_class(503) is ServerError``)."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return APIStatusError


def error_kind(exc: BaseException) -> str:
    """Classify an exception into the short ``error_kind`` vocabulary used in every DataFrame.

    >>> error_kind(ServerError("boom", status=502))
    'http_5xx'
    """
    if isinstance(exc, RateLimitError):
        return "http_429"
    if isinstance(exc, APIStatusError):
        if exc.status is not None and exc.status >= 500:
            return "http_5xx"
        return f"http_{exc.status}" if exc.status is not None else "http_error"
    if isinstance(exc, InBandStreamError):
        return "in_band_error"
    if isinstance(exc, StreamStalledError):
        return "stalled"
    if isinstance(exc, StreamTruncatedError):
        return "truncated"
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection"
    if isinstance(exc, IncompleteListError):
        return "incomplete"
    if isinstance(exc, APIResponseError):
        return "bad_response"
    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError | OSError):
        return "connection"
    # an error class of a sub-package names its own kind (bench.WorkerLostError: "worker_lost") without this
    # module importing it (no upward import)
    declared = getattr(type(exc), "error_kind", None)
    return declared if isinstance(declared, str) else type(exc).__name__
