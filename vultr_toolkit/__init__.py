"""vultr_toolkit: what you run on Vultr, whether it is healthy, and how fast its inference is — as DataFrames.

Quick start (no account needed: the sandbox emulates the Vultr APIs on 127.0.0.1):

>>> import vultr_toolkit as vt
>>> with vt.Sandbox(seed=0) as sb, vt.Client(sb.settings()) as client:
...     df = client.inventory.instances()
>>> df.shape, df.columns[:4].tolist()                   # one row per instance, typed columns
((25, 36), ['id', 'label', 'hostname', 'region'])

Heavy modules (pandas-based inventory, the benchmark engine, plots, widgets) are imported lazily on first
attribute access (PEP 562), so ``import vultr_toolkit`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CacheError,
    ConfigError,
    InBandStreamError,
    IncompleteListError,
    MissingKeyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StoreError,
    StreamError,
    StreamStalledError,
    StreamTruncatedError,
    VultrToolkitError,
)
from ._redact import install_log_redaction
from ._settings import Settings
from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import bench, health, inventory, plot, report, store, widgets
    from ._http.retry import RetryPolicy
    from ._tls import InsecureTLSWarning
    from .api.management import PaginationWarning
    from .cache import Cache, CacheStats
    from .client import AsyncClient, Client
    from .sandbox import Sandbox

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "AsyncClient": (".client", "AsyncClient"),
    "Cache": (".cache", "Cache"),
    "CacheStats": (".cache", "CacheStats"),
    "Client": (".client", "Client"),
    "HealthMonitor": (".health", "HealthMonitor"),
    "InsecureTLSWarning": ("._tls", "InsecureTLSWarning"),
    "PaginationWarning": (".api.management", "PaginationWarning"),
    "RetryPolicy": ("._http.retry", "RetryPolicy"),
    "Sandbox": (".sandbox", "Sandbox"),
    "bench": (".bench", None),
    "check_health": (".health", "check_health"),
    "get_stats": (".health", "get_stats"),
    "health": (".health", None),
    "inventory": (".inventory", None),
    "plot": (".plot", None),
    "report": (".report", None),
    "store": (".store", None),
    "test_services": (".health", "test_services"),  # deprecated alias of verify_services (not in __all__)
    "verify_services": (".health", "verify_services"),
    "widgets": (".widgets", None),
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Cache",
    "CacheError",
    "CacheStats",
    "Client",
    "ConfigError",
    "HealthMonitor",
    "InBandStreamError",
    "IncompleteListError",
    "InsecureTLSWarning",
    "MissingKeyError",
    "NotFoundError",
    "PaginationWarning",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "Sandbox",
    "ServerError",
    "Settings",
    "StoreError",
    "StreamError",
    "StreamStalledError",
    "StreamTruncatedError",
    "VultrToolkitError",
    "__version__",
    "bench",
    "check_health",
    "get_stats",
    "health",
    "inventory",
    "plot",
    "report",
    "store",
    "verify_services",
    "widgets",
]


def _as_public(obj: Any) -> None:
    """Make a re-exported class or function report ``vultr_toolkit`` as its module, as httpx does for its names.

    ``repr``, ``help()``, tracebacks and pickles then say ``vultr_toolkit.RetryPolicy`` (not the private module
    it lives in); pickle and unpickle resolve that name through this package (lazily, by ``__getattr__``). Doctest
    skips objects whose ``__module__`` is another module, so the object is also listed in its home module's
    ``__test__``: its docstring examples keep running wherever the suite collects that module.
    """
    if not isinstance(obj, type | types.FunctionType) or obj.__module__ == __name__:
        return
    home = sys.modules[obj.__module__]
    home.__dict__.setdefault("__test__", {})[obj.__name__] = obj
    obj.__module__ = __name__


for _name in __all__:
    if _name in globals():  # the eager names; the lazy ones are made public when first loaded
        _as_public(globals()[_name])
del _name


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'vultr_toolkit' has no attribute {name!r}") from None
    module = importlib.import_module(module_name, __name__)
    value = module if attr is None else getattr(module, attr)
    if attr is not None:
        _as_public(value)
    globals()[name] = value  # cache: the next access is a plain attribute lookup
    return value


def __dir__() -> list[str]:
    return __all__


install_log_redaction()
