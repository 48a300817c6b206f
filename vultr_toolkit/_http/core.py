"""The HTTP cores: :class:`HTTPCore` and :class:`AsyncHTTPCore`, the drivers every API client builds on.

Configuration, counters, the retry budget and every I/O-free step live once in :class:`_CoreBase`; the two
drivers only do the I/O (build, acquire a rate-limiter slot, send, read), the same trade-off as httpx's
``BaseClient`` with ``Client``/``AsyncClient``. Every attempt, retries included, re-acquires a limiter slot
(:mod:`vultr_toolkit._ratelimit`: reserve, sleep, confirm right before the send), and each retry is logged at
DEBUG on ``vultr_toolkit.http`` (redacted). The package docstring (:mod:`vultr_toolkit._http`) describes the
request methods, streams, deadlines and secrets.

>>> from vultr_toolkit._http.core import HTTPCore
>>> with HTTPCore("http://127.0.0.1:9/v2", name="management") as core:
...     core.stats()["calls"], core.name
(0, 'management')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
import tenacity

from .._errors import APIError, APITimeoutError, ConfigError, RateLimitError
from .._ratelimit import Limiter
from .._redact import fingerprint, redact
from .errors import _decode_json, error_from_exception, error_from_response
from .factory import client_kwargs, key_label_fp
from .responses import APIResponse, AsyncStreamResponse, StreamResponse, _headers
from .retry import RetryPolicy, is_idempotent

__all__ = ["AsyncHTTPCore", "HTTPCore"]

logger = logging.getLogger("vultr_toolkit.http")


def _check_path(path: str) -> str:
    # An absolute URL would make httpx send our Authorization header to whatever host it names.
    if "://" in path.split("?", 1)[0] or path.startswith("//"):
        raise ConfigError(f"path must be relative to the API base URL (like '/instances'), got {redact(path)!r}")
    return path



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

        >>> from vultr_toolkit.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, HTTPCore(sb.api_url, api_key=sb.api_key) as core:
        ...     sorted(core.request_json("GET", "/account"))
        ['account']
        """
        return self.request(method, path, params=params, json=json, idempotent=idempotent,
                            timeout_s=timeout_s, headers=headers).data

    @contextlib.contextmanager
    def stream(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
               idempotent: bool | None = None, timeout_s: float | None = None,
               headers: Mapping[str, str] | None = None) -> Iterator[StreamResponse]:
        """Open a streamed response, retrying only until it is open; then hand it over, never retried.

        >>> from vultr_toolkit.sandbox import Sandbox
        >>> body = {"model": "qwen3.8-27b", "messages": [{"role": "user", "content": "hi"}], "stream": True,
        ...         "max_tokens": 4}
        >>> with Sandbox(seed=0, time_scale=0.01) as sb:
        ...     with HTTPCore(sb.inference_url, api_key=sb.inference_api_key) as core:
        ...         with core.stream("POST", "/chat/completions", json=body) as s:
        ...             events = [line for line in s.iter_lines() if line.startswith("data: ")]
        >>> s.status, events[-1]
        (200, 'data: [DONE]')
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

        >>> import asyncio
        >>> from vultr_toolkit.sandbox import Sandbox
        >>> async def account(url: str, key: str) -> dict:
        ...     async with AsyncHTTPCore(url, api_key=key) as core:
        ...         return await core.request_json("GET", "/account")
        >>> with Sandbox(seed=0) as sb:
        ...     sorted(asyncio.run(account(sb.api_url, sb.api_key)))
        ['account']
        """
        resp = await self.request(method, path, params=params, json=json, idempotent=idempotent,
                                  timeout_s=timeout_s, headers=headers)
        return resp.data

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                     idempotent: bool | None = None, timeout_s: float | None = None,
                     headers: Mapping[str, str] | None = None) -> AsyncIterator[AsyncStreamResponse]:
        """Open a streamed response, retrying only until it is open; then hand it over, never retried.

        >>> import asyncio
        >>> from vultr_toolkit.sandbox import Sandbox
        >>> body = {"model": "qwen3.8-27b", "messages": [{"role": "user", "content": "hi"}], "stream": True,
        ...         "max_tokens": 4}
        >>> async def last_event(url: str, key: str) -> str:
        ...     async with AsyncHTTPCore(url, api_key=key) as core:
        ...         async with core.stream("POST", "/chat/completions", json=body) as s:
        ...             return [line async for line in s.aiter_lines() if line.startswith("data: ")][-1]
        >>> with Sandbox(seed=0, time_scale=0.01) as sb:
        ...     asyncio.run(last_event(sb.inference_url, sb.inference_api_key))
        'data: [DONE]'
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
