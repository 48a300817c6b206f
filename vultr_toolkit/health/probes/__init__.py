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

Example::

    >>> from vultr_toolkit.health import probe_valkey
    >>> probe_valkey("redis://127.0.0.1:1/0", timeout_s=0.5).status
    'down'
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import statistics
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from ..._errors import APIError, ConfigError, error_kind
from ..._redact import check_url_userinfo, drop_url_password, redact, redact_obj, register_url_passwords
from ..._settings import Settings, normalize_db_url
from ..._tls import check_redis_url, secure_postgres_url
from ...store.schema import new_sample_id, to_epoch_us

__all__ = [
    "APIProbe",
    "InferenceProbe",
    "ManagedDatabaseProbe",
    "PostgresProbe",
    "Probe",
    "ProbeOutcome",
    "Sample",
    "ValkeyCounters",
    "ValkeyProbe",
    "classify",
    "display_target",
    "probe_api",
    "probe_inference",
    "probe_managed_database",
    "probe_postgres",
    "probe_valkey",
    "valkey_rates",
]

DEFAULT_TIMEOUT_S = 5.0
DEEP_TIMEOUT_S = 30.0
_MESSAGE_MAX = 500


# --- the sample ------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One probe result (a row of a health history; see :data:`vultr_toolkit.store.SAMPLE_DTYPES`)."""

    checked_at: dt.datetime
    service: str
    target: str
    status: str  # up | degraded | down | maintenance
    latency_ms: float | None = None
    error_kind: str | None = None
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    monitor_id: str | None = None
    sample_id: str = ""

    def __post_init__(self) -> None:
        # Redact on construction, so nothing downstream (frames, logs, the store) ever sees a raw secret.
        self.target = redact(self.target)
        if self.message is not None:
            self.message = redact(self.message)[:_MESSAGE_MAX]
        self.details = redact_obj(self.details)
        if not self.sample_id:
            self.sample_id = new_sample_id(to_epoch_us(self.checked_at))

    @property
    def ok(self) -> bool:
        """True for up and degraded (the service answers)."""
        return self.status in ("up", "degraded")


@dataclass
class ProbeOutcome:
    """What a probe's check returns when the service answered."""

    latency_ms: float | None
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "up"  # or "degraded"
    message: str | None = None


# --- error classification ----------------------------------------------------------------------------------------
_TEXT_KINDS: tuple[tuple[str, str], ...] = (
    ("password authentication failed", "auth"),
    ("wrongpass", "auth"),
    ("noauth", "auth"),
    ("invalid username-password", "auth"),
    ("authentication", "auth"),
    ("noperm", "permission"),
    ("permission denied", "permission"),
    ("statement timeout", "timeout"),
    ("timeout expired", "timeout"),
    ("timed out", "timeout"),
    ("connection refused", "connection"),
    ("could not connect", "connection"),
    ("could not translate host name", "dns"),
    ("name or service not known", "dns"),
    ("temporary failure in name resolution", "dns"),
    ("does not exist", "not_found"),
    ("server closed the connection", "connection"),
    ("no such file or directory", "connection"),  # libpq: the Unix socket is missing (server not running)
    ("connection reset", "connection"),
    ("terminating connection", "connection"),
    ("the database system is starting up", "starting"),
    ("the database system is shutting down", "connection"),
    ("loading the dataset in memory", "starting"),
    ("invalid dsn", "config"),
    ("invalid port", "config"),
    ("invalid integer value", "config"),
)


def classify(exc: BaseException) -> str:
    """A short, stable ``error_kind`` for any probe failure (auth, timeout, connection, dns, config, http_...).

    >>> classify(TimeoutError())
    'timeout'
    """
    if isinstance(exc, APIError | ConfigError):
        return error_kind(exc)
    if isinstance(exc, ImportError):  # e.g. psycopg2 or redis not installed
        return "missing_dependency"
    text = f"{type(exc).__name__} {exc}".lower()
    for needle, kind in _TEXT_KINDS:
        if needle in text:
            return kind
    name = type(exc).__name__
    if name in ("ArgumentError", "ValueError", "NoSuchModuleError", "InvalidURL") or ("url" in text and "invalid" \
            in text):
        return "config"
    if "timeout" in name.lower():
        return "timeout"
    if "connection" in name.lower() or name == "OperationalError" or isinstance(exc, ConnectionError):
        return "connection"
    if "auth" in name.lower():
        return "auth"
    return error_kind(exc)


