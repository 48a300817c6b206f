"""The resilient HTTP layer: the only part of vultr_toolkit that imports httpx2.

It serves every HTTP API the toolkit talks to — Vultr v2 (management) and any OpenAI-compatible inference
endpoint — through one small internal API that other modules build on. A client's core for the management API
(``HTTPCore(base_url, api_key=..., limiter=shared_limiter(...), policy=RetryPolicy(), timeout_s=30,
name="management")`` builds one by hand), here on the sandbox:

>>> core = client.http_core("management")
>>> len(core.request_json("GET", "/instances", params={"per_page": 2})["instances"])   # -> dict, typed errors
2
>>> resp = core.request("GET", "/account")   # -> APIResponse(status, headers, data, attempts, elapsed_s)
>>> resp.status, list(resp.data), resp.attempts
(200, ['account'], 1)

``core.stream("POST", "/chat/completions", json=body)`` is a context manager (retried only until it opens) with
``iter_lines()`` / ``iter_bytes()``, ``status`` and ``headers``; ``core.stats()`` and ``core.close()`` finish.
:class:`AsyncHTTPCore` has the same methods, awaited (``async with core.stream(...) as s: async for line in
s.aiter_lines()``).

Every request method takes ``params``, ``json``, ``idempotent`` (None = by method; True lets a read-only POST be
retried after 5xx), ``timeout_s`` (read timeout for this call) and ``headers`` (this call only). Paths are
relative to the base URL. Non-2xx answers raise; 3xx too, because redirects are never followed (a redirect must
not carry the key to another host). A JSON body that is not an object raises :class:`APIResponseError`; an empty
body (204) gives ``{}``.

Pieces, one concept per module (pure logic once, thin sync and async drivers):

* :mod:`~vultr_toolkit._http.factory` — :func:`client_kwargs` / :func:`make_client` / :func:`make_async_client`:
  Bearer auth (an :class:`httpx2.Auth` whose repr hides the key), ``User-Agent: vultr-toolkit/<version>``,
  ``Accept: application/json``, timeouts, TLS verification on (turning it off needs ``allow_insecure=True``).
* :mod:`~vultr_toolkit._http.errors` — :func:`error_from_response` / :func:`error_from_exception`: a status or an
  httpx2 exception -> the typed errors of :mod:`vultr_toolkit._errors`, each with a private retry hint.
* :mod:`~vultr_toolkit._http.retry` — :class:`RetryPolicy` (tenacity; ``vt.RetryPolicy``), :class:`RetryBudget`,
  :func:`should_retry`, :func:`parse_retry_after` (``retry-after-ms``, ``Retry-After`` seconds or HTTP-date);
  its docstring has the table of which failures are retried.
* :mod:`~vultr_toolkit._http.responses` — :class:`APIResponse`, :class:`StreamResponse`,
  :class:`AsyncStreamResponse`.
* :mod:`~vultr_toolkit._http.core` — :class:`HTTPCore` / :class:`AsyncHTTPCore`, the drivers. ``stats()`` returns
  counters (``calls``, ``requests``, ``retries``, ``retries_denied``, ``budget_tokens``, ``limiter_waits``, ...).

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

>>> from vultr_toolkit._http import HTTPCore, RetryPolicy
>>> from vultr_toolkit.sandbox import Sandbox
>>> with Sandbox(seed=0) as sb, HTTPCore(sb.api_url, api_key=sb.api_key, policy=RetryPolicy()) as core:
...     resp = core.request("GET", "/regions")
>>> resp.status, "regions" in resp.data, resp.attempts
(200, True, 1)
"""

from __future__ import annotations

from .core import AsyncHTTPCore, HTTPCore
from .errors import error_from_exception, error_from_response, extract_api_message
from .factory import USER_AGENT, client_kwargs, key_label, make_async_client, make_client
from .responses import APIResponse, AsyncStreamResponse, StreamResponse
from .retry import (
    IDEMPOTENT_METHODS,
    RetryBudget,
    RetryHint,
    RetryPolicy,
    is_idempotent,
    parse_retry_after,
    retry_hint,
    should_retry,
)

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
