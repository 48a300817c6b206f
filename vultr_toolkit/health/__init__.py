"""Health: probes of PostgreSQL, Valkey, the inference endpoint and the Vultr API; the monitor; analysis.

Example (the ``VULTR_*`` environment points at the sandbox here; in real use ``interval_s=30`` or so):

>>> vt.check_health()[["service", "status"]].values.tolist()   # one row per target + overall
[['inference', 'up'], ['api', 'up'], ['overall', 'up']]
>>> with vt.HealthMonitor() as mon:
...     run = mon.run(interval_s=0.05, count=2, progress=False)
>>> vt.health.summarize(run)[["service", "samples", "uptime_pct"]].values.tolist()   # + p50/p95/p99, MTTR
[['api', 2, 100.0], ['inference', 2, 100.0], ['overall', 2, 100.0]]
"""

from __future__ import annotations

from .analysis import details_frame, incidents, summarize
from .monitor import HealthMonitor
from .probes import (
    APIProbe,
    InferenceProbe,
    ManagedDatabaseProbe,
    PostgresProbe,
    Probe,
    Sample,
    ValkeyProbe,
    probe_api,
    probe_inference,
    probe_managed_database,
    probe_postgres,
    probe_valkey,
)
from .utils import check_health, get_stats, test_services, verify_services

__all__ = [
    "APIProbe",
    "HealthMonitor",
    "InferenceProbe",
    "ManagedDatabaseProbe",
    "PostgresProbe",
    "Probe",
    "Sample",
    "ValkeyProbe",
    "check_health",
    "details_frame",
    "get_stats",
    "incidents",
    "probe_api",
    "probe_inference",
    "probe_managed_database",
    "probe_postgres",
    "probe_valkey",
    "summarize",
    "test_services",
    "verify_services",
]
