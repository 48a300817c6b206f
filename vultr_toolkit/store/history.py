"""Health samples in SQL: batched writes, history reads and pruning.

The frame they write and read (columns, dtypes, coercion) is :mod:`vultr_toolkit.store.samples`; its names are
re-exported here so ``from vultr_toolkit.store.history import coerce_samples`` keeps working.

Writes are batched in one transaction: ``executemany`` on SQLite, ``COPY FROM STDIN`` on PostgreSQL (falling back
to ``INSERT ... ON CONFLICT DO NOTHING`` when a batch repeats a stored sample, e.g. a flush retried after an
ambiguous commit). Re-writing a sample with the same ``sample_id`` is a no-op on both databases.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from .. import _redact
from .._errors import ConfigError
from .samples import (
    MESSAGE_MAX_CHARS,
    SAMPLE_COLUMNS,
    SAMPLE_DTYPES,
    STATUS_DTYPE,
    coerce_samples,
    empty_samples,
    samples_frame,
)
from .schema import STATUS_CODES, STATUS_NAMES, health_sample

__all__ = [
    "MESSAGE_MAX_CHARS",
    "SAMPLE_COLUMNS",
    "SAMPLE_DTYPES",
    "coerce_samples",
    "empty_samples",
    "parse_time",
    "prune_samples",
    "read_samples",
    "samples_frame",
    "write_samples",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BIG_WRITE_CACHE_KIB = -131072  # negative: KiB (128 MiB)

# Stored column order (the table's); the read query selects in frame order.
_TABLE_COLUMNS = ("sample_id", "monitor_id", "checked_at", "service", "target", "status", "latency_ms",
                  "error_kind", "message", "details")
# stored SMALLINT code -> position in STATUS_NAMES (the category code)
_CODE_TO_CAT = np.array([STATUS_NAMES.index(n) for n, _ in sorted(STATUS_CODES.items(), key=lambda kv: kv[1])],
                        dtype=np.int8)
_CAT_TO_CODE = np.array([STATUS_CODES[n] for n in STATUS_NAMES], dtype=np.int16)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}


# --- time arguments ----------------------------------------------------------------------------------------------
def parse_time(value: Any, *, now: pd.Timestamp | None = None, name: str = "time") -> pd.Timestamp | None:
    """An aware UTC timestamp from a datetime, a Timestamp, an ISO string, or a timedelta / "24h" / "30d" meaning
    that long before now.

    >>> parse_time("2026-01-02").isoformat()
    '2026-01-02T00:00:00+00:00'
    """
    if value is None:
        return None
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    if isinstance(value, dt.timedelta | pd.Timedelta):
        return (now - pd.Timedelta(value)).as_unit("us")
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return (now - pd.Timedelta(float(m[1]) * _DURATION_UNITS[m[2].lower()], unit="s")).as_unit("us")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{name}={value!r} is not a time: give a datetime, an ISO string such as "
                          "'2026-01-02T00:00Z', or a duration such as '24h' or timedelta(days=30)") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


# --- write ---------------------------------------------------------------------------------------------------------
def _redacted_list(values: Any) -> list[Any]:
    """Column values as a list (None for missing), redacted.

    Redaction runs once per distinct value, and the regex pass only on values that could hold a credential:
    a million samples repeat a handful of targets and messages.
    """
    codes, uniques = pd.factorize(np.asarray(_object_list(values), dtype=object), use_na_sentinel=True)
    clean = np.array([_redact.redact(u) if _redact.might_hold_secret(u) else u for u in uniques] + [None],
                     dtype=object)
    return clean[codes].tolist()  # code -1 (missing) picks the trailing None


def _object_list(arr: Any) -> list[Any]:
    """Column values as a Python list with None for every missing value."""
    if isinstance(arr, pd.api.extensions.ExtensionArray):
        out: list[Any] = arr.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[arg-type]  # stubs lack None
        return out
    s = pd.Series(arr)
    return s.astype(object).where(s.notna(), None).tolist()


def _stored_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """The frame's columns converted to what the table stores (codes, epoch µs, redacted and truncated text)."""
    status_codes = _CAT_TO_CODE[frame["status"].cat.codes.to_numpy()]
    msg = _redacted_list(frame["message"].array)
    msg = [m[:MESSAGE_MAX_CHARS] if m is not None and len(m) > MESSAGE_MAX_CHARS else m for m in msg]
    return {
        "sample_id": frame["sample_id"].tolist(),
        "monitor_id": _object_list(frame["monitor_id"].array),
        "checked_at": np.asarray(frame["checked_at"].array.asi8),
        "service": frame["service"].astype(object).tolist(),
        "target": _redacted_list(frame["target"].array),
        "status": status_codes.tolist(),
        "latency_ms": _object_list(frame["latency_ms"].array),
        "error_kind": _object_list(frame["error_kind"].array),
        "message": msg,
        "details": _redacted_list(frame["details"].array),
    }


