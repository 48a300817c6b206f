"""The health sample frame: one row per probe result, the same columns and dtypes for 0, 1 or N rows.

Pure pandas (no SQL): the schema every health frame follows, whether a monitor built it, the store read it back
or a user assembled it from records. It lives in ``store/`` because the store's SQL writes and reads exactly
this frame and the store must not import ``health`` (which sits above it)::

    checked_at   datetime64[us, UTC]   when the probe started
    service      category              postgres | valkey | inference | api | database | overall | ...
    target       category              endpoint with credentials removed
    status       category              up | degraded | down | maintenance (in that category order)
    latency_ms   Float64               probe round trip; <NA> when the probe failed before measuring
    error_kind   category              short classification (timeout, connection, auth, http_5xx, ...) or <NA>
    message      string                redacted, at most 500 characters
    details      string                JSON object text (metrics: version, connections, memory, ...)
    monitor_id   category              which monitor wrote it (several monitors can share one store)
    sample_id    string                globally unique, time-ordered (see schema.new_sample_id)

>>> from vultr_toolkit.store.samples import SAMPLE_COLUMNS, empty_samples
>>> empty_samples().shape == (0, len(SAMPLE_COLUMNS))
True
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import _redact
from .._errors import ConfigError
from .._frames import empty
from .schema import STATUS_NAMES

__all__ = ["MESSAGE_MAX_CHARS", "SAMPLE_COLUMNS", "SAMPLE_DTYPES", "STATUS_DTYPE", "coerce_samples", "empty_samples",
           "samples_frame"]

#: A sample's ``message`` is cut to this many characters (by the Sample itself and again by the store's writer).
MESSAGE_MAX_CHARS = 500
STATUS_DTYPE = pd.CategoricalDtype(list(STATUS_NAMES))

#: column -> dtype of every sample frame (one source of truth; documented in the module docstring).
SAMPLE_DTYPES: dict[str, Any] = {
    "checked_at": "datetime64[us, UTC]",
    "service": "category",
    "target": "category",
    "status": STATUS_DTYPE,
    "latency_ms": "Float64",
    "error_kind": "category",
    "message": "string",
    "details": "string",
    "monitor_id": "category",
    "sample_id": "string",
}
SAMPLE_COLUMNS: tuple[str, ...] = tuple(SAMPLE_DTYPES)


def empty_samples() -> pd.DataFrame:
    """A zero-row sample frame with the documented columns and dtypes.

    >>> list(empty_samples().columns)[:4]
    ['checked_at', 'service', 'target', 'status']
    """
    return empty(SAMPLE_DTYPES)


def _record_dict(rec: Any) -> Mapping[str, Any]:
    if isinstance(rec, Mapping):
        return rec
    if is_dataclass(rec) and not isinstance(rec, type):
        return asdict(rec)
    raise TypeError(f"a sample must be a mapping or a dataclass, got {type(rec).__name__}")


def samples_frame(records: Iterable[Any]) -> pd.DataFrame:
    """Typed sample frame from records (dicts or :class:`~vultr_toolkit.health.sample.Sample` objects).

    ``details`` may be a dict (serialised to JSON) or JSON text; missing ``sample_id``s are generated.

    >>> import datetime as dt
    >>> df = samples_frame([{"checked_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "service": "valkey",
    ...                      "target": "redis://127.0.0.1:6379/0", "status": "up", "latency_ms": 0.4}])
    >>> str(df["status"].dtype), df["latency_ms"].iloc[0]
    ('category', np.float64(0.4))
    """
    rows = [_record_dict(r) for r in records]
    if not rows:
        return empty_samples()
    return coerce_samples(pd.DataFrame.from_records(rows))


def _json_text(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(_redact.redact_obj(value), default=str, separators=(",", ":"))


def _is_sample_frame(df: pd.DataFrame) -> bool:
    if tuple(df.columns) != SAMPLE_COLUMNS or not isinstance(df.index, pd.RangeIndex):
        return False
    for col, want in SAMPLE_DTYPES.items():
        have = df[col].dtype
        if col == "status":
            if not (isinstance(have, pd.CategoricalDtype) and tuple(have.categories) == STATUS_NAMES):
                return False
        elif str(have) != str(want):
            return False
    return not (df["sample_id"].isna().any() or df["status"].isna().any())


def coerce_samples(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` as a sample frame: documented columns, order and dtypes; sample ids filled in.

    Raises :class:`~vultr_toolkit.ConfigError` when a required column (checked_at, service, target, status) is
    missing or a status is not one of up/degraded/down/maintenance.
    """
    if _is_sample_frame(df):
        return df  # already typed (e.g. from samples_frame or health_history): nothing to convert
    missing = [c for c in ("checked_at", "service", "target", "status") if c not in df.columns]
    if missing:
        raise ConfigError(f"sample frame lacks required column(s) {missing}; expected {list(SAMPLE_COLUMNS)}")
    n = len(df)
    out: dict[str, Any] = {}
    ts = df["checked_at"]
    if not (isinstance(ts.dtype, pd.DatetimeTZDtype) and ts.dtype.unit == "us" and str(ts.dtype.tz) == "UTC"):
        ts = _to_utc_us(ts)
    out["checked_at"] = ts.array
    for col in ("service", "target", "monitor_id", "error_kind"):
        s = df[col] if col in df.columns else pd.Series([None] * n, dtype=object)
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.array
        else:
            out[col] = pd.Categorical(s.astype(object).where(s.notna(), None))
    status = df["status"]
    if not (isinstance(status.dtype, pd.CategoricalDtype) and list(status.dtype.categories) == list(STATUS_NAMES)):
        status = status.astype(object)
        bad = set(status.unique()) - set(STATUS_NAMES)
        if bad:
            shown = sorted(str(v) for v in bad)[:5]
            raise ConfigError(f"invalid sample status {shown}; use one of {list(STATUS_NAMES)}")
        status = pd.Series(pd.Categorical(status, categories=list(STATUS_NAMES)))
    elif status.isna().any():
        raise ConfigError(f"sample status missing; use one of {list(STATUS_NAMES)}")
    out["status"] = status.array
    lat = df["latency_ms"] if "latency_ms" in df.columns else pd.Series([None] * n, dtype=object)
    if lat.dtype == object:
        lat = pd.to_numeric(lat, errors="coerce")
    out["latency_ms"] = lat.astype("Float64").array
    msg = df["message"] if "message" in df.columns else pd.Series([None] * n, dtype=object)
    out["message"] = msg.astype("string").array
    det = df["details"] if "details" in df.columns else pd.Series([None] * n, dtype=object)
    if det.dtype == object:
        det = pd.Series([_json_text(v) for v in det], dtype=object)
    out["details"] = det.astype("string").array
    sid = df["sample_id"].astype("string") if "sample_id" in df.columns else pd.Series(pd.NA, index=range(n),
                                                                                       dtype="string")
    if sid.isna().any():
        holes = sid.isna().to_numpy()
        us = np.asarray(out["checked_at"].asi8)[holes]
        filled = np.array(sid.astype(object), dtype=object)  # a writable copy
        filled[holes] = _new_ids(us)
        sid = pd.Series(filled, dtype="string")
    out["sample_id"] = sid.array
    frame = pd.DataFrame(out, columns=list(SAMPLE_COLUMNS))
    return frame.astype({c: d for c, d in SAMPLE_DTYPES.items() if c != "status"})


def _to_utc_us(values: pd.Series) -> pd.Series:
    """Timestamps (datetimes, Timestamps, ISO strings of mixed precision) -> ``datetime64[us, UTC]``."""
    for fmt in (None, "ISO8601", "mixed"):
        try:
            return pd.to_datetime(values, utc=True, format=fmt).dt.as_unit("us")
        except (ValueError, TypeError):
            continue
    raise ConfigError("sample column checked_at holds values that are not timestamps; give datetimes or ISO "
                      "strings such as '2026-01-02T03:04:05Z'")


def _new_ids(epoch_us: np.ndarray) -> list[str]:
    """Vectorised :func:`~vultr_toolkit.store.schema.new_sample_id` (the benchmark writes a million at once)."""
    n = len(epoch_us)
    rand = secrets.token_hex(9 * n)
    return [f"{int(us):014x}{rand[18 * i:18 * i + 18]}" for i, us in enumerate(epoch_us)]
