"""PostgreSQL health: a timed ``SELECT 1`` in one read-only transaction with a statement timeout, plus server
metrics (version, connections used / max_connections, database size, cache hit ratio, replication lag) and the
probe's own pool statistics.

>>> from vultr_toolkit.health.probes.postgres import PostgresProbe
>>> PostgresProbe("postgresql://app:pw@127.0.0.1:5432/db").target
'postgresql://app@127.0.0.1:5432/db'
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from ..._redact import register_url_passwords
from ..._settings import normalize_db_url
from ..._tls import secure_postgres_url
from .base import DEFAULT_TIMEOUT_S, Probe, ProbeOutcome, Sample, check_once, elapsed_ms

__all__ = ["CONNECTIONS_WARN_RATIO", "PostgresProbe", "probe_postgres"]

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
            connect_ms = elapsed_ms(t_conn)
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.statement_timeout_s * 1000)}")
                t0 = time.perf_counter()
                conn.execute(sa.text("SELECT 1")).scalar()
                latency = elapsed_ms(t0)
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


def probe_postgres(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe a PostgreSQL server once (see :class:`PostgresProbe`).

    >>> probe_postgres("postgresql://u@127.0.0.1:1/db", timeout_s=3).error_kind   # a closed port
    'connection'
    """
    return check_once(PostgresProbe(url, timeout_s=timeout_s))