def write_samples(engine: Engine, samples: pd.DataFrame | Iterable[Any], *, monitor_id: str | None = None) -> int:
    """Insert samples in one transaction; returns the number of samples given (duplicates are ignored).

    ``samples`` is a sample frame or an iterable of records (dicts or Sample objects). ``monitor_id`` fills in
    samples that have none.
    """
    frame = samples if isinstance(samples, pd.DataFrame) else samples_frame(samples)
    frame = coerce_samples(frame)
    if frame.empty:
        return 0
    if monitor_id is not None and frame["monitor_id"].isna().any():
        frame = frame.copy()  # coerce_samples may have returned the caller's own frame
        frame["monitor_id"] = frame["monitor_id"].astype(object).where(frame["monitor_id"].notna(), monitor_id) \
            .astype("category")
    cols = _stored_columns(frame)
    if engine.dialect.name == "postgresql":
        _write_pg(engine, cols)
    else:
        _write_sqlite(engine, cols)
    return len(frame)


def _write_sqlite(engine: Engine, cols: dict[str, Any]) -> None:
    values = [cols[c] if c != "checked_at" else cols[c].tolist() for c in _TABLE_COLUMNS]
    n = len(values[0])
    rows = zip(*values, strict=True)  # an iterator: executemany binds row by row, no list of a million tuples
    sql = (f"INSERT OR IGNORE INTO health_sample ({', '.join(_TABLE_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(_TABLE_COLUMNS))})")
    with engine.begin() as conn:
        big = n > 50_000
        if big:
            # A bigger page cache for this write only: a huge transaction otherwise spills index pages to the WAL
            # over and over (+40 % rows/s at a million rows). The setting is per connection; restored below.
            default_cache = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or -2000)
            conn.exec_driver_sql(f"PRAGMA cache_size={_BIG_WRITE_CACHE_KIB}")
        try:
            dbapi = conn.connection.driver_connection
            assert dbapi is not None
            cur = dbapi.cursor()  # the DBAPI cursor takes an iterator; SQLAlchemy wants a list
            try:
                cur.executemany(sql, rows)
            finally:
                cur.close()
        finally:
            if big:
                conn.exec_driver_sql(f"PRAGMA cache_size={default_cache}")


