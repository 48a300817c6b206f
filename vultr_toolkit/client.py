"""``vt.Client`` and ``vt.AsyncClient``: one object per account that holds settings and HTTP cores.

A client owns one HTTP core per API (``management`` for Vultr v2, ``inference`` for the OpenAI-compatible
endpoint), each with its retry policy and budget; cores for the same base URL and key share one rate limiter
with every other client in the process (and across processes with ``VULTR_TOOLKIT_LIMITER_URL``).

Resources hang off the client and receive it, so other modules plug in without touching this file's logic:

* ``client.management`` — :class:`vultr_toolkit.api.management.ManagementAPI` (``AsyncManagementAPI``)
* ``client.inference``  — ``vultr_toolkit.api.inference.InferenceAPI(client)`` (``AsyncInferenceAPI``), lazy
* ``client.inventory``  — ``vultr_toolkit.inventory.InventoryAPI(client)`` (``AsyncInventoryAPI``), lazy

Those build on :meth:`Client.http_core`: ``client.http_core("inference")`` returns the (cached) core for the
inference API; ``client.http_core("name", base_url=..., api_key=..., policy=..., limiter=...)`` makes any other.

Example::

    >>> import vultr_toolkit as vt
    >>> with vt.Client(api_key="sk-example-000000", api_url="http://127.0.0.1:9/v2") as client:
    ...     "sk-example" in repr(client)
    False
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any, Generic, TypeVar

from ._errors import ConfigError
from ._http import AsyncHTTPCore, HTTPCore, RetryPolicy, key_label
from ._ratelimit import Limiter, shared_limiter
from ._settings import Settings
from .api.management import AsyncManagementAPI, ManagementAPI

__all__ = ["AsyncClient", "Client", "resolve_settings"]

CoreT = TypeVar("CoreT", HTTPCore, AsyncHTTPCore)

_SUM_KEYS = ("calls", "requests", "retries", "retries_denied", "errors", "rate_limited", "limiter_waits",
             "limiter_wait_s")
_UNSET: Any = object()


def resolve_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Explicit overrides > the given Settings > environment/.env > defaults; validated like ``Settings(...)``.

    >>> resolve_settings(Settings(rate_limit=5), rate_burst=2).rate_burst
    2
    """
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; valid names: "
                          f"{', '.join(Settings.model_fields)}")
    if settings is None:
        return Settings(**overrides)
    if not overrides:
        return settings
    values = {name: getattr(settings, name) for name in Settings.model_fields}
    values.update(overrides)
    return Settings(**values)  # re-validated: a bad override fails here, naming the variable


def _lazy_resource(module: str, cls: str, feature: str, client: Any, core: Callable[[], Any] | None = None) -> Any:
    """Import ``module.cls`` on first use and build it; a clear error while it does not exist.

    Built with ``cls.from_client(client)`` when the class offers it, else ``cls(core())`` when a core factory is
    given (the inference API takes its HTTP core), else ``cls(client)``.
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and module.startswith(e.name):
            raise AttributeError(f"{feature} is not available: module {module} is not part of this build") from None
        raise
    factory = getattr(mod, cls, None)
    if factory is None:
        raise AttributeError(f"{feature} is not available: {module}.{cls} is not defined in this build")
    if hasattr(factory, "from_client"):
        return factory.from_client(client)
    return factory(core()) if core is not None else factory(client)


class _ClientBase(Generic[CoreT]):
    _core_cls: type[CoreT]

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        retry: RetryPolicy | None = None,
        transport: Any = None,
        verify: bool | str = True,
        allow_insecure: bool = False,
        **overrides: Any,
    ) -> None:
        if settings is not None and not isinstance(settings, Settings):
            # A URL is ambiguous here (management /v2 or inference /v1?), so refuse rather than guess.
            raise ConfigError(f"settings: {type(self).__name__}() takes a vt.Settings or None, got "
                              f"{type(settings).__name__}; pass e.g. vt.Settings(api_url=...) or "
                              f"vt.Settings(inference_url=...), or keyword overrides such as api_url=...")
        self.settings = resolve_settings(settings, **overrides)
        self._retry = retry
        self._transport = transport
        self._verify = verify
        self._allow_insecure = allow_insecure
        self._cores: dict[str, CoreT] = {}
        self._cores_lock = threading.Lock()
        if verify is False and not allow_insecure:
            raise ConfigError("verify=False turns off TLS certificate checks; pass allow_insecure=True to accept "
                              "that risk explicitly")

    # -- HTTP cores ---------------------------------------------------------------------------------------------
    def _preset(self, name: str) -> dict[str, Any]:
        s = self.settings
        if name == "management":
            key = s.secret("api_key")
            return {
                "base_url": s.api_url,
                "api_key": key,
                "policy": self._retry or RetryPolicy(deadline_s=max(30.0, s.timeout_s)),
                "limiter": shared_limiter(s.api_url, key, rate=s.rate_limit, burst=s.rate_burst,
                                          limiter_url=s.secret("limiter_url")),
            }
        if name == "inference":
            # No request limiter by default: benchmarks measure the server at the concurrency they choose.
            return {
                "base_url": s.inference_url,
                "api_key": s.secret("inference_api_key"),
                "policy": self._retry or RetryPolicy.for_inference(max(120.0, s.timeout_s)),
                "limiter": None,
            }
        return {}

    def http_core(
        self,
        name: str = "management",
        *,
        base_url: str | None = None,
        api_key: str | None = _UNSET,
        policy: RetryPolicy | None = None,
        limiter: Limiter | None = _UNSET,
        timeout_s: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> CoreT:
        """The HTTP core called ``name``, created on first use and then cached (closed with the client).

        ``management`` and ``inference`` are preconfigured from settings; keyword arguments override the preset
        (or configure a new name) and only apply when the core is first created.

        >>> client.http_core("inference").request_json("GET", "/models")["data"][0]["id"]
        'qwen3.8-27b'
        """
        with self._cores_lock:
            core = self._cores.get(name)
            if core is not None:
                return core
            cfg = self._preset(name)
            overrides = {"base_url": base_url, "policy": policy}
            cfg.update({k: v for k, v in overrides.items() if v is not None})
            if api_key is not _UNSET:
                cfg["api_key"] = api_key
            if limiter is not _UNSET:
                cfg["limiter"] = limiter
            if "base_url" not in cfg:
                raise ConfigError(f"http_core({name!r}) needs base_url= (only 'management' and 'inference' are "
                                  "preconfigured)")
            core = self._core_cls(
                cfg["base_url"],
                api_key=cfg.get("api_key"),
                timeout_s=timeout_s or self.settings.timeout_s,
                policy=cfg.get("policy") or self._retry,
                limiter=cfg.get("limiter"),
                verify=self._verify,
                allow_insecure=self._allow_insecure,
                headers=headers,
                name=name,
                transport=self._transport,
            )
            self._cores[name] = core
            return core

    # -- introspection ------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Request counters summed over this client's APIs (calls, requests, retries, retries_denied, errors,
        rate_limited, limiter_waits, limiter_wait_s), the retry budget left per API (``budget_tokens``), and
        ``by_api`` with each core's details (including its limiter's grants and waits).

        >>> with vt.Client(sb.settings()) as c:
        ...     _ = c.management.get("/account")
        ...     c.stats()["requests"], c.stats()["retries"]
        (1, 0)
        """
        with self._cores_lock:
            cores = dict(self._cores)
        by_api = {name: core.stats() for name, core in cores.items()}
        out: dict[str, Any] = {k: sum(s[k] for s in by_api.values()) for k in _SUM_KEYS}
        out["limiter_wait_s"] = round(out["limiter_wait_s"], 6)
        out["budget_tokens"] = {name: s["budget_tokens"] for name, s in by_api.items()}
        out["by_api"] = by_api
        return out

    def __repr__(self) -> str:
        s = self.settings
        parts = [f"api_url={s.api_url!r}", f"key={key_label(s.secret('api_key'))}"]
        if s.inference_api_key is not None:
            parts += [f"inference_url={s.inference_url!r}",
                      f"inference_key={key_label(s.secret('inference_api_key'))}"]
        return f"{type(self).__name__}({', '.join(parts)})"


