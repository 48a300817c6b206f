"""Health: probes of PostgreSQL, Valkey, the inference endpoint and the Vultr API; the monitor; analysis.

Example::

    import vultr_toolkit as vt

    vt.check_health()                                   # one row per target + overall
    hist = vt.HealthMonitor().run(interval_s=30, count=10)
    vt.health.summarize(hist)                           # uptime %, p50/p95/p99 latency, incidents, MTTR
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