def _csv_for_copy(cols: dict[str, Any]) -> io.BytesIO:
    """The samples as CSV for ``COPY ... (FORMAT csv)``, written by pyarrow's C++ writer (the csv module is ~10x
    slower): strings quoted, NULLs as unquoted empty fields, timestamps ISO 8601 with ``Z``."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is installed with the toolkit; the slow path still works
        return _csv_module_for_copy(cols)

    text = pa.string()
    table = pa.table({
        "sample_id": pa.array(cols["sample_id"], text),
        "monitor_id": pa.array(cols["monitor_id"], text),
        # Naive UTC: pyarrow formats zoned timestamps ~25x slower; the COPY session runs in UTC instead.
        "checked_at": pa.array(cols["checked_at"], pa.int64()).cast(pa.timestamp("us")),
        "service": pa.array(cols["service"], text),
        "target": pa.array(cols["target"], text),
        "status": pa.array(cols["status"], pa.int16()),
        "latency_ms": pa.array(cols["latency_ms"], pa.float64()),
        "error_kind": pa.array(cols["error_kind"], text),
        "message": pa.array(cols["message"], text),
        "details": pa.array(cols["details"], text),
    })
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    buf.seek(0)
    return buf


def _csv_module_for_copy(cols: dict[str, Any]) -> io.BytesIO:
    import csv

    stamps = np.datetime_as_string(cols["checked_at"].view("M8[us]"), unit="us").tolist()
    values = [cols[c] if c != "checked_at" else stamps for c in _TABLE_COLUMNS]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(zip(*values, strict=True))  # None -> empty field -> NULL
    return io.BytesIO(text.getvalue().encode())


#: Rows per CSV slice sent to PostgreSQL's COPY (~10 MB of CSV): big enough to amortise pyarrow's per-call cost,
#: small enough that the server starts parsing early.
COPY_SLICE_ROWS = 50_000


class _CopySource:
    """A file-like object for ``copy_expert`` that renders the CSV one slice of rows at a time, as the server
    asks for more. The server parses slice k while the client renders slice k+1; rendering the whole CSV first
    left the server idle for that second (~20 % of a million-row write on two cores)."""

    def __init__(self, cols: dict[str, Any], rows_per_slice: int | None = None) -> None:
        self._cols = cols
        self._n = len(cols["sample_id"])
        self._step = rows_per_slice or COPY_SLICE_ROWS
        self._pos = 0
        self._chunk = b""
        self._off = 0

    def read(self, size: int = -1) -> bytes:
        if self._off >= len(self._chunk):
            if self._pos >= self._n:
                return b""
            part = {k: v[self._pos:self._pos + self._step] for k, v in self._cols.items()}
            self._chunk, self._off = _csv_for_copy(part).getvalue(), 0
            self._pos += self._step
        end = len(self._chunk) if size < 0 else self._off + size
        out = self._chunk[self._off:end]
        self._off = end
        return out


def _write_pg(engine: Engine, cols: dict[str, Any]) -> None:
    buf = _CopySource(cols)
    copy_sql = f"COPY health_sample ({', '.join(_TABLE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")  # the CSV stamps are UTC without a zone
            _copy(conn, copy_sql, buf)
    except (sa.exc.IntegrityError, engine.dialect.loaded_dbapi.IntegrityError):
        # Some samples are already stored (a retried flush): insert the rest, skipping the known ids.
        values = [cols[c] if c != "checked_at" else cols[c].tolist() for c in _TABLE_COLUMNS]
        rows = [dict(zip(_TABLE_COLUMNS, r, strict=True)) for r in zip(*values, strict=True)]
        for r in rows:
            r["checked_at"] = _EPOCH + dt.timedelta(microseconds=r["checked_at"])
        stmt = pg_insert(health_sample).on_conflict_do_nothing(index_elements=["sample_id"])
        with engine.begin() as conn:
            conn.execute(stmt, rows)


def _copy(conn: Connection, sql: str, buf: io.BytesIO | _CopySource) -> None:
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    with dbapi.cursor() as cur:
        cur.copy_expert(sql, buf, size=1 << 20)  # 1 MiB reads instead of psycopg2's 8 KiB default


# --- read ----------------------------------------------------------------------------------------------------------
def _filters(dialect: str, since: pd.Timestamp | None, until: pd.Timestamp | None,
             services: Sequence[str] | None, targets: Sequence[str] | None,
             monitor_ids: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}

    def stamp(ts: pd.Timestamp) -> Any:
        return int(ts.value // 1000) if dialect == "sqlite" else ts.to_pydatetime()

    if since is not None:
        clauses.append("checked_at >= %(since)s")
        params["since"] = stamp(since)
    if until is not None:
        clauses.append("checked_at < %(until)s")
        params["until"] = stamp(until)
    for col, vals in (("service", services), ("target", targets), ("monitor_id", monitor_ids)):
        if vals is None:
            continue
        names = [vals] if isinstance(vals, str) else list(vals)
        if not names:
            clauses.append("1 = 0")
            continue
        keys = []
        for i, v in enumerate(names):
            params[f"{col}_{i}"] = str(v)
            keys.append(f"%({col}_{i})s")
        clauses.append(f"{col} IN ({', '.join(keys)})")
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return where, params


def history_sql(dialect: str, *, since: Any = None, until: Any = None, services: Sequence[str] | None = None,
                targets: Sequence[str] | None = None, monitor_ids: Sequence[str] | None = None,
                ) -> tuple[str, dict[str, Any]]:
    """The SQL text (pyformat parameters) and parameters :func:`read_samples` runs — also the benchmark's baseline.

    Timestamps are selected as epoch microseconds so that a million of them convert without per-row parsing.
    """
    since_ts = parse_time(since, name="since")
    until_ts = parse_time(until, name="until")
    where, params = _filters(dialect, since_ts, until_ts, services, targets, monitor_ids)
    ts = "checked_at" if dialect == "sqlite" else "CAST(EXTRACT(EPOCH FROM checked_at) * 1000000 AS BIGINT)"
    sql = (f"SELECT {ts} AS checked_at, service, target, status, latency_ms, error_kind, message, details, "
           f"monitor_id, sample_id FROM health_sample{where} ORDER BY checked_at, target")
    if dialect == "sqlite":
        sql = sql.replace("%(", ":").replace(")s", "")
    return sql, params


def _category(values: np.ndarray) -> pd.Categorical:
    """Object column -> Categorical with sorted categories, hashing the objects once (``pd.Categorical(values)``
    first converts all million values to a string array, 10x slower for a handful of distinct targets)."""
    codes, uniques = pd.factorize(values, sort=True)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques))


def _string_array(values: np.ndarray) -> Any:
    """Object column -> ``string`` extension array; straight through pyarrow when available (5x faster)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is installed with the toolkit
        return pd.array(values, dtype="string")
    arr = pd.arrays.ArrowStringArray(pa.array(values, pa.string(), from_pandas=True))
    return arr if str(arr.dtype) == "string" else pd.array(values, dtype="string")


