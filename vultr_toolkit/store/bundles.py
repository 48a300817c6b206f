"""The generic bundle store: a JSON ``meta`` dict plus named DataFrames, stored dtype-exact.

Any type that implements :class:`Bundle` (a ``KIND``, a ``run_id``, ``to_frames`` and ``from_frames``) saves and
loads itself through the store; the store never names those types (benchmark runs and inventory snapshots are
two of them, kinds ``"benchmark"`` and ``"inventory"``). A run keeps its kind, so loading it as another type is
a :class:`~vultr_toolkit.StoreError` rather than a bogus object.
Each frame is one Parquet blob (pyarrow keeps pandas' dtype metadata, so ``category``, ``Int64``, ``string`` and
``datetime64[us, UTC]`` come back exactly, for 0, 1 or N rows); ``meta`` is a JSON object.
Saving again under an existing ``run_id`` replaces that bundle, so ``obj.save(store)`` is idempotent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import io
import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .._errors import ConfigError, StoreError
from .._redact import redact_obj
from .schema import bundle_frame, bundle_run

__all__ = [
    "BENCHMARK_KIND",
    "INVENTORY_KIND",
    "Bundle",
    "delete_bundle",
    "list_bundles",
    "load_bundle",
    "new_run_id",
    "save_bundle",
]

# Kept for compatibility (and for list_runs filters): the types themselves own their kind, as ``KIND``.
BENCHMARK_KIND = "benchmark"
INVENTORY_KIND = "inventory"
_RUN_COLUMNS = {"run_id": "string", "kind": "category", "created_at": "datetime64[us, UTC]"}


class Bundle(Protocol):
    """What the store needs of a type to save and load it: a kind, a run id, and a frames round trip.

    ``to_frames()`` returns ``(meta, frames)``: a JSON-serialisable dict and named DataFrames;
    ``from_frames(meta, frames)`` rebuilds the object from them. ``run_id`` is None until the object is saved or
    loaded; :meth:`~vultr_toolkit.store.HistoryStore.save` sets it (before calling ``to_frames``, so the object
    may record it in ``meta``) and :meth:`~vultr_toolkit.store.HistoryStore.load` sets it on what it returns.

    >>> import pandas as pd
    >>> from vultr_toolkit.store import HistoryStore
    >>> class Note:
    ...     KIND = "note"
    ...     def __init__(self, text: str) -> None:
    ...         self.text, self.run_id = text, None
    ...     def to_frames(self):
    ...         return {"text": self.text}, {"chars": pd.DataFrame({"n": [len(self.text)]})}
    ...     @classmethod
    ...     def from_frames(cls, meta, frames):
    ...         return cls(meta["text"])
    >>> with HistoryStore("sqlite://") as store:
    ...     rid = store.save(Note("hi"))
    ...     store.load(rid, Note).text
    'hi'
    """

    KIND: ClassVar[str]
    run_id: str | None

    def to_frames(self) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]: ...

    @classmethod
    def from_frames(cls, meta: Mapping[str, Any], frames: Mapping[str, pd.DataFrame]) -> Self: ...


B = TypeVar("B", bound=Bundle)


def new_run_id(kind: str, now: dt.datetime | None = None) -> str:
    """A readable, sortable, unique run id such as ``benchmark-20261125T214839Z-3fa9c1``.

    >>> new_run_id("inventory").startswith("inventory-")
    True
    """
    now = now or dt.datetime.now(dt.UTC)
    return f"{kind}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.timedelta | pd.Timedelta):
        return pd.Timedelta(value).total_seconds()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _meta_json(meta: Mapping[str, Any]) -> str:
    try:
        return json.dumps(redact_obj(dict(meta)), default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bundle meta must be JSON-serialisable: {e}") from None


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("storing DataFrames needs pyarrow (Parquet): pip install pyarrow") from None


def _to_parquet(name: str, frame: pd.DataFrame) -> bytes:
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"bundle frame {name!r} must be a pandas DataFrame, got {type(frame).__name__}")
    _need_pyarrow()
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, engine="pyarrow", compression="zstd")
    except Exception as e:  # pyarrow raises several unrelated types for unconvertible object columns
        raise ConfigError(f"bundle frame {name!r} cannot be stored as Parquet ({type(e).__name__}: {e}); "
                          "convert object columns of mixed types to strings first") from None
    return buf.getvalue()


_MAX_SPEC_CATEGORIES = 10_000


def _dtype_spec(frame: pd.DataFrame) -> str:
    """What Parquet may not bring back on its own: each column's dtype, and categories of categoricals."""
    spec: dict[str, Any] = {}
    for col, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories) <= _MAX_SPEC_CATEGORIES:
            cats = dtype.categories
            spec[str(col)] = {"category": [str(v) for v in cats] if cats.dtype.kind in "OSUT" else None,
                              "ordered": bool(dtype.ordered)}
        else:
            spec[str(col)] = str(dtype)
    return json.dumps(spec)