class Client(_ClientBase[HTTPCore]):
    """The sync client: ``vt.Client(settings=None, **overrides)``.

    Works inside Jupyter's running event loop (it uses a sync HTTP client, no asyncio). Thread-safe.

    >>> with vt.Sandbox(seed=0) as sb, vt.Client(sb.settings()) as client:
    ...     client.management.paginate("/instances", "instances")[0]["label"]
    'batch-bom-00000'
    """

    _core_cls = HTTPCore

    @cached_property
    def management(self) -> ManagementAPI:
        """The Vultr v2 API: ``get``, ``post``, ``paginate``, ``iter_items``."""
        return ManagementAPI(self.http_core("management"))

    @cached_property
    def inference(self) -> Any:
        """The OpenAI-compatible inference API (``vultr_toolkit.api.inference.InferenceAPI``)."""
        return _lazy_resource("vultr_toolkit.api.inference", "InferenceAPI", "client.inference", self,
                              lambda: self.http_core("inference"))

    @cached_property
    def inventory(self) -> Any:
        """Inventory DataFrames and snapshots (``vultr_toolkit.inventory.InventoryAPI``)."""
        return _lazy_resource("vultr_toolkit.inventory", "InventoryAPI", "client.inventory", self)

    def close(self) -> None:
        """Close every connection pool this client opened (shared rate limiters stay for other clients).

        ``stats()`` keeps working afterwards; requests do not.
        """
        with self._cores_lock:
            cores = list(self._cores.values())
        for core in cores:
            core.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_ClientBase[AsyncHTTPCore]):
    """The async client: ``vt.AsyncClient(settings=None, **overrides)``; use ``async with`` or ``await aclose()``.

    >>> import asyncio
    >>> async def main():
    ...     async with vt.AsyncClient(sb.settings()) as client:
    ...         return await client.management.get("/account")
    >>> asyncio.run(main())["account"]["email"]
    'ops+0@example.com'
    """

    _core_cls = AsyncHTTPCore

    @cached_property
    def management(self) -> AsyncManagementAPI:
        """The Vultr v2 API, awaited: ``get``, ``post``, ``paginate``, ``iter_items``."""
        return AsyncManagementAPI(self.http_core("management"))

    @cached_property
    def inference(self) -> Any:
        """The OpenAI-compatible inference API (``vultr_toolkit.api.inference.AsyncInferenceAPI``)."""
        return _lazy_resource("vultr_toolkit.api.inference", "AsyncInferenceAPI", "client.inference", self,
                              lambda: self.http_core("inference"))

    @cached_property
    def inventory(self) -> Any:
        """Inventory DataFrames and snapshots (``vultr_toolkit.inventory.AsyncInventoryAPI``)."""
        return _lazy_resource("vultr_toolkit.inventory", "AsyncInventoryAPI", "client.inventory", self)

    async def aclose(self) -> None:
        """Close every connection pool this client opened (``stats()`` keeps working)."""
        with self._cores_lock:
            cores = list(self._cores.values())
        for core in cores:
            await core.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