_EXTRAS = {"psycopg2": "postgres", "redis": "valkey"}


def _message(exc: BaseException) -> str:
    if isinstance(exc, ImportError) and exc.name:
        extra = _EXTRAS.get(exc.name.split(".")[0])
        hint = f"pip install 'vultr-toolkit[{extra}]'" if extra else f"pip install {exc.name}"
        return f"{exc.name} is not installed: {hint}"
    exc = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error and appends SQL text
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return redact(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def display_target(url: str) -> str:
    """An endpoint URL with its credentials removed (password and query string; the user name stays).

    >>> display_target("postgresql+psycopg2://app:pw@db.example:5432/prod?sslmode=require")
    'postgresql://app@db.example:5432/prod'
    """
    # Drop the password first, reading it the widest way (up to the last '@'): urllib alone ends the authority
    # at '?', so "u:pw?x@h" parsed as host "u", port "pw" and the fallback below showed the "pw".
    url = drop_url_password(url)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (f"{parts.username}@" if parts.username else "") + host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit((scheme, netloc, parts.path, "", ""))
    except ValueError:  # malformed (e.g. a non-numeric port): show what we can, without the password
        return redact(re.sub(r"(://[^/@:]*):[^@/]*@", r"\1@", url.split("?", 1)[0]))


# --- the base class --------------------------------------------------------------------------------------------------
class Probe(ABC):
    """A health check of one target. :meth:`check` never raises and returns within ``timeout_s`` + 10 %.

    Subclasses implement :meth:`_check` (may raise; the base class turns exceptions into down samples).
    """

    service: ClassVar[str] = "custom"

    def __init__(self, target: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise ConfigError(f"timeout_s must be positive, got {timeout_s!r}")
        self.target = display_target(check_url_userinfo(target, "the probe URL")) if "://" in target else target
        self.timeout_s = float(timeout_s)
        self._busy: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r}, timeout_s={self.timeout_s})"

    @abstractmethod
    def _check(self) -> ProbeOutcome:
        """Do the blocking work; raise on failure."""

    def close(self) -> None:  # noqa: B027 - optional hook: most probes hold nothing
        """Release connections held between checks."""

    def _sample(self, started: dt.datetime, status: str, *, latency_ms: float | None = None,
                error_kind: str | None = None, message: str | None = None,
                details: dict[str, Any] | None = None) -> Sample:
        return Sample(checked_at=started, service=self.service, target=self.target, status=status,
                      latency_ms=latency_ms, error_kind=error_kind, message=message, details=details or {})

    def check(self) -> Sample:
        """Run the probe once: one :class:`Sample` (status up, degraded or down), never an exception."""
        started = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        with self._lock:
            if self._busy is not None and self._busy.is_alive():
                return self._sample(started, "down", error_kind="timeout",
                                    message=f"{self.service} probe of {self.target}: the previous check is still "
                                            f"blocked after {self.timeout_s:g}s; not starting another")
            box: dict[str, Any] = {}

            def work() -> None:
                try:
                    box["outcome"] = self._check()
                except BaseException as e:
                    box["error"] = e

            worker = threading.Thread(target=work, name=f"vtk-probe-{self.service}", daemon=True)
            self._busy = worker
            worker.start()
        # 5 % headroom for the thread start and the sample itself keeps the whole call under timeout + 10 %.
        worker.join(max(0.0, self.timeout_s * 1.05 - (time.monotonic() - t0)))
        if worker.is_alive():
            return self._sample(started, "down", error_kind="timeout",
                                message=f"{self.service} probe of {self.target} gave no answer within "
                                        f"{self.timeout_s:g}s")
        if "error" in box:
            exc = box["error"]
            return self._sample(started, "down", error_kind=classify(exc), message=_message(exc),
                                details={"elapsed_ms": round((time.monotonic() - t0) * 1000, 3)})
        out: ProbeOutcome = box["outcome"]
        return self._sample(started, out.status, latency_ms=out.latency_ms, message=out.message,
                            details=out.details)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


