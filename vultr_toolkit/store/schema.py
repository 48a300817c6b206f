"""The history store's tables (SQLAlchemy Core), identical on SQLite and PostgreSQL.

::

    health_sample   one row per probe result; narrow, append-only, indexed on (target, checked_at)
    bundle_run      one row per stored bundle (a benchmark run, an inventory snapshot): kind, created_at, meta JSON
    bundle_frame    the bundle's DataFrames, one Parquet blob each (dtype-exact round trip)

Timestamps are UTC. ``checked_at``/``created_at`` are ``TIMESTAMPTZ`` on PostgreSQL (so ad-hoc SQL reads naturally)
and INTEGER epoch microseconds on SQLite (SQLite has no timestamp type; integers sort, index and convert to
``datetime64[us, UTC]`` without parsing). ``status`` is a SMALLINT code in the Uptime Kuma order (down 0, up 1,
degraded/pending 2, maintenance 3) so the table stays narrow.

Samples carry a globally unique ``sample_id`` (time-ordered, see :func:`new_sample_id`): several monitors can later
be merged into one PostgreSQL store, and a retried flush after an ambiguous commit cannot duplicate a row.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "STATUS_CODES",
    "STATUS_NAMES",
    "UTCTimestamp",
    "bundle_frame",
    "bundle_run",
    "health_sample",
    "metadata",
    "new_sample_id",
    "to_epoch_us",
]

#: The four sample statuses, in display order (the ``status`` category order in every frame).
STATUS_NAMES: tuple[str, ...] = ("up", "degraded", "down", "maintenance")
#: status name -> stored SMALLINT (Uptime Kuma's numbering: DOWN 0, UP 1, PENDING 2, MAINTENANCE 3).
STATUS_CODES: dict[str, int] = {"down": 0, "up": 1, "degraded": 2, "maintenance": 3}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_epoch_us(value: Any) -> int:
    """UTC epoch microseconds of a datetime / pandas Timestamp / epoch-µs int (naive datetimes are taken as UTC).

    >>> to_epoch_us(dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC))
    1000000
    """
    if isinstance(value, int):
        return value
    if hasattr(value, "as_unit"):  # pandas Timestamp: exact, no float round trip
        ts = value if value.tzinfo is not None else value.tz_localize("UTC")
        return int(ts.as_unit("us").value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise TypeError(f"expected a datetime, got {type(value).__name__}")


def new_sample_id(checked_at_us: int | None = None) -> str:
    """A 32-hex-digit id: 14 digits of epoch µs, then 72 random bits.

    Time-ordered ids keep inserts appending to the primary-key B-tree (random UUIDs scatter them) while staying
    unique across monitors and machines.

    >>> len(new_sample_id()), new_sample_id(0)[:14]
    (32, '00000000000000')
    """
    us = time.time_ns() // 1000 if checked_at_us is None else checked_at_us
    return f"{us:014x}{secrets.token_hex(9)}"


class UTCTimestamp(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC datetime: TIMESTAMPTZ on PostgreSQL, epoch microseconds (BIGINT) on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        us = to_epoch_us(value)
        if dialect.name == "sqlite":
            return us
        return _EPOCH + dt.timedelta(microseconds=us)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, int):
            return _EPOCH + dt.timedelta(microseconds=value)
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        raise TypeError(f"unexpected stored timestamp {type(value).__name__}")


def _c_text(length: int) -> sa.types.TypeEngine[str]:
    """VARCHAR compared bytewise on PostgreSQL (COLLATE "C"): ids and URLs need no linguistic order, and B-tree
    inserts and lookups under a libc locale collation cost several times more."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


metadata = sa.MetaData()

health_sample = sa.Table(
    "health_sample",
    metadata,
    sa.Column("sample_id", _c_text(32), primary_key=True),
    sa.Column("monitor_id", sa.String(64), nullable=True),
    sa.Column("checked_at", UTCTimestamp(), nullable=False),
    sa.Column("service", sa.String(32), nullable=False),
    sa.Column("target", _c_text(500), nullable=False),
    sa.Column("status", sa.SmallInteger(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    sa.Column("error_kind", sa.String(64), nullable=True),
    sa.Column("message", sa.String(500), nullable=True),
    sa.Column("details", sa.Text(), nullable=True),  # JSON text: portable, and read back without per-row parsing
    sa.Index("ix_health_sample_target_checked_at", "target", "checked_at"),
    # Time-range scans and prune() across all targets. On PostgreSQL a BRIN index: the table is append-only in
    # time order, so a few kB of block ranges do what a B-tree the size of the table would, at a fraction of the
    # insert cost (research R24).
    sa.Index("ix_health_sample_checked_at", "checked_at", postgresql_using="brin"),
)

bundle_run = sa.Table(
    "bundle_run",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", UTCTimestamp(), nullable=False),
    sa.Column("meta", sa.Text(), nullable=False),  # JSON object
    sa.Index("ix_bundle_run_kind_created_at", "kind", "created_at"),
)

bundle_frame = sa.Table(
    "bundle_frame",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("bundle_run.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer(), nullable=False),  # keeps the frames' dict order
    sa.Column("parquet", sa.LargeBinary(), nullable=False),
    # JSON {column: dtype spec}: Parquet cannot say "categorical of str" for a column with no values.
    sa.Column("dtypes", sa.Text(), nullable=True),
)
