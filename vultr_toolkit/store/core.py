"""HistoryStore: the one SQL store of health samples and of bundles (benchmark runs, inventory snapshots, ...).

The store is generic: it knows bundles only through the :class:`~vultr_toolkit.store.bundles.Bundle` protocol
and imports no domain module; each type saves and loads itself (``res.save(store)``,
``BenchmarkResult.load(store, run_id)``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .._errors import StoreError, VultrToolkitError
from .._redact import redact
from .._settings import Settings
from .._store_compat import DeprecatedLoaders
from . import bundles, history
from .bundles import B, Bundle
from .engine import create_store_engine, display_url
from .schema import metadata

__all__ = ["HistoryStore", "as_store", "using_store"]

T = TypeVar("T")
_SCHEMA_LOCK_KEY = 0x7674_6B5F_7374  # "vtk_st": the advisory lock serialising schema creation


class HistoryStore(DeprecatedLoaders):
    """Health histories, benchmark runs and inventory snapshots in SQLite or PostgreSQL (SQLAlchemy Core).

    ``url``: ``sqlite:///path/file.sqlite`` or ``postgresql://user:pw@host/db`` (pinned to psycopg2); default
    ``Settings.store_url()`` — ``VULTR_TOOLKIT_STORE`` or a SQLite file in the user data directory. Tables are
    created on first use, so a store whose database is down can still be constructed (a monitor buffers until it
    is back). Database failures raise :class:`~vultr_toolkit.StoreError` with a redacted message.

    Example::

        store = vt.store.HistoryStore("sqlite:///health.sqlite")
        store.write_samples(monitor.run(count=3, interval_s=1))
        df = store.health_history(since="24h", services=["postgres"])
        store.prune(older_than="30d")
    """

    def __init__(self, url: str | None = None, *, settings: Settings | None = None, **engine_kw: Any) -> None:
        if url is None:
            url = (settings or Settings()).store_url()
        self._url = display_url(url)
        self.engine: Engine = create_store_engine(url, **engine_kw)
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    # --- plumbing ------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The store URL with any password masked."""
        return self._url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return str(self.engine.dialect.name)

    def __repr__(self) -> str:
        return f"HistoryStore({self._url!r})"

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (the store stays usable; it reconnects on demand)."""
        self.engine.dispose()

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Create the schema if needed, run ``fn(engine, ...)``, turn database errors into a redacted StoreError."""
        try:
            self.ensure_schema()
            return fn(self.engine, *args, **kw)
        except VultrToolkitError:
            raise
        except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as e:
            # The fast paths use the DBAPI cursor directly, so driver errors arrive unwrapped too.
            raise StoreError(f"history store {self._url}: {what} failed: {_first_line(e)}") from None

    def ensure_schema(self) -> None:
        """Create the tables and indexes if they do not exist (called automatically before first use)."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            last: BaseException | None = None
            for _ in range(3):
                try:
                    self._create_schema()
                    break
                except (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as e:
                    last = e
                    # Lost a creation race (SQLite: "table ... already exists"): the next checkfirst pass sees
                    # the tables. Anything else (unreachable, no permission) would only fail again.
                    text = str(e).lower()
                    if "already exists" not in text and "duplicate" not in text:
                        raise StoreError(f"history store {self._url}: cannot create tables: "
                                         f"{_first_line(e)}") from None
            else:
                assert last is not None
                raise StoreError(f"history store {self._url}: cannot create tables: {_first_line(last)}") from None
            self._schema_ready = True

    def _create_schema(self) -> None:
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # DDL is transactional on PostgreSQL: one creator at a time, the others then find the tables.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            elif self.dialect == "sqlite":
                # pysqlite runs DDL outside any transaction, so concurrent creators interleave table by table.
                # Taking the write lock first (others wait on busy_timeout) makes check-then-create atomic.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            metadata.create_all(conn, checkfirst=True)

    def ping(self) -> bool:
        """True when the database answers a trivial query (used by the monitor to decide when to re-flush)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    # --- health samples -----------------------------------------------------------------------------------
    def write_samples(self, samples: pd.DataFrame | Iterable[Any], *, monitor_id: str | None = None) -> int:
        """Insert health samples in one batched transaction; returns how many were given.

        Samples whose ``sample_id`` is already stored are skipped, so retrying a failed flush never duplicates.

        >>> store = HistoryStore("sqlite://")
        >>> store.write_samples([{"checked_at": "2026-01-01T00:00Z", "service": "valkey",
        ...                       "target": "redis://127.0.0.1:6379/0", "status": "up", "latency_ms": 0.3}])
        1
        """
        return self._call("writing samples", history.write_samples, samples, monitor_id=monitor_id)

    def health_history(self, since: Any = None, until: Any = None, *, services: Sequence[str] | None = None,
                       targets: Sequence[str] | None = None, monitor_ids: Sequence[str] | None = None,
                       ) -> pd.DataFrame:
        """Stored samples as a DataFrame (columns and dtypes: :data:`vultr_toolkit.store.SAMPLE_DTYPES`).

        ``since``/``until``: datetimes, ISO strings, or durations before now ("24h", ``timedelta(days=7)``);
        ``until`` is exclusive. ``services``/``targets``/``monitor_ids`` filter by exact value.

        >>> HistoryStore("sqlite://").health_history(since="24h").shape
        (0, 10)
        """
        return self._call("reading health history", history.read_samples, since=since, until=until,
                          services=services, targets=targets, monitor_ids=monitor_ids)

    def prune(self, older_than: Any) -> int:
        """Delete health samples older than ``older_than`` ("30d", a timedelta or a datetime); returns the count.

        >>> HistoryStore("sqlite://").prune(older_than="30d")
        0
        """
        return self._call("pruning samples", history.prune_samples, older_than)

    # --- bundles ------------------------------------------------------------------------------------------
    def save_frames(self, kind: str, meta: Mapping[str, Any], frames: Mapping[str, pd.DataFrame], *,
                    run_id: str | None = None) -> str:
        """Store a bundle (``meta`` JSON + named DataFrames, dtype-exact) and return its run id.

        >>> store = HistoryStore("sqlite://")
        >>> rid = store.save_frames("demo", {"model": "m"}, {"t": pd.DataFrame({"x": [1]})}, run_id="r1")
        >>> store.load_frames(rid)[0]
        {'model': 'm'}
        """
        return self._call(f"saving a {kind!r} bundle", bundles.save_bundle, kind, meta, frames, run_id=run_id)

    def save(self, obj: Bundle, *, run_id: str | None = None) -> str:
        """Store ``obj`` (any :class:`~vultr_toolkit.store.bundles.Bundle`) under its kind; returns the run id.

        The one id policy: ``run_id`` if given, else the id ``obj`` already has (saving again replaces that run),
        else a new :func:`~vultr_toolkit.store.bundles.new_run_id` of its kind. ``obj.run_id`` is set first (so
        ``to_frames`` may record it) and put back if the save fails, so an unsaved object never looks saved.
        """
        previous = obj.run_id
        rid = obj.run_id = run_id or previous or bundles.new_run_id(obj.KIND)
        try:
            meta, frames = obj.to_frames()
            return self.save_frames(obj.KIND, meta, frames, run_id=rid)
        except BaseException:
            obj.run_id = previous
            raise

    def load(self, run_id: str, cls: type[B]) -> B:
        """The stored run ``run_id`` as a ``cls`` (with ``run_id`` set); StoreError if it is of another kind.

        >>> store = HistoryStore("sqlite://")
        >>> store.load("benchmark-none", type("Kind", (), {"KIND": "benchmark"}))   # doctest: +ELLIPSIS
        Traceback (most recent call last):
        vultr_toolkit.StoreError: no stored run with run_id 'benchmark-none'; ...
        """
        meta, frames = self._call(f"loading run {run_id!r}", bundles.load_bundle, run_id, kind=cls.KIND)
        obj = cls.from_frames(meta, frames)
        obj.run_id = run_id
        return obj

    def load_frames(self, run_id: str) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
        """``(meta, frames)`` of a stored bundle; raises StoreError for an unknown run id."""
        return self._call(f"loading run {run_id!r}", bundles.load_bundle, run_id)

    def list_runs(self, kind: str | None = None) -> pd.DataFrame:
        """Stored bundles of ``kind`` (all kinds when None), newest first: run_id, kind, created_at + meta scalars.

        >>> list(HistoryStore("sqlite://").list_runs("benchmark").columns)
        ['run_id', 'kind', 'created_at']
        """
        return self._call("listing runs", bundles.list_bundles, kind)

    def delete_run(self, run_id: str) -> bool:
        """Delete a stored bundle; True if it existed."""
        return self._call(f"deleting run {run_id!r}", bundles.delete_bundle, run_id)

    def benchmark_runs(self) -> pd.DataFrame:
        """Stored benchmark runs (``list_runs("benchmark")``)."""
        return self.list_runs(bundles.BENCHMARK_KIND)

    def inventory_snapshots(self) -> pd.DataFrame:
        """Stored inventory snapshots (``list_runs("inventory")``)."""
        return self.list_runs(bundles.INVENTORY_KIND)


def _first_line(exc: BaseException) -> str:
    """The driver's own first message line (SQLAlchemy appends SQL and parameters we must not show), redacted."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return redact(text.splitlines()[0]) if text else type(orig).__name__


def as_store(store: HistoryStore | str | None = None) -> HistoryStore:
    """A HistoryStore from a store, a URL, or None (the default store) — what ``obj.save(store)`` accepts.

    >>> as_store("sqlite://").dialect
    'sqlite'
    """
    if isinstance(store, HistoryStore):
        return store
    return HistoryStore(store)


@contextlib.contextmanager
def using_store(store: HistoryStore | str | None = None) -> Iterator[HistoryStore]:
    """:func:`as_store` for one operation: closes the store on exit only if it opened it (a URL or None).

    What every ``obj.save(store)`` / ``Type.load(store, run_id)`` uses, so a store the caller passed stays open
    for the caller and one opened from a URL does not keep its connection pool until garbage collection.

    >>> with using_store("sqlite://") as st:
    ...     st.dialect
    'sqlite'
    """
    if isinstance(store, HistoryStore):
        yield store
        return
    opened = HistoryStore(store)
    try:
        yield opened
    finally:
        opened.close()
