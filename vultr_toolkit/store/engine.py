"""Engine creation for the history store: URL normalisation, SQLite pragmas, PostgreSQL connect options.

SQLite: every connection gets ``journal_mode=WAL`` (readers never block the writer), ``synchronous=NORMAL`` (WAL
stays consistent; only the last commits can be lost on power loss), ``busy_timeout`` (a second writer waits
instead of failing with "database is locked") and ``foreign_keys=ON``. PostgreSQL URLs are pinned to psycopg2,
the driver the toolkit declares (SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3), with a connect
timeout, TCP keepalives and a ``statement_timeout`` so an unreachable or wedged store fails instead of stalling
a monitor's writer (a server that is stopped but whose kernel still ACKs is only bounded by the writer's waits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from .._errors import ConfigError
from .._redact import check_url_userinfo, redact_url, register_secret
from .._settings import normalize_db_url
from .._tls import secure_postgres_url

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "create_store_engine", "display_url"]

SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_MS = 30_000
# libpq TCP keepalives: a peer that vanished (no RST) is noticed after ~10 + 3*5 s instead of the kernel's 2 h.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def _parse(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    try:
        u = make_url(normalize_db_url(url))
    except Exception:
        raise ConfigError(f"invalid history store URL {redact_url(str(url))!r}; use sqlite:///path/to/file.sqlite "
                          "or postgresql://user:password@host:5432/dbname (VULTR_TOOLKIT_STORE)") from None
    if u.get_backend_name() == "sqlite" and (u.host or u.port or u.username):
        # sqlite://nope/x parses, then SQLAlchemy's ArgumentError only surfaces at create_engine.
        raise ConfigError(f"invalid history store URL {redact_url(str(url))!r}: a SQLite URL has no host "
                          f"({u.host!r}); use three slashes for a file, sqlite:///relative/x.sqlite or "
                          "sqlite:////abs/x.sqlite (VULTR_TOOLKIT_STORE)")
    return u


def display_url(url: str | URL) -> str:
    """The store URL without its password, for reprs and messages.

    >>> display_url("postgresql://app:pw123456@db/h")
    'postgresql+psycopg2://app:***@db/h'
    """
    return _parse(url).render_as_string(hide_password=True)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def create_store_engine(url: str | URL, **engine_kw: Any) -> Engine:
    """An engine for a history store URL (``sqlite:///file``, ``sqlite://`` in memory, or PostgreSQL).

    The SQLite file's directory is created if missing.

    >>> create_store_engine("sqlite://").dialect.name
    'sqlite'
    """
    u = _parse(check_url_userinfo(url, "the store URL") if isinstance(url, str) else url)
    if u.password:
        register_secret(str(u.password))
    backend = u.get_backend_name()
    if backend == "sqlite":
        database = u.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        if not database or database == ":memory:":
            # One shared in-memory database for every connection of this engine (tests, throwaway stores).
            engine_kw.setdefault("poolclass", sa.pool.StaticPool)
            engine_kw.setdefault("connect_args", {"check_same_thread": False})
        engine = sa.create_engine(u, **engine_kw)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if backend == "postgresql":
        if u.get_driver_name() != "psycopg2":
            u = u.set(drivername="postgresql+psycopg2")
        # TLS: sslmode raised to require for a non-local host (a weaker explicit mode warns); see _tls.
        u = _parse(secure_postgres_url(u.render_as_string(hide_password=False)))
        connect_args = dict(engine_kw.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
        for key, value in PG_KEEPALIVES.items():
            if key not in u.query:
                connect_args.setdefault(key, value)
        if "options" not in u.query and "options" not in connect_args:
            # A statement stuck behind a lock or a wedged backend fails instead of holding the writer forever.
            connect_args["options"] = f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS}"
        engine_kw.setdefault("pool_pre_ping", True)  # a restarted server leaves dead pooled connections behind
        return sa.create_engine(u, connect_args=connect_args, **engine_kw)
    raise ConfigError(f"unsupported history store backend {backend!r} in {display_url(u)!r}; use sqlite:/// or "
                      "postgresql:// (VULTR_TOOLKIT_STORE)")
