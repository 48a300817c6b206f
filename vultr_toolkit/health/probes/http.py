"""HTTP probes: the inference endpoint, the Vultr v2 API and a managed database's usage, over one HTTP core
each (one attempt: a retry would hide the failure the probe exists to see and could overrun its deadline).

>>> from vultr_toolkit.health.probes.http import APIProbe
>>> p = APIProbe("http://127.0.0.1:1/v2", None, timeout_s=0.5)
>>> s = check_once(p)
>>> s.service, s.status, s.error_kind
('api', 'down', 'connection')
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from ..._settings import Settings
from .base import DEFAULT_TIMEOUT_S, Probe, ProbeOutcome, Sample, check_once, elapsed_ms

__all__ = ["DEEP_TIMEOUT_S", "APIProbe", "InferenceProbe", "ManagedDatabaseProbe", "probe_api", "probe_inference",
           "probe_managed_database"]

DEEP_TIMEOUT_S = 30.0


class _HTTPProbe(Probe):
    """A probe that talks to one HTTP API through its own core: one attempt, the probe's timeout, no retries.

    ``core_name`` names the core in logs (``"management-health"`` for the Vultr API, ``"inference-health"``).
    """

    core_name: ClassVar[str] = "management-health"

    def __init__(self, target: str, base_url: str, api_key: str | None, *, timeout_s: float,
                 http_timeout_s: float | None = None) -> None:
        super().__init__(target, timeout_s=timeout_s)
        from ..._http import HTTPCore, RetryPolicy

        http_s = timeout_s if http_timeout_s is None else http_timeout_s
        # One attempt: retries would hide the failure the probe exists to see and could overrun its deadline.
        self._core = HTTPCore(base_url, api_key=api_key, timeout_s=http_s, name=self.core_name,
                              policy=RetryPolicy(attempts=1, deadline_s=http_s))

    def close(self) -> None:
        self._core.close()


class InferenceProbe(_HTTPProbe):
    """The inference endpoint: ``GET /models`` (no tokens spent); ``deep=True`` adds a one-token streamed chat
    completion whose TTFT goes into ``details["ttft_s"]`` (costs money on a real endpoint: run it less often).
    """

    service = "inference"
    core_name = "inference-health"

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 deep: bool = False, model: str | None = None, deep_timeout_s: float = DEEP_TIMEOUT_S) -> None:
        super().__init__(base_url, base_url, api_key, timeout_s=deep_timeout_s + timeout_s if deep else timeout_s,
                         http_timeout_s=timeout_s)
        self.base_url = base_url
        self.deep = deep
        self.model = model
        self._http_timeout_s = timeout_s
        self._deep_timeout_s = deep_timeout_s

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> InferenceProbe:
        """The probe of ``settings.inference_url`` with ``settings.inference_api_key``."""
        return cls(settings.inference_url, settings.secret("inference_api_key"), **kw)

    def _check(self) -> ProbeOutcome:
        t0 = time.perf_counter()
        resp = self._core.request("GET", "/models")
        latency = elapsed_ms(t0)
        data = resp.data if isinstance(resp.data, dict) else {}
        models: list[Any] = data["data"] if isinstance(data.get("data"), list) else []
        ids = [m.get("id") for m in models if isinstance(m, dict) and m.get("id")]
        details: dict[str, Any] = {"model_count": len(models), "http_status": resp.status}
        status, message = "up", None
        if not models:
            status, message = "degraded", "the endpoint lists no models"
        if self.deep:
            from ...api.inference import InferenceAPI

            model = self.model or (ids[0] if ids else None)
            result = InferenceAPI(self._core).chat("ping", model=model, max_tokens=1, stream=True,
                                                   timeout_s=self._deep_timeout_s)
            details.update({"deep_model": model, "ttft_s": result.ttft_s,
                            "deep_latency_ms": round(result.latency_s * 1000, 3)})
        return ProbeOutcome(latency, details, status, message)


class APIProbe(_HTTPProbe):
    """The Vultr v2 API itself: ``GET /account`` latency (needs the API key)."""

    service = "api"

    def __init__(self, base_url: str, api_key: str | None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(base_url.rstrip("/") + "/account", base_url, api_key, timeout_s=timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> APIProbe:
        """The probe of ``settings.api_url`` with ``settings.api_key``."""
        return cls(settings.api_url, settings.secret("api_key"), **kw)

    def _check(self) -> ProbeOutcome:
        t0 = time.perf_counter()
        resp = self._core.request("GET", "/account")
        latency = elapsed_ms(t0)
        return ProbeOutcome(latency, {"http_status": resp.status})


def _pct(value: Any) -> float | None:
    """Vultr documents the usage numbers as strings but sends numbers; accept both."""
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


class ManagedDatabaseProbe(_HTTPProbe):
    """A Vultr managed database's usage (``GET /databases/{id}/usage``): cpu, memory and disk percentages.

    Memory and CPU are Vultr's averages over the last hour, disk is current; Vultr keeps no time series, so
    recording these samples is how you get one. Degraded when any percentage exceeds ``warn_pct``.
    """

    service = "database"

    def __init__(self, base_url: str, api_key: str | None, database_id: str, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S, warn_pct: float = 90.0) -> None:
        super().__init__(f"{base_url.rstrip('/')}/databases/{database_id}", base_url, api_key, timeout_s=timeout_s)
        self.database_id = database_id
        self.warn_pct = warn_pct

    @classmethod
    def from_settings(cls, settings: Settings, database_id: str, **kw: Any) -> ManagedDatabaseProbe:
        """The probe of one database of the account in ``settings``."""
        return cls(settings.api_url, settings.secret("api_key"), database_id, **kw)

    def _check(self) -> ProbeOutcome:
        t0 = time.perf_counter()
        data = self._core.request_json("GET", f"/databases/{self.database_id}/usage")
        latency = elapsed_ms(t0)
        usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
        part: dict[str, dict[str, Any]] = {k: (usage[k] if isinstance(usage.get(k), dict) else {})
                                           for k in ("cpu", "memory", "disk")}
        details: dict[str, Any] = {
            "database_id": self.database_id,
            "cpu_pct": _pct(part["cpu"].get("percentage")),
            "memory_pct": _pct(part["memory"].get("percentage")),
            "disk_pct": _pct(part["disk"].get("percentage")),
            "memory_mb": _pct(part["memory"].get("current_mb")),
            "memory_max_mb": _pct(part["memory"].get("max_mb")),
            "disk_gb": _pct(part["disk"].get("current_gb")),
            "disk_max_gb": _pct(part["disk"].get("max_gb")),
        }
        hot = [k for k in ("cpu_pct", "memory_pct", "disk_pct") if (details[k] or 0) > self.warn_pct]
        if hot:
            shown = ", ".join(f"{k[:-4]} {details[k]:.0f}%" for k in hot)
            return ProbeOutcome(latency, details, "degraded", f"high usage: {shown}")
        return ProbeOutcome(latency, details)


def probe_inference(settings: Settings | None = None, *, deep: bool = False, model: str | None = None,
                    timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe the inference endpoint of ``settings`` once (see :class:`InferenceProbe`).

    >>> from vultr_toolkit import Settings
    >>> probe_inference(Settings(inference_url="http://127.0.0.1:1/v1"), timeout_s=1).status   # a closed port
    'down'
    """
    return check_once(InferenceProbe.from_settings(settings or Settings(), deep=deep, model=model, timeout_s=timeout_s))


def probe_api(settings: Settings | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe the Vultr v2 API of ``settings`` once (``GET /account``; see :class:`APIProbe`).

    >>> from vultr_toolkit import Sandbox
    >>> with Sandbox(seed=0) as sb:
    ...     probe_api(sb.settings()).status
    'up'
    """
    return check_once(APIProbe.from_settings(settings or Settings(), timeout_s=timeout_s))


def probe_managed_database(database_id: str, settings: Settings | None = None, *,
                           timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Record one usage sample of a Vultr managed database (see :class:`ManagedDatabaseProbe`).

    >>> from vultr_toolkit import Client, Sandbox
    >>> with Sandbox(seed=0) as sb:
    ...     db_id = Client(sb.settings()).inventory.databases()["id"].iloc[0]
    ...     sample = probe_managed_database(db_id, sb.settings())
    >>> sample.status, sorted(k for k in sample.details if k.endswith("_pct"))
    ('up', ['cpu_pct', 'disk_pct', 'memory_pct'])
    """
    return check_once(ManagedDatabaseProbe.from_settings(settings or Settings(), database_id, timeout_s=timeout_s))
