"""Compare two inventory snapshots: what was added, removed, and what changed (naming the columns).

Example::

    >>> old = {"instances": pd.DataFrame({"id": ["a", "b"], "label": ["web", "db"], "plan": ["p1", "p1"]})}
    >>> new = {"instances": pd.DataFrame({"id": ["b", "c"], "label": ["db", "api"], "plan": ["p2", "p1"]})}
    >>> d = diff(old, new)
    >>> d[["id", "change"]].to_dict("list")
    {'id': ['c', 'a', 'b'], 'change': ['added', 'removed', 'changed']}
    >>> d.loc[2, "changed_columns"]
    ['plan']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from .frames import build_frame

if TYPE_CHECKING:  # pragma: no cover
    from .snapshot import InventorySnapshot

__all__ = ["CHANGE_KINDS", "diff"]

CHANGE_KINDS: Final = ("added", "removed", "changed")
#: Columns that differ between any two fetches by construction, so they never count as a change.
_ALWAYS_IGNORED: Final = frozenset({"_fetched_at", "_source"})


def _frames(x: InventorySnapshot | Mapping[str, pd.DataFrame]) -> Mapping[str, pd.DataFrame]:
    return x if isinstance(x, Mapping) else x.frames


def _missing(values: np.ndarray) -> np.ndarray:
    # pd.isna on an object array treats lists/dicts as present, which is what we want.
    return np.asarray(pd.isna(values), dtype=bool)


def _changed(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Row-wise "differs" for two aligned columns; missing == missing; nested values compared by value."""
    av = a.to_numpy(dtype=object)
    bv = b.to_numpy(dtype=object)
    na_a, na_b = _missing(av), _missing(bv)
    both = ~na_a & ~na_b
    eq = np.zeros(len(av), dtype=bool)
    idx = np.flatnonzero(both)
    if len(idx):
        eq[idx] = [bool(x == y) for x, y in zip(av[idx], bv[idx], strict=True)]
    return ~((na_a & na_b) | eq)


def _label(df: pd.DataFrame, ids: Iterable[str]) -> list[Any]:
    if "label" not in df.columns:
        return [None for _ in ids]
    labels = df["label"]
    return [labels.get(i) for i in ids]


def diff(old: InventorySnapshot | Mapping[str, pd.DataFrame], new: InventorySnapshot | Mapping[str, pd.DataFrame],
         *, resources: Iterable[str] | None = None, ignore: Iterable[str] = ()) -> pd.DataFrame:
    """Resources added, removed and changed between two snapshots (or two ``{name: frame}`` dicts).

    Every frame with an ``id`` column that both sides have is compared (``resources`` narrows it), rows matched on
    ``id``. Returns one row per difference: ``resource_type``, ``id``, ``label`` (the newer one),
    ``change`` (``added`` / ``removed`` / ``changed``) and ``changed_columns`` (names, for ``changed`` rows).
    Lineage columns and ``ignore`` are not compared.

    >>> diff({}, {}).columns.tolist()
    ['resource_type', 'id', 'label', 'change', 'changed_columns']
    """
    fo, fn = _frames(old), _frames(new)
    skip = _ALWAYS_IGNORED | set(ignore)
    names = list(resources) if resources is not None else [n for n in fn if n in fo]
    cols: dict[str, list[Any]] = {"resource_type": [], "id": [], "label": [], "change": [], "changed_columns": []}

    def emit(rtype: str, ids: list[str], labels: list[Any], change: str, changed: list[list[str]]) -> None:
        cols["resource_type"].extend([rtype] * len(ids))
        cols["id"].extend(ids)
        cols["label"].extend(labels)
        cols["change"].extend([change] * len(ids))
        cols["changed_columns"].extend(changed)

    for name in names:
        a, b = fo.get(name), fn.get(name)
        if a is None or b is None or "id" not in a.columns or "id" not in b.columns:
            continue
        ai = a.drop_duplicates("id").set_index("id")
        bi = b.drop_duplicates("id").set_index("id")
        added = sorted(str(i) for i in bi.index.difference(ai.index))
        removed = sorted(str(i) for i in ai.index.difference(bi.index))
        emit(name, added, _label(bi, added), "added", [[] for _ in added])
        emit(name, removed, _label(ai, removed), "removed", [[] for _ in removed])
        common = bi.index.intersection(ai.index).sort_values()
        if not len(common):
            continue
        ac, bc = ai.loc[common], bi.loc[common]
        compare = [c for c in dict.fromkeys([*bc.columns, *ac.columns]) if c not in skip]
        masks: dict[str, np.ndarray] = {}
        for c in compare:
            if c in ac.columns and c in bc.columns:
                masks[c] = _changed(ac[c], bc[c])
            else:  # a column only one side has (schema change): every row differs in it
                masks[c] = np.ones(len(common), dtype=bool)
        if not masks:
            continue
        any_changed = np.logical_or.reduce(list(masks.values()))
        rows = np.flatnonzero(any_changed)
        common_ids = [str(i) for i in common]
        ids = [common_ids[i] for i in rows]
        changed_cols = [[c for c, m in masks.items() if m[i]] for i in rows]
        emit(name, ids, _label(bc, ids), "changed", changed_cols)
    return build_frame("diff", cols, len(cols["id"]))
