"""Run metadata for reports: when, with which versions, against what — secrets only as fingerprints.

Example::

    >>> from vultr_toolkit import Settings
    >>> meta = run_metadata(Settings(api_key="sk-example-000000"))
    >>> meta["settings"]["api_key"].startswith("sha256:"), "sk-example" in str(meta)
    (True, False)
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import sys
from typing import Any

from pydantic import SecretStr

from .._redact import fingerprint, redact, redact_url
from .._settings import Settings
from .._version import __version__

__all__ = ["run_metadata", "settings_view"]

_PACKAGES = ("pandas", "numpy", "matplotlib", "pyarrow", "jinja2", "httpx2", "aiohttp", "sqlalchemy")
_KEYS = ("api_key", "inference_api_key")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def settings_view(settings: Settings) -> dict[str, str | float | int | None]:
    """Every setting as display text: keys as ``sha256:…`` fingerprints, URLs that may hold a password with it
    masked, everything else as is.

    >>> settings_view(Settings())["rate_limit"]
    20.0
    """
    out: dict[str, str | float | int | None] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            out[name] = None
        elif name in _KEYS and isinstance(value, SecretStr):
            out[name] = fingerprint(value.get_secret_value())
        elif isinstance(value, SecretStr):
            out[name] = redact_url(value.get_secret_value())
        elif isinstance(value, str):
            out[name] = redact(value)
        else:
            out[name] = value
    return out


def run_metadata(settings: Settings | None = None, **extra: Any) -> dict[str, Any]:
    """``generated_at``, toolkit / Python / library versions, platform, and (when given) the settings view.

    ``extra`` keys are added as they are (they must be JSON-safe and secret-free).
    """
    meta: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "vultr_toolkit": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "packages": {p: v for p in _PACKAGES if (v := _version(p)) is not None},
    }
    if settings is not None:
        meta["settings"] = settings_view(settings)
    meta.update(extra)
    return meta
