"""The original TypeScript integration's vocabulary, for users coming from it (origin/style-shepherd-…md).

Each name is a thin alias of a ``client.inventory`` method (available there too), not a second implementation:

==============================  ===========================================  =========================================
original (vultr-management.ts)  here                                         REST route of the original
==============================  ===========================================  =========================================
``getAccountInfo()``            ``get_account_info(client)``                 ``GET /api/vultr/management/account``
``listDatabases()``             ``list_databases(client, engine=None)``      ``GET /api/vultr/management/databases``
``getDatabase(id)``             ``get_database(client, id)``                 ``GET …/databases/:id``
``getDatabaseHealth(id)``       ``get_database_health(client, id)``          ``GET …/databases/:id/health``
``listValkey()``                ``list_valkey(client)``                      ``GET /api/vultr/management/valkey``
``listInstances()``             ``list_instances(client)``                   ``GET /api/vultr/management/instances``
``getInfrastructureSummary()``  ``get_infrastructure_summary(client)``       ``GET /api/vultr/management/summary``
==============================  ===========================================  =========================================

They return DataFrames (a one-row frame for single objects) — the toolkit's answer type — except
``get_database_health``, which returns a :class:`DatabaseHealth` (``.to_dict()`` for JSON). With a
``vt.AsyncClient`` each returns an awaitable.

Example::

    >>> import vultr_toolkit as vt
    >>> from vultr_toolkit.inventory import aliases
    >>> with vt.Sandbox(seed=0) as sb, vt.Client(sb.settings()) as client:
    ...     valkey = aliases.list_valkey(client)
    ...     health = aliases.get_database_health(client, valkey["id"].iloc[0])
    >>> valkey["label"].tolist()
    ['valkey-db-002', 'valkey-db-003']
    >>> health.to_dict()["engine"], health.to_dict()["status"]
    ('valkey', 'running')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .._redact import redact
from .frames import backup_time

__all__ = [
    "ALIASES",
    "DatabaseHealth",
    "database_health",
    "get_account_info",
    "get_database",
    "get_database_health",
    "get_infrastructure_summary",
    "list_databases",
    "list_instances",
    "list_valkey",
]

#: original camelCase name -> toolkit name (the ``client.inventory`` method and the function here).
ALIASES: dict[str, str] = {
    "getAccountInfo": "get_account_info",
    "listDatabases": "list_databases",
    "getDatabase": "get_database",
    "getDatabaseHealth": "get_database_health",
    "listValkey": "list_valkey",
    "listInstances": "list_instances",
    "getInfrastructureSummary": "get_infrastructure_summary",
}


@dataclass(frozen=True)
class DatabaseHealth:
    """One managed database's health: usage (last hour), recent alerts and backups.

    * ``usage`` — one-row frame (``database_usage`` schema: cpu_pct, memory_pct, memory_used_mb, disk_pct, …);
    * ``alerts`` — one row per alert of the requested period (``database_alerts`` schema);
    * ``latest_backup_at`` / ``oldest_backup_at`` — from ``GET /databases/{id}/backups`` (None if unknown).
    """

    database_id: str
    label: str | None
    engine: str | None
    status: str | None
    usage: pd.DataFrame
    alerts: pd.DataFrame
    latest_backup_at: pd.Timestamp | None
    oldest_backup_at: pd.Timestamp | None
    fetched_at: pd.Timestamp

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (timestamps as ISO strings, missing numbers as None), e.g. for a REST response.

        >>> db = client.inventory.valkey()["id"].iloc[0]
        >>> d = client.inventory.get_database_health(db).to_dict()
        >>> d["usage"]["memory_max_mb"], d["alert_count"], d["latest_backup_at"]
        (2048.0, 0, '2026-11-24T20:00:00+00:00')
        """
        def plain(v: Any) -> Any:
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                return None
            if isinstance(v, pd.Timestamp):
                return None if pd.isna(v) else v.isoformat()
            if hasattr(v, "item"):
                return v.item()
            return v

        usage_cols = [c for c in self.usage.columns if not c.startswith("_") and c not in ("id", "label")]
        usage = {c: plain(self.usage.iloc[0][c]) for c in usage_cols} if len(self.usage) else {}
        alerts = [{c: plain(row[c]) for c in self.alerts.columns if not c.startswith("_") and c != "database_id"}
                  for _, row in self.alerts.iterrows()]
        return {
            "database_id": self.database_id, "label": self.label, "engine": self.engine, "status": self.status,
            "usage": usage, "alerts": alerts, "alert_count": len(alerts),
            "latest_backup_at": plain(self.latest_backup_at), "oldest_backup_at": plain(self.oldest_backup_at),
            "fetched_at": plain(self.fetched_at),
        }

    def __repr__(self) -> str:
        cpu = self.usage["cpu_pct"].iloc[0] if len(self.usage) else None
        return (f"DatabaseHealth({redact(self.database_id)!r}, engine={self.engine!r}, status={self.status!r}, "
                f"cpu_pct={cpu}, alerts={len(self.alerts)}, latest_backup_at={self.latest_backup_at})")