def _from_parquet(data: bytes, spec_text: str | None) -> pd.DataFrame:
    frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    if not spec_text:
        return frame
    for col, want in json.loads(spec_text).items():
        if col not in frame.columns:
            continue
        have = frame[col].dtype
        if isinstance(want, dict):
            if want["category"] is not None and (not isinstance(have, pd.CategoricalDtype)
                                                 or [str(c) for c in have.categories] != want["category"]):
                cats = pd.Index(want["category"], dtype=object)
                frame[col] = frame[col].astype(object).astype(pd.CategoricalDtype(cats, ordered=want["ordered"]))
        elif str(have) != want:
            with contextlib.suppress(TypeError, ValueError):  # keep Parquet's dtype if ours cannot be rebuilt
                frame[col] = frame[col].astype(want)
    return frame


def save_bundle(engine: Engine, kind: str, meta: Mapping[str, Any], frames: Mapping[str, pd.DataFrame], *,
                run_id: str | None = None) -> str:
    """Store a bundle in one transaction and return its run id (see :meth:`HistoryStore.save_frames`)."""
    if not kind or len(kind) > 32:
        raise ConfigError(f"bundle kind must be 1-32 characters, got {kind!r}")
    run_id = run_id or new_run_id(kind)
    meta_text = _meta_json(meta)
    blobs = [(name, i, _to_parquet(name, f), _dtype_spec(f)) for i, (name, f) in enumerate(frames.items())]
    created = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(sa.delete(bundle_frame).where(bundle_frame.c.run_id == run_id))
        conn.execute(sa.delete(bundle_run).where(bundle_run.c.run_id == run_id))
        conn.execute(sa.insert(bundle_run).values(run_id=run_id, kind=kind, created_at=created, meta=meta_text))
        if blobs:
            rows = [{"run_id": run_id, "name": n, "position": i, "parquet": b, "dtypes": d} for n, i, b, d in blobs]
            conn.execute(sa.insert(bundle_frame), rows)
    return run_id


def load_bundle(engine: Engine, run_id: str, *, kind: str | None = None,
                ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """``(meta, frames)`` of a stored bundle, frames in the order they were saved.

    ``kind``: the kind the caller expects; a run of another kind raises StoreError (its frames are not read).
    """
    with engine.connect() as conn:
        row = conn.execute(sa.select(bundle_run.c.kind, bundle_run.c.meta)
                           .where(bundle_run.c.run_id == run_id)).first()
        if row is None:
            raise StoreError(f"no stored run with run_id {run_id!r}; list them with store.list_runs(kind)")
        if kind is not None and row.kind != kind:
            raise StoreError(f"stored run {run_id!r} is a {row.kind!r} run, not a {kind!r} run; load it as a "
                             f"{row.kind!r} bundle, or list the {kind!r} runs with store.list_runs({kind!r})")
        blobs = conn.execute(
            sa.select(bundle_frame.c.name, bundle_frame.c.parquet, bundle_frame.c.dtypes)
            .where(bundle_frame.c.run_id == run_id).order_by(bundle_frame.c.position)).all()
    meta = json.loads(row.meta)
    return meta, {name: _from_parquet(bytes(data), spec) for name, data, spec in blobs}


def list_bundles(engine: Engine, kind: str | None = None) -> pd.DataFrame:
    """One row per stored bundle (newest first): run_id, kind, created_at, then the meta's top-level scalars."""
    q = sa.select(bundle_run.c.run_id, bundle_run.c.kind, bundle_run.c.created_at, bundle_run.c.meta)
    if kind is not None:
        q = q.where(bundle_run.c.kind == kind)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(bundle_run.c.created_at.desc(), bundle_run.c.run_id.desc())).all()
    base = pd.DataFrame({
        "run_id": pd.array([r.run_id for r in rows], dtype="string"),
        "kind": pd.Categorical([r.kind for r in rows]),
        "created_at": pd.to_datetime(pd.Series([r.created_at for r in rows], dtype=object), utc=True)
        .astype("datetime64[us, UTC]"),
    })
    metas = [json.loads(r.meta) for r in rows]
    scalars: dict[str, list[Any]] = {}
    for i, m in enumerate(metas):
        for k, v in m.items():
            if k in _RUN_COLUMNS or not (v is None or isinstance(v, str | int | float | bool)):
                continue
            scalars.setdefault(k, [None] * len(metas))[i] = v
    for k, vals in scalars.items():
        col = pd.Series(vals, dtype=object)
        if k.endswith("_at"):
            base[k] = pd.to_datetime(col, utc=True, errors="coerce").astype("datetime64[us, UTC]")
        else:
            base[k] = col.convert_dtypes()
    return base


def delete_bundle(engine: Engine, run_id: str) -> bool:
    """Delete a stored bundle; True if it existed."""
    with engine.begin() as conn:
        conn.execute(sa.delete(bundle_frame).where(bundle_frame.c.run_id == run_id))
        return bool(conn.execute(sa.delete(bundle_run).where(bundle_run.c.run_id == run_id)).rowcount)