def read_samples(engine: Engine, **filters: Any) -> pd.DataFrame:
    """The stored samples matching ``filters`` (see :func:`history_sql`) as a sample frame, oldest first."""
    sql, params = history_sql(engine.dialect.name, **filters)
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        try:
            cur.execute(sql, params)
            rows = cur.fetchall()
        finally:
            cur.close()
    if not rows:
        return empty_samples()
    # One C-level pass into a 2-D object array beats transposing a million tuples in Python (0.6 s vs 1.3 s).
    arr = np.array(rows, dtype=object)
    del rows
    ts = arr[:, 0].astype(np.int64).view("M8[us]")
    status = pd.Categorical.from_codes(_CODE_TO_CAT[arr[:, 3].astype(np.int16)], dtype=STATUS_DTYPE)
    lat = arr[:, 4]
    lat_na = pd.isna(lat)
    lat_vals = np.where(lat_na, 0.0, lat).astype(np.float64)
    return pd.DataFrame({
        "checked_at": pd.DatetimeIndex(ts).tz_localize("UTC"),
        "service": _category(arr[:, 1]),
        "target": _category(arr[:, 2]),
        "status": status,
        "latency_ms": pd.arrays.FloatingArray(lat_vals, lat_na.astype(bool)),
        "error_kind": _category(arr[:, 5]),
        "message": _string_array(arr[:, 6]),
        "details": _string_array(arr[:, 7]),
        "monitor_id": _category(arr[:, 8]),
        "sample_id": _string_array(arr[:, 9]),
    })


# --- prune ---------------------------------------------------------------------------------------------------------
def prune_samples(engine: Engine, older_than: Any, *, chunk: int = 5000) -> int:
    """Delete samples checked before ``older_than`` (a time, or a duration such as "30d"); returns rows deleted.

    SQLite deletes in chunks of ``chunk`` rows, each its own short transaction, so a monitor writing at the same
    time waits milliseconds, not the whole prune.
    """
    cutoff = parse_time(older_than, name="older_than")
    assert cutoff is not None
    t = health_sample
    total = 0
    if engine.dialect.name == "sqlite":
        cutoff_us = int(cutoff.value // 1000)
        sql = ("DELETE FROM health_sample WHERE rowid IN (SELECT rowid FROM health_sample "
               "WHERE checked_at < ? LIMIT ?)")
        while True:
            with engine.begin() as conn:
                n = conn.exec_driver_sql(sql, (cutoff_us, chunk)).rowcount
            total += max(n, 0)
            if n < chunk:
                return total
    with engine.begin() as conn:
        res = conn.execute(sa.delete(t).where(t.c.checked_at < cutoff.to_pydatetime()))
        return max(res.rowcount, 0)