# --- PostgreSQL ---------------------------------------------------------------------------------------------------
_PG_METRICS_SQL = """
SELECT current_setting('server_version') AS version,
       current_setting('server_version_num')::int AS version_num,
       pg_is_in_recovery() AS is_replica,
       current_setting('max_connections')::int AS max_connections,
       (SELECT count(*) FROM pg_stat_activity) AS connections_used,
       pg_database_size(current_database()) AS db_size_bytes,
       (SELECT sum(blks_hit)::float8 / nullif(sum(blks_hit + blks_read), 0) FROM pg_stat_database)
           AS cache_hit_ratio,
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END AS replication_lag_s
"""
CONNECTIONS_WARN_RATIO = 0.8


class PostgresProbe(Probe):
    """PostgreSQL health (SQLAlchemy + psycopg2). The engine (one pooled connection) lives between checks so
    ``pool`` statistics mean something; a server restart is survived through ``pool_pre_ping``.

    >>> PostgresProbe("postgresql://app:pw@127.0.0.1:5432/db").target
    'postgresql://app@127.0.0.1:5432/db'
    """

    service = "postgres"

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, statement_timeout_s: float = 2.0,
                 connections_warn_ratio: float = CONNECTIONS_WARN_RATIO) -> None:
        super().__init__(url, timeout_s=timeout_s)
        self._url = normalize_db_url(url)
        register_url_passwords(url)
        self.statement_timeout_s = min(statement_timeout_s, timeout_s)
        self.connections_warn_ratio = connections_warn_ratio
        self._engine: Any = None
        self._engine_lock = threading.Lock()

    def _get_engine(self) -> Any:
        with self._engine_lock:
            if self._engine is None:
                import sqlalchemy as sa

                self._engine = sa.create_engine(
                    secure_postgres_url(self._url), pool_size=1, max_overflow=2, pool_pre_ping=True,
                    pool_timeout=self.timeout_s,
                    # libpq takes whole seconds and treats values below 2 as 2.
                    connect_args={"connect_timeout": max(2, math.ceil(self.timeout_s)),
                                  "application_name": "vultr-toolkit-health"})
            return self._engine

    def _check(self) -> ProbeOutcome:
        import sqlalchemy as sa

        engine = self._get_engine()
        t_conn = time.perf_counter()
        with engine.connect() as conn:
            connect_ms = _ms(t_conn)
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.statement_timeout_s * 1000)}")
                t0 = time.perf_counter()
                conn.execute(sa.text("SELECT 1")).scalar()
                latency = _ms(t0)
                row = conn.execute(sa.text(_PG_METRICS_SQL)).mappings().one()
        details: dict[str, Any] = {k: (float(v) if isinstance(v, float) else v) for k, v in row.items()}
        details["connect_ms"] = connect_ms
        details.update(_pool_stats(engine))
        status, message = "up", None
        used, cap = details.get("connections_used"), details.get("max_connections")
        if used is not None and cap and used / cap > self.connections_warn_ratio:
            status, message = "degraded", f"{used} of {cap} connections in use"
        return ProbeOutcome(latency, details, status, message)

    def pool_stats(self) -> dict[str, Any]:
        """The probe engine's pool statistics (empty before the first check)."""
        return _pool_stats(self._engine) if self._engine is not None else {}

    def close(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _pool_stats(engine: Any) -> dict[str, Any]:
    from sqlalchemy.pool import QueuePool

    pool = engine.pool
    if not isinstance(pool, QueuePool):  # other pools only describe themselves as a string
        return {"pool_status": pool.status()}
    return {"pool_size": pool.size(), "pool_checked_out": pool.checkedout(), "pool_checked_in": pool.checkedin(),
            # overflow() starts at -pool_size; report connections opened beyond the pool instead
            "pool_overflow": max(0, pool.overflow())}


# --- Valkey / Redis --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValkeyCounters:
    """The INFO counters rates are derived from, with when they were read."""

    at: float  # time.monotonic()
    uptime_s: int
    run_id: str
    commands: int
    hits: int
    misses: int

    @classmethod
    def from_info(cls, info: Mapping[str, Any], at: float) -> ValkeyCounters:
        return cls(at=at, uptime_s=int(info.get("uptime_in_seconds", 0)), run_id=str(info.get("run_id", "")),
                   commands=int(info.get("total_commands_processed", 0)), hits=int(info.get("keyspace_hits", 0)),
                   misses=int(info.get("keyspace_misses", 0)))


def valkey_rates(prev: ValkeyCounters | None, cur: ValkeyCounters) -> dict[str, Any]:
    """ops/s and hit ratio between two INFO reads; ``counter_reset`` when the server restarted in between.

    A restart shows as a new ``run_id``, a smaller ``uptime_in_seconds`` or a counter that went down; rates are
    then unknown (None) for this interval instead of negative.

    >>> a = ValkeyCounters(0.0, 100, "r1", 1000, 80, 20)
    >>> valkey_rates(a, ValkeyCounters(10.0, 110, "r1", 1500, 170, 30))
    {'ops_per_s': 50.0, 'hit_ratio': 0.9, 'counter_reset': False}
    """
    if prev is None:
        return {"ops_per_s": None, "hit_ratio": None, "counter_reset": False}
    reset = (cur.run_id != prev.run_id or cur.uptime_s < prev.uptime_s or cur.commands < prev.commands
             or cur.hits < prev.hits or cur.misses < prev.misses)
    dt_s = cur.at - prev.at
    if reset or dt_s <= 0:
        return {"ops_per_s": None, "hit_ratio": None, "counter_reset": reset}
    d_hits, d_misses = cur.hits - prev.hits, cur.misses - prev.misses
    return {"ops_per_s": round((cur.commands - prev.commands) / dt_s, 3),
            "hit_ratio": round(d_hits / (d_hits + d_misses), 6) if d_hits + d_misses else None,
            "counter_reset": False}


_INFO_KEYS = ("redis_version", "valkey_version", "server_name", "redis_mode", "role", "connected_clients",
              "blocked_clients", "maxclients", "used_memory", "used_memory_rss", "maxmemory",
              "mem_fragmentation_ratio", "uptime_in_seconds", "total_commands_processed", "keyspace_hits",
              "keyspace_misses", "evicted_keys", "expired_keys", "rejected_connections", "loading",
              "connected_slaves", "master_link_status", "master_last_io_seconds_ago", "rdb_last_bgsave_status")


def valkey_details(info: Mapping[str, Any]) -> dict[str, Any]:
    """The INFO fields a health sample keeps, normalised across Redis 7 and Valkey 8.

    ``version`` is Valkey's own version when the server reports one (Valkey also reports a Redis-compatible
    ``redis_version``), ``server`` says which it is, ``keys`` sums every database.
    """
    d: dict[str, Any] = {k: info[k] for k in _INFO_KEYS if k in info}
    d["server"] = str(info.get("server_name") or ("valkey" if "valkey_version" in info else "redis"))
    d["version"] = str(info.get("valkey_version") or info.get("redis_version") or "")
    d["keys"] = sum(int(v.get("keys", 0)) for k, v in info.items() if k.startswith("db") and isinstance(v, dict))
    if "uptime_in_seconds" in d:
        d["uptime_s"] = d.pop("uptime_in_seconds")
    return d


class ValkeyProbe(Probe):
    """Valkey / Redis health (redis-py). Keeps one connection and the previous INFO counters between checks.

    >>> ValkeyProbe("redis://:pw@127.0.0.1:6379/0").target
    'redis://127.0.0.1:6379/0'
    """

    service = "valkey"
    pings = 3

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_warn_ratio: float = 0.9) -> None:
        super().__init__(url, timeout_s=timeout_s)
        self._url = url
        register_url_passwords(url)
        self.memory_warn_ratio = memory_warn_ratio
        self._client: Any = None
        self._prev: ValkeyCounters | None = None

    def _get_client(self) -> Any:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            url = self._url.replace("valkey://", "redis://", 1).replace("valkeys://", "rediss://", 1)
            # No automatic retries: a probe reports what one attempt saw, within its own deadline.
            self._client = redis.Redis.from_url(check_redis_url(url), socket_timeout=self.timeout_s,
                                                socket_connect_timeout=self.timeout_s, retry=Retry(NoBackoff(), 0),
                                                health_check_interval=0, client_name="vultr-toolkit-health")
        return self._client

    def _check(self) -> ProbeOutcome:
        client = self._get_client()
        try:
            times = []
            for _ in range(self.pings):
                t0 = time.perf_counter()
                client.ping()
                times.append(_ms(t0))
            info = client.info("server", "clients", "memory", "stats", "replication", "keyspace")
        except Exception:
            # Drop the connection pool: after a server restart it only holds dead sockets.
            self._client = None
            with contextlib.suppress(Exception):
                client.close()
            raise
        cur = ValkeyCounters.from_info(info, time.monotonic())
        details = valkey_details(info)
        details.update(valkey_rates(self._prev, cur))
        details["ping_ms"] = times
        self._prev = cur
        status, message = "up", None
        used, cap = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0) or 0)
        if str(info.get("loading", 0)) == "1":
            status, message = "degraded", "server is loading its dataset"
        elif details.get("role") == "slave" and details.get("master_link_status") not in (None, "up"):
            status, message = "degraded", "replica has lost its primary"
        elif cap and used / cap > self.memory_warn_ratio:
            status, message = "degraded", f"memory {used / cap:.0%} of maxmemory"
        return ProbeOutcome(statistics.median(times), details, status, message)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


