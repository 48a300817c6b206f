"""One frame-schema toolkit: a schema is ``column -> dtype``; ``empty``, ``conform`` and ``check`` work on any.

Every typed frame in the package (inventory resources, health samples and incidents, benchmark requests, chunks
and levels) is declared as such a mapping next to its domain and built with these three functions, so "zero rows
but the right columns", "back from storage with equivalent but different dtypes" and "is this frame what we
document" mean the same everywhere.

Dtype rules (pandas dtypes or their names):

* a timezone-aware ``datetime64[..., UTC]`` column is parsed with ``pd.to_datetime(..., utc=True)`` first;
* a :class:`pandas.CategoricalDtype` with fixed categories keeps exactly those; one with *no* categories means
  "categories are the values, as text" (the inventory's ``category`` columns);
* ``object`` columns (lists, dicts, mixed) are kept as they are;
* anything else is ``Series.astype``.

>>> schema = {"id": "string", "n": "Int64", "at": "datetime64[us, UTC]"}
>>> df = conform(pd.DataFrame({"n": [1.0, None], "id": ["a", "b"]}), schema)
>>> df.dtypes.astype(str).tolist(), df["at"].isna().all()
(['string', 'Int64', 'datetime64[us, UTC]'], np.True_)
>>> check(df, schema), check(df[["n"]], schema)
([], ["columns ['n'] != schema ['id', 'n', 'at']"])
>>> empty(schema).shape
(0, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias, cast

import pandas as pd

__all__ = ["Schema", "check", "conform", "empty"]

#: column -> dtype (a pandas/numpy dtype or its name), in column order.
Schema: TypeAlias = Mapping[str, Any]


def _is_open_category(dtype: Any) -> bool:
    return isinstance(dtype, pd.CategoricalDtype) and (dtype.categories is None or len(dtype.categories) == 0)


def _is_utc_datetime(dtype: Any) -> bool:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return True
    return isinstance(dtype, str) and dtype.startswith("datetime64") and "UTC" in dtype


def _same(have: Any, want: Any) -> bool:
    if _is_open_category(want):
        return isinstance(have, pd.CategoricalDtype)
    try:
        return bool(have == pd.api.types.pandas_dtype(want))
    except TypeError:
        return str(have) == str(want)


def empty(schema: Schema) -> pd.DataFrame:
    """A zero-row frame with exactly ``schema``'s columns and dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in schema.items()})


def _cast(series: pd.Series, dtype: Any) -> pd.Series:
    if _is_open_category(dtype):
        if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.categories.dtype == "str":
            return series
        return series.astype("str").astype("category")
    if isinstance(dtype, pd.CategoricalDtype):
        return series.astype("object").astype(dtype)
    if _is_utc_datetime(dtype):
        return pd.to_datetime(series, utc=True).astype(cast(Any, dtype))
    if _same(series.dtype, dtype):
        return series
    return series.astype(cast(Any, dtype))


def conform(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """``df`` with exactly ``schema``'s columns (in order) and dtypes on a fresh RangeIndex; a missing column is
    all-NA. Used after a round trip through storage, and to type frames assembled from records."""
    if len(df) == 0:
        return empty(schema)
    missing = empty(schema)
    out = {c: (_cast(df[c], d) if c in df.columns else missing[c].reindex(df.index)) for c, d in schema.items()}
    return pd.DataFrame(out).set_axis(pd.RangeIndex(len(df)))


def check(df: pd.DataFrame, schema: Schema) -> list[str]:
    """Problems with ``df`` as a frame of ``schema`` (columns, order, dtypes); empty when it conforms."""
    problems: list[str] = []
    if list(df.columns) != list(schema):
        problems.append(f"columns {list(df.columns)} != schema {list(schema)}")
    for c, want in schema.items():
        if c in df.columns and not _same(df[c].dtype, want):
            problems.append(f"{c}: dtype {df[c].dtype} is not {want}")
    return problems