def _text(v: Any, lower: bool = False) -> str | None:
    if v is None or v == "":
        return None
    s = str(v).strip()
    return s.lower() if lower else s


def database_health(db: Mapping[str, Any], *, usage: pd.DataFrame, alerts: pd.DataFrame,
                    backups: Mapping[str, Any] | None, fetched_at: pd.Timestamp) -> DatabaseHealth:
    """Assemble a :class:`DatabaseHealth` from the already-built parts (pure; used by ``client.inventory``)."""
    b = backups or {}
    return DatabaseHealth(
        database_id=str(db.get("id")), label=_text(db.get("label")), engine=_text(db.get("database_engine"), True),
        status=_text(db.get("status"), True), usage=usage, alerts=alerts,
        latest_backup_at=backup_time(b.get("latest_backup")) or _latest_from_db(db),
        oldest_backup_at=backup_time(b.get("oldest_backup")), fetched_at=fetched_at,
    )


def _latest_from_db(db: Mapping[str, Any]) -> pd.Timestamp | None:
    v = db.get("latest_backup")
    if not isinstance(v, str) or not v:
        return None
    ts = pd.to_datetime(v.strip().strip('"'), utc=True, errors="coerce", format="ISO8601")
    return None if pd.isna(ts) else pd.Timestamp(ts)


# --- module-level aliases taking a client (sync values, or awaitables with vt.AsyncClient) ---------------------
def get_account_info(client: Any) -> Any:
    """``client.inventory.get_account_info()``: the account as a one-row frame."""
    return client.inventory.get_account_info()


def list_databases(client: Any, engine: str | None = None) -> Any:
    """``client.inventory.list_databases(engine)``: every managed database (or one engine's)."""
    return client.inventory.list_databases(engine=engine)


def get_database(client: Any, database_id: str) -> Any:
    """``client.inventory.get_database(id)``: one database as a one-row frame."""
    return client.inventory.get_database(database_id)


def get_database_health(client: Any, database_id: str, *, period: str = "day") -> Any:
    """``client.inventory.get_database_health(id)``: usage + recent alerts + latest backup."""
    return client.inventory.get_database_health(database_id, period=period)


def list_valkey(client: Any) -> Any:
    """``client.inventory.list_valkey()``: managed Valkey databases."""
    return client.inventory.list_valkey()


def list_instances(client: Any) -> Any:
    """``client.inventory.list_instances()``: compute instances."""
    return client.inventory.list_instances()


def get_infrastructure_summary(client: Any, *, progress: bool = False) -> Any:
    """``client.inventory.get_infrastructure_summary()``: count and monthly cost per type × region."""
    return client.inventory.get_infrastructure_summary(progress=progress)