# --- HTTP APIs -------------------------------------------------------------------------------------------------------
def _http_core(base_url: str, api_key: str | None, timeout_s: float, name: str) -> Any:
    from ..._http import HTTPCore, RetryPolicy

    # One attempt: retries would hide the failure the probe exists to see and could overrun its deadline.
    return HTTPCore(base_url, api_key=api_key, timeout_s=timeout_s, name=name,
                    policy=RetryPolicy(attempts=1, deadline_s=timeout_s))


class InferenceProbe(Probe):
    """The inference endpoint: ``GET /models`` (no tokens spent); ``deep=True`` adds a one-token streamed chat
    completion whose TTFT goes into ``details["ttft_s"]`` (costs money on a real endpoint: run it less often).
    """

    service = "inference"

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 deep: bool = False, model: str | None = None, deep_timeout_s: float = DEEP_TIMEOUT_S) -> None:
        super().__init__(base_url, timeout_s=deep_timeout_s + timeout_s if deep else timeout_s)
        self.base_url = base_url
        self.deep = deep
        self.model = model
        self._http_timeout_s = timeout_s
        self._deep_timeout_s = deep_timeout_s
        self._core = _http_core(base_url, api_key, timeout_s, "inference-health")

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> InferenceProbe:
        """The probe of ``settings.inference_url`` with ``settings.inference_api_key``."""
        return cls(settings.inference_url, settings.secret("inference_api_key"), **kw)

    def _check(self) -> ProbeOutcome:
        t0 = time.perf_counter()
        resp = self._core.request("GET", "/models")
        latency = _ms(t0)
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

    def close(self) -> None:
        self._core.close()


