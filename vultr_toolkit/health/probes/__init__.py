"""Health probes: each returns one :class:`Sample` and never raises.

=============================  ===========  =====================================================================
probe                          service      what it measures
=============================  ===========  =====================================================================
:class:`PostgresProbe`         postgres     timed ``SELECT 1`` in one read-only transaction with a statement
                                            timeout; version, connections used / max_connections, database
                                            size, cache hit ratio, replication lag (replicas: 0 when caught
                                            up, None on primaries and before a replica replayed anything),
                                            pool statistics
:class:`ValkeyProbe`           valkey       median of 3 timed PINGs; INFO server/clients/memory/stats/
                                            replication/keyspace; ops/s and hit ratio from counter deltas
                                            between probes (a restart that resets the counters is detected)
:class:`InferenceProbe`        inference    ``GET /models`` latency and model count; ``deep=True`` adds a
                                            one-token streamed chat completion and its TTFT
:class:`APIProbe`              api          ``GET /account`` latency on the Vultr v2 API
:class:`ManagedDatabaseProbe`  database     ``GET /databases/{id}/usage``: cpu / memory / disk percentages
=============================  ===========  =====================================================================

A probe never takes longer than ``timeout_s`` + 10 %: the blocking work runs in a daemon thread and the caller
stops waiting at the deadline (a down sample with ``error_kind="timeout"``); while that thread is still stuck, the
next check of the same probe fails fast instead of piling up threads. Drivers get the same timeout (libpq
``connect_timeout``, socket timeouts, HTTP timeouts), so a stuck thread ends on its own soon after.

Samples never hold a secret: ``target`` is the endpoint with its password and query removed, ``message`` and
``details`` are redacted (:func:`vultr_toolkit._redact.redact`).

One module per probe (``postgres``, ``valkey``, ``http``) on the shared :mod:`~.base` (the deadline machinery);
what a probe returns is :mod:`vultr_toolkit.health.sample`, how failures are named :mod:`vultr_toolkit.health.classify`.
This package re-exports all of it, so ``from vultr_toolkit.health.probes import ...`` works for every name.

Example::

    >>> from vultr_toolkit.health import probe_valkey
    >>> probe_valkey("redis://127.0.0.1:1/0", timeout_s=0.5).status
    'down'
"""

from __future__ import annotations

from ..classify import classify, display_target, failure_message
from ..sample import ProbeOutcome, Sample
from .base import DEFAULT_TIMEOUT_S, Probe, check_once, elapsed_ms
from .http import (
    DEEP_TIMEOUT_S,
    APIProbe,
    InferenceProbe,
    ManagedDatabaseProbe,
    probe_api,
    probe_inference,
    probe_managed_database,
)
from .postgres import CONNECTIONS_WARN_RATIO, PostgresProbe, probe_postgres
from .valkey import ValkeyCounters, ValkeyProbe, probe_valkey, valkey_details, valkey_rates

__all__ = [
    "CONNECTIONS_WARN_RATIO",
    "DEEP_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "APIProbe",
    "InferenceProbe",
    "ManagedDatabaseProbe",
    "PostgresProbe",
    "Probe",
    "ProbeOutcome",
    "Sample",
    "ValkeyCounters",
    "ValkeyProbe",
    "check_once",
    "classify",
    "display_target",
    "elapsed_ms",
    "failure_message",
    "probe_api",
    "probe_inference",
    "probe_managed_database",
    "probe_postgres",
    "probe_valkey",
    "valkey_details",
    "valkey_rates",
]
