"""The httpx2 client factory: Bearer auth whose repr hides the key, ``User-Agent``, timeouts and TLS checks.

:func:`client_kwargs` is the one place the httpx2 options come from, for :func:`make_client`,
:func:`make_async_client` and both HTTP cores, so sync and async clients cannot drift. Redirects are never
followed (a redirect must not carry the key to another host) and TLS verification stays on unless
``allow_insecure=True`` says so explicitly.

>>> from vultr_toolkit._http.factory import make_client
>>> with make_client("http://127.0.0.1:9/v2", api_key="sk-example-000000") as client:
...     "sk-example" in repr(client.auth), str(client.base_url)
(False, 'http://127.0.0.1:9/v2/')
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Mapping
from typing import Any

import httpx2

from .._errors import ConfigError
from .._redact import fingerprint, redact
from .._version import __version__

__all__ = ["USER_AGENT", "client_kwargs", "key_label", "key_label_fp", "make_async_client", "make_client"]

USER_AGENT = f"vultr-toolkit/{__version__}"


def key_label_fp(fp: str) -> str:
    """``<sha256:…>`` for a fingerprint, ``<unset>`` as is (for reprs)."""
    return fp if fp.startswith("<") else f"<{fp}>"


def key_label(key: str | None) -> str:
    """How reprs show a key: ``<sha256:1a2b3c4d>`` or ``<unset>``, never the key.

    >>> key_label(None)
    '<unset>'
    """
    return key_label_fp(fingerprint(key))

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