class APIProbe(Probe):
    """The Vultr v2 API itself: ``GET /account`` latency (needs the API key)."""

    service = "api"

    def __init__(self, base_url: str, api_key: str | None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(base_url.rstrip("/") + "/account", timeout_s=timeout_s)
        self._core = _http_core(base_url, api_key, timeout_s, "management-health")

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> APIProbe:
        """The probe of ``settings.api_url`` with ``settings.api_key``."""
        return cls(settings.api_url, settings.secret("api_key"), **kw)

    def _check(self) -> ProbeOutcome:
        t0 = time.perf_counter()
        resp = self._core.request("GET", "/account")
        latency = _ms(t0)
        return ProbeOutcome(latency, {"http_status": resp.status})

    def close(self) -> None:
        self._core.close()


def _pct(value: Any) -> float | None:
    """Vultr documents the usage numbers as strings but sends numbers; accept both."""
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


class ManagedDatabaseProbe(Probe):
    """A Vultr managed database's usage (``GET /databases/{id}/usage``): cpu, memory and disk percentages.

    Memory and CPU are Vultr's averages over the last hour, disk is current; Vultr keeps no time series, so
    recording these samples is how you get one. Degraded when any percentage exceeds ``warn_pct``.
    """

    service = "database"

    def __init__(self, base_url: str, api_key: str | None, database_id: str, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S, warn_pct: float = 90.0) -> None:
        super().__init__(f"{base_url.rstrip('/')}/databases/{database_id}", timeout_s=timeout_s)
        self.database_id = database_id
        self.warn_pct = warn_pct
        self._core = _http_core(base_url, api_key, timeout_s, "management-health")

    @classmethod
    def from_settings(cls, settings: Settings, database_id: str, **kw: Any) -> ManagedDatabaseProbe:
        """The probe of one database of the account in ``settings``."""
        return cls(settings.api_url, settings.secret("api_key"), database_id, **kw)

    def _check(self) -> ProbeOutcome:
        t0 = time.perf_counter()
        data = self._core.request_json("GET", f"/databases/{self.database_id}/usage")
        latency = _ms(t0)
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

    def close(self) -> None:
        self._core.close()


# --- one-shot functions -----------------------------------------------------------------------------------------------
def _once(probe: Probe) -> Sample:
    try:
        return probe.check()
    finally:
        probe.close()


def probe_postgres(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe a PostgreSQL server once (see :class:`PostgresProbe`).

    >>> probe_postgres("postgresql://u@127.0.0.1:1/db", timeout_s=3).error_kind   # doctest: +SKIP
    'connection'
    """
    return _once(PostgresProbe(url, timeout_s=timeout_s))


def probe_valkey(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe a Valkey / Redis server once (see :class:`ValkeyProbe`).

    >>> probe_valkey("redis://127.0.0.1:1/0", timeout_s=0.5).error_kind
    'connection'
    """
    return _once(ValkeyProbe(url, timeout_s=timeout_s))


def probe_inference(settings: Settings | None = None, *, deep: bool = False, model: str | None = None,
                    timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe the inference endpoint of ``settings`` once (see :class:`InferenceProbe`).

    >>> probe_inference(vt.Settings(inference_url="http://127.0.0.1:1/v1")).status   # doctest: +SKIP
    'down'
    """
    return _once(InferenceProbe.from_settings(settings or Settings(), deep=deep, model=model, timeout_s=timeout_s))


def probe_api(settings: Settings | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe the Vultr v2 API of ``settings`` once (``GET /account``; see :class:`APIProbe`).

    >>> probe_api(sb.settings()).latency_ms   # doctest: +SKIP
    """
    return _once(APIProbe.from_settings(settings or Settings(), timeout_s=timeout_s))


def probe_managed_database(database_id: str, settings: Settings | None = None, *,
                           timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Record one usage sample of a Vultr managed database (see :class:`ManagedDatabaseProbe`).

    >>> probe_managed_database("9a3c...", sb.settings()).details["cpu_pct"]   # doctest: +SKIP
    """
    return _once(ManagedDatabaseProbe.from_settings(settings or Settings(), database_id, timeout_s=timeout_s))
