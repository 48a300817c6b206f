"""What the HTTP cores hand back: :class:`APIResponse` (a decoded JSON object) and the opened streams.

A stream is handed over only once its status line said success; errors while reading it become
:class:`~vultr_toolkit.StreamTruncatedError` (connection dropped, incomplete body) or
:class:`~vultr_toolkit.StreamStalledError` (read timeout), and are never retried.

>>> from vultr_toolkit._http.responses import APIResponse
>>> APIResponse(200, {"content-type": "application/json"}, {"account": {}}, attempts=2).attempts
2
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from .._errors import APIError
from .errors import error_from_exception

__all__ = ["APIResponse", "AsyncStreamResponse", "StreamResponse"]


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

