"""Every resource frame: exact schema for 0, 1 and N rows, and no secret ever (by name or by value)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from vultr_toolkit.inventory import SCHEMAS, InventorySnapshot
from vultr_toolkit.inventory.schemas import (
    ALL_RESOURCES,
    check_frame,
    dtype_of,
    empty_frame,
    find_secret_fields,
    is_secret_field,
)

from .conftest import sized_snapshot

FRAMES = [*ALL_RESOURCES, "database_usage", "database_alerts"]


@pytest.fixture(scope="module")
def by_size() -> dict[int, tuple[InventorySnapshot, set[str]]]:
    return {n: sized_snapshot(n) for n in (0, 1, 40)}


def test_schema_module_is_consistent() -> None:
    for name, cols in SCHEMAS.items():
        assert not [c for c in cols if is_secret_field(c)], name
        for c, kind in cols.items():
            dtype_of(kind)  # every dtype name is valid
            if c.endswith("_at"):
                assert kind == "datetime64[us, UTC]", f"{name}.{c}"
        assert check_frame(empty_frame(name), name) == []


@pytest.mark.parametrize("name", FRAMES)
def test_same_columns_and_dtypes_for_0_1_n_rows(by_size: dict[int, tuple[InventorySnapshot, set[str]]],
                                                name: str) -> None:
    dtypes = {}
    for n, (snap, _) in by_size.items():
        df = snap[name]
        assert check_frame(df, name) == [], (n, check_frame(df, name))
        dtypes[n] = [(c, str(t)) for c, t in df.dtypes.items()]
    assert dtypes[0] == dtypes[1] == dtypes[40]
    assert len(by_size[0][0][name]) == 0 or name in ("account", "regions", "plans")
    assert len(by_size[40][0][name]) >= len(by_size[1][0][name]) >= 1


def test_core_dtypes_follow_the_conventions(by_size: dict[int, tuple[InventorySnapshot, set[str]]]) -> None:
    snap = by_size[40][0]
    inst = snap["instances"]
    assert inst["id"].dtype == "str" and inst["label"].dtype == "str"
    for col in ("region", "status", "plan"):
        assert isinstance(inst[col].dtype, pd.CategoricalDtype)
    assert isinstance(snap["databases"]["engine"].dtype, pd.CategoricalDtype)
    assert str(inst["created_at"].dtype) == "datetime64[us, UTC]"
    assert str(snap["databases"]["created_at"].dtype) == "datetime64[us, UTC]"
    assert inst["created_at"].notna().all() and snap["databases"]["created_at"].notna().all()
    assert all(isinstance(t, list) for t in inst["tags"])
    assert inst["_fetched_at"].nunique() == 1 and inst["_fetched_at"].iloc[0] == snap.fetched_at
    assert inst["_source"].astype(str).str.endswith("/v2/instances").all()
    # the cost twins are joined from the plans catalogue
    plans = snap["plans"].query("catalogue == 'compute'").set_index("id")
    row = inst.iloc[0]
    assert row["monthly_cost_usd"] == plans.loc[row["plan"], "monthly_cost_usd"]
    assert row["plan_vcpus"] == plans.loc[row["plan"], "vcpu_count"]
    assert inst["monthly_cost_usd"].notna().all()


def _cells(df: pd.DataFrame) -> list[str]:
    out = [str(c) for c in df.columns]
    for c in df.columns:
        for v in df[c]:
            out.append(json.dumps(v, default=str) if isinstance(v, dict | list) else str(v))
    return out


@pytest.mark.parametrize("n", [1, 40])
def test_no_secret_reaches_any_frame(by_size: dict[int, tuple[InventorySnapshot, set[str]]], n: int) -> None:
    snap, secrets = by_size[n]
    assert secrets, "the sandbox serves secrets; the inventory must strip them"
    for name, df in snap.frames.items():
        assert find_secret_fields(df) == set(), name
        blob = "\n".join(_cells(df))
        leaked = [s for s in secrets if s in blob]
        assert leaked == [], f"{name} leaks {len(leaked)} secret values"
    # the scrubbed nested objects still carry their non-secret fields
    dbs = snap["databases"]
    ferret = dbs[dbs["engine"] == "ferretpg"]
    if len(ferret):
        creds = ferret["ferretdb_credentials"].iloc[0]
        assert creds and "password" not in creds and creds.get("host")
