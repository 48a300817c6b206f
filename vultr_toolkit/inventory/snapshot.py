"""InventorySnapshot: every inventory frame of one moment, its errors, a summary, and a way to keep it.

Build one with ``client.inventory.snapshot()``; keep it with ``snap.save(store)`` (the history store's generic
bundle table; ``InventorySnapshot.load(store, snapshot_id)`` reads it back) or ``snap.to_parquet(dir)``;
compare two with :func:`vultr_toolkit.inventory.diff`.

Example::

    >>> import vultr_toolkit as vt
    >>> with vt.Sandbox(seed=0) as sb, vt.Client(sb.settings()) as client:
    ...     snap = client.inventory.snapshot(progress=False)
    >>> snap.summary().columns.tolist()                          # resource_type × region: count, cost
    ['resource_type', 'region', 'count', 'monthly_cost_usd']
    >>> snap.resources.shape                                     # one long table of everything billable
    (57, 7)
    >>> snap.save("sqlite:///inventory.sqlite")
    'inventory-...'
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import pandas as pd

from .._errors import StoreError, error_kind
from .._redact import redact
from .frames import build_frame
from .schemas import (
    CAT,
    FLOAT,
    RESOURCE_TYPES,
    RESOURCES_SCHEMA,
    SCHEMAS,
    TS,
    dtype_of,
    empty_frame,
    find_secret_fields,
    nested_columns,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..store import HistoryStore

__all__ = ["INVENTORY_KIND", "InventorySnapshot", "conform", "errors_frame"]

INVENTORY_KIND: Final = "inventory"
_SCHEMA_VERSION: Final = 1
_ERRORS_NAME: Final = "_errors"

#: Region label used in ``summary()`` for resources without a region (snapshots, subscriptions) and for totals.
GLOBAL: Final = "global"
TOTAL: Final = "total"


def errors_frame(rows: Iterable[tuple[str, BaseException]] = ()) -> pd.DataFrame:
    """The ``.errors`` frame: one row per failed resource (resource, error_kind, status, message).

    >>> errors_frame().columns.tolist()
    ['resource', 'error_kind', 'status', 'message']
    """
    items = list(rows)
    cols: dict[str, list[Any]] = {
        "resource": [name for name, _ in items],
        "error_kind": [error_kind(exc) for _, exc in items],
        "status": [getattr(exc, "status", None) for _, exc in items],
        "message": [redact(str(exc) or type(exc).__name__) for _, exc in items],
    }
    return build_frame("errors", cols, len(items))


def _cast(series: pd.Series, kind: str) -> pd.Series:
    if kind == CAT:
        if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.categories.dtype == "str":
            return series
        values = series.astype("str")
        return values.astype("category")
    if kind in ("list", "dict"):
        return series.astype(object)
    if kind == TS:
        return pd.to_datetime(series, utc=True).astype(TS)
    target = dtype_of(kind)
    return series if series.dtype == target else series.astype(target)


def conform(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """``df`` with exactly the columns (order included) and dtypes of ``SCHEMAS[name]``.

    Used after a round trip through storage, which may hand back equivalent but differently-typed columns
    (e.g. ``object`` instead of ``str`` categories).
    """
    schema = SCHEMAS[name]
    if len(df) == 0:
        return empty_frame(name)
    out = {c: (_cast(df[c], k) if c in df.columns else empty_frame(name)[c].reindex(df.index))
           for c, k in schema.items()}
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _encode_nested(df: pd.DataFrame, name: str) -> pd.DataFrame:
    cols = nested_columns(name) if name in SCHEMAS else []
    if not cols:
        return df
    out = df.copy()
    for c in cols:
        out[c] = pd.array([json.dumps(v, default=str) for v in df[c]], dtype="str")
    return out


def _decode_nested(df: pd.DataFrame, name: str) -> pd.DataFrame:
    out = df.copy()
    for c in nested_columns(name):
        if c in out.columns:
            out[c] = pd.Series([json.loads(v) if isinstance(v, str) else v for v in out[c]], dtype=object,
                               index=out.index)
    return out


@dataclass(eq=False)
class InventorySnapshot:
    """Everything the inventory fetched at one moment.

    * ``frames`` — resource name → DataFrame (schemas in :mod:`vultr_toolkit.inventory.schemas`);
      ``snap["instances"]`` is ``snap.frames["instances"]``.
    * ``errors`` — one row per resource that failed: resource, error_kind, status, message.
    * ``fetched_at`` — one UTC timestamp for the whole snapshot (also every row's ``_fetched_at``).
    * ``source`` — the API base URL; ``snapshot_id`` — set once saved to (or loaded from) a store (also
      ``run_id``: a snapshot is a :class:`~vultr_toolkit.store.Bundle` of kind ``"inventory"``).

    >>> snap = InventorySnapshot({}, errors_frame(), pd.Timestamp("2026-01-01", tz="UTC"))
    >>> snap.summary().columns.tolist()
    ['resource_type', 'region', 'count', 'monthly_cost_usd']
    """

    frames: dict[str, pd.DataFrame]
    errors: pd.DataFrame = field(default_factory=errors_frame)
    fetched_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC").as_unit("us"))
    source: str = ""
    snapshot_id: str | None = None

    KIND: ClassVar[str] = INVENTORY_KIND

    @property
    def run_id(self) -> str | None:
        """The store's name for :attr:`snapshot_id` (the :class:`~vultr_toolkit.store.Bundle` protocol)."""
        return self.snapshot_id

    @run_id.setter
    def run_id(self, value: str | None) -> None:
        self.snapshot_id = value

    # --- access ---------------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> pd.DataFrame:
        try:
            return self.frames[name]
        except KeyError:
            raise KeyError(f"no frame {name!r} in this snapshot; it has {sorted(self.frames)}"
                           + (f" (failed: {self.errors['resource'].astype(str).tolist()})" if len(self.errors)
                              else "")) from None

    def __contains__(self, name: object) -> bool:
        return name in self.frames

    @property
    def ok(self) -> bool:
        """True when every requested resource was fetched."""
        return len(self.errors) == 0

    @property
    def resources(self) -> pd.DataFrame:
        """One long table of everything billable: resource_type, id, label, region, status, monthly_cost_usd,
        created_at (resource types in :data:`~.schemas.RESOURCE_TYPES`; costs missing where the API has none)."""
        parts: dict[str, list[Any]] = {c: [] for c in RESOURCES_SCHEMA}
        for name in RESOURCE_TYPES:
            df = self.frames.get(name)
            if df is None or len(df) == 0:
                continue
            n = len(df)
            parts["resource_type"].extend([name] * n)
            for c in ("id", "label", "region", "status", "monthly_cost_usd", "created_at"):
                parts[c].extend(df[c].astype(object).where(df[c].notna(), None).tolist() if c in df.columns
                                else [None] * n)
        n_rows = len(parts["id"])
        data: dict[str, Any] = {}
        for c, kind in RESOURCES_SCHEMA.items():
            vals = parts[c]
            if kind == TS:
                data[c] = pd.to_datetime(pd.Series(vals, dtype=object), utc=True).astype(TS).array
            elif kind == CAT:
                data[c] = pd.Series(pd.array(vals, dtype="str")).astype("category").array
            elif kind == FLOAT:
                data[c] = pd.array(vals, dtype="Float64")
            else:
                data[c] = pd.array(vals, dtype="str")
        return pd.DataFrame(data, index=pd.RangeIndex(n_rows)) if n_rows else empty_frame("resources")

    def summary(self) -> pd.DataFrame:
        """Per resource type × region: ``count`` and ``monthly_cost_usd``, then a ``total`` row per type and a
        grand total (``resource_type == region == "total"``). Costs are sums of known costs (missing when none
        is known). Resources without a region are counted under ``"global"``.
        """
        res = self.resources
        region = res["region"].astype(object).where(res["region"].notna(), GLOBAL)
        frame = pd.DataFrame({"resource_type": res["resource_type"].astype(object), "region": region,
                              "cost": res["monthly_cost_usd"]})
        rows: list[tuple[str, str, int, float | None]] = []

        def agg(g: pd.DataFrame) -> tuple[int, float | None]:
            cost = g["cost"].dropna()
            return len(g), (float(cost.sum()) if len(cost) else None)

        for rtype in [r for r in RESOURCE_TYPES if (frame["resource_type"] == r).any()]:
            sub = frame[frame["resource_type"] == rtype]
            for reg, g in sorted(sub.groupby("region", sort=True), key=lambda kv: str(kv[0])):
                rows.append((rtype, str(reg), *agg(g)))
            rows.append((rtype, TOTAL, *agg(sub)))
        if len(frame):
            rows.append((TOTAL, TOTAL, *agg(frame)))
        df = pd.DataFrame({
            "resource_type": pd.Categorical([r[0] for r in rows]),
            "region": pd.Categorical([r[1] for r in rows]),
            "count": pd.array([r[2] for r in rows], dtype="Int64"),
            "monthly_cost_usd": pd.array([r[3] for r in rows], dtype="Float64"),
        })
        return conform(df, "summary") if len(df) else empty_frame("summary")

    @property
    def total_monthly_cost_usd(self) -> float:
        """Sum of every known monthly cost in :attr:`resources` (0.0 when none is known)."""
        cost = self.resources["monthly_cost_usd"].dropna()
        return float(cost.sum()) if len(cost) else 0.0

    # --- display --------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.frames.items())
        return (f"InventorySnapshot(fetched_at={self.fetched_at.isoformat()}, source={redact(self.source)!r}, "
                f"{counts}, errors={len(self.errors)})")

    def _repr_html_(self) -> str:
        esc = html.escape
        counts = "".join(f"<tr><td>{esc(k)}</td><td style='text-align:right'>{len(v):,}</td></tr>"
                         for k, v in self.frames.items())
        cost = self.total_monthly_cost_usd
        parts = [
            "<div class='vt-inventory-snapshot'>",
            f"<strong>InventorySnapshot</strong> fetched {esc(self.fetched_at.isoformat())}"
            f" from <code>{esc(redact(self.source))}</code>",
            f"{' · id ' + esc(self.snapshot_id) if self.snapshot_id else ''}",
            f"<br>known monthly cost: <strong>${cost:,.2f}</strong>",
            f"<table><thead><tr><th>frame</th><th>rows</th></tr></thead><tbody>{counts}</tbody></table>",
        ]
        if len(self.errors):
            parts.append(f"<p style='color:#b00'><strong>{len(self.errors)} resource(s) failed</strong></p>")
            parts.append(self.errors.to_html(index=False, escape=True))
        summary = self.summary()
        if len(summary):
            parts.append("<details><summary>summary by type × region</summary>")
            parts.append(summary.to_html(index=False, escape=True, na_rep="—"))
            parts.append("</details>")
        parts.append("</div>")
        return "".join(parts)

    # --- persistence ----------------------------------------------------------------------------------------
    def to_frames(self) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
        """``(meta, frames)`` for the history store: meta is JSON-serialisable and secret-free; list/dict columns
        are JSON-encoded text so they survive any storage format; errors travel as frame ``"_errors"``.

        Raises :class:`~vultr_toolkit.StoreError` if any frame holds a secret field (a bug upstream).
        """
        for name, df in self.frames.items():
            found = find_secret_fields(df)
            if found:
                raise StoreError(f"refusing to store inventory frame {name!r}: it holds secret fields "
                                 f"{sorted(found)}")
        cost = self.total_monthly_cost_usd
        meta: dict[str, Any] = {
            "fetched_at": self.fetched_at.isoformat(),
            "source": redact(self.source),
            "resource_count": int(sum(len(self.frames[r]) for r in RESOURCE_TYPES if r in self.frames)),
            "error_count": len(self.errors),
            "total_monthly_cost_usd": None if math.isnan(cost) else round(cost, 6),
            "resources": list(self.frames),
            "counts": {k: len(v) for k, v in self.frames.items()},
            "schema_version": _SCHEMA_VERSION,
        }
        if self.snapshot_id is not None:  # HistoryStore.save sets it first, so listings show the snapshot id
            meta["snapshot_id"] = self.snapshot_id
        frames = {name: _encode_nested(df, name) for name, df in self.frames.items()}
        frames[_ERRORS_NAME] = self.errors
        return meta, frames

    @classmethod
    def from_frames(cls, meta: Mapping[str, Any], frames: Mapping[str, pd.DataFrame],
                    snapshot_id: str | None = None) -> InventorySnapshot:
        """Rebuild a snapshot from :meth:`to_frames` output (as returned by ``store.load_frames``), with the
        schema dtypes restored exactly."""
        out: dict[str, pd.DataFrame] = {}
        for name in meta.get("resources") or [n for n in frames if n != _ERRORS_NAME]:
            if name not in frames:
                continue
            df = frames[name]
            out[name] = conform(_decode_nested(df, name), name) if name in SCHEMAS else df
        errors = frames.get(_ERRORS_NAME)
        errs = conform(errors, "errors") if errors is not None else errors_frame()
        fetched = pd.Timestamp(meta["fetched_at"]) if meta.get("fetched_at") else pd.Timestamp.now(tz="UTC")
        if fetched.tzinfo is None:
            fetched = fetched.tz_localize("UTC")
        return cls(out, errs, fetched.tz_convert("UTC").as_unit("us"), str(meta.get("source") or ""),
                   snapshot_id or meta.get("snapshot_id"))

    def save(self, store: HistoryStore | str | None = None) -> str:
        """Store the snapshot in the history store (a :class:`~vultr_toolkit.store.HistoryStore`, a store URL, or
        None for the default store) and return its snapshot id.

        A store opened here from a URL is closed again. Saving the same snapshot again replaces its run.

        >>> sid = snap.save("sqlite:///inventory.sqlite")
        >>> type(snap).load("sqlite:///inventory.sqlite", sid).resources.shape
        (57, 7)
        """
        from ..store import using_store

        with using_store(store) as st:
            return st.save(self)

    @classmethod
    def load(cls, store: HistoryStore | str | None, snapshot_id: str) -> InventorySnapshot:
        """The stored snapshot ``snapshot_id``; :class:`~vultr_toolkit.StoreError` if unknown or not a snapshot."""
        from ..store import using_store

        with using_store(store) as st:
            return st.load(snapshot_id, cls)

    def to_parquet(self, directory: str | Path) -> Path:
        """Write one Parquet file per frame (nested columns as JSON text), ``_errors.parquet`` and ``meta.json``
        into ``directory``; :meth:`read_parquet` reads it back with identical dtypes.

        >>> snap.to_parquet("snap-2026-11-25/")
        PosixPath('snap-2026-11-25')
        >>> vt.inventory.InventorySnapshot.read_parquet("snap-2026-11-25/").resources.shape
        (57, 7)
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta, frames = self.to_frames()
        for name, df in frames.items():
            df.to_parquet(d / f"{name}.parquet", index=False)
        (d / "meta.json").write_text(json.dumps({**meta, "snapshot_id": self.snapshot_id}, indent=2))
        return d

    @classmethod
    def read_parquet(cls, directory: str | Path) -> InventorySnapshot:
        """Read a directory written by :meth:`to_parquet`."""
        d = Path(directory)
        meta = json.loads((d / "meta.json").read_text())
        names = [*(meta.get("resources") or []), _ERRORS_NAME]
        frames = {n: pd.read_parquet(d / f"{n}.parquet") for n in names if (d / f"{n}.parquet").exists()}
        return cls.from_frames(meta, frames)

