"""Pure error mapping: an error status or an httpx2 exception becomes a typed error of :mod:`vultr_toolkit._errors`.

Each error names the method and path, the status and the API's own message (JSON ``error``, OpenAI
``error.message``, ``message``, or the HTML/text page Vultr serves during maintenance) plus a hint of what to do,
and carries a private :class:`~vultr_toolkit._http.retry.RetryHint` that the retry policy reads. No I/O here
(the transport-error mapping sits beside the error tree, as httpx keeps ``map_httpcore_exceptions`` by its
transport).

>>> from vultr_toolkit._http.errors import error_from_response
>>> err = error_from_response("GET", "/account", 401, {}, b'{"error": "Invalid API token."}')
>>> type(err).__name__, err.api_message
('AuthenticationError', 'Invalid API token.')
"""

from __future__ import annotations

import html
import json as jsonlib
import re
from collections.abc import Mapping
from typing import Any, Literal

import httpx2

from .._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    StreamStalledError,
    StreamTruncatedError,
    status_error_class,
)
from .._redact import redact
from .retry import RetryHint, RetryWhen, _attach, parse_retry_after

__all__ = ["error_from_exception", "error_from_response", "extract_api_message"]

_MAX_API_MESSAGE = 300


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

    >>> import httpx2
    >>> from vultr_toolkit._http.retry import retry_hint
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
