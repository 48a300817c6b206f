"""vt.inventory.diff between two real sandbox snapshots and on hand-built frames."""

from __future__ import annotations

from typing import cast

import pandas as pd

import vultr_toolkit as vt
from vultr_toolkit.inventory import InventorySnapshot, diff
from vultr_toolkit.inventory.schemas import check_frame
from vultr_toolkit.sandbox import Sandbox


def test_identical_snapshots_have_no_diff(inv_client: vt.Client, inv_snapshot: InventorySnapshot) -> None:
    again = inv_client.inventory.snapshot(progress=False)
    d = diff(inv_snapshot, again)
    assert d.empty and check_frame(d, "diff") == []
    assert vt.inventory.diff is diff


def test_added_removed_and_changed_with_column_names(inv_snapshot: InventorySnapshot) -> None:
    old = dict(inv_snapshot.frames)
    new = dict(inv_snapshot.frames)
    inst = new["instances"].copy()
    gone = inst["id"].iloc[0]
    changed = inst["id"].iloc[1]
    inst = inst.iloc[1:].reset_index(drop=True)
    inst["status"] = inst["status"].cat.add_categories(["stopped"])
    inst.loc[0, "status"] = "stopped"
    tags = cast(list[str], inst.at[0, "tags"])  # an object cell holding the list of tags
    inst.at[0, "tags"] = [*tags, "new-tag"]  # type: ignore[assignment]  # pandas-stubs: .at cells are scalars only
    inst.loc[0, "monthly_cost_usd"] = 999.0
    extra = inst.iloc[[0]].assign(id="brand-new", label="added-one")
    new["instances"] = pd.concat([inst, extra], ignore_index=True)
    new["databases"] = new["databases"].assign(_fetched_at=pd.Timestamp("2030-01-01", tz="UTC"))  # lineage only
    d = diff(old, new)
    assert check_frame(d, "diff") == []
    rows = {(r.change, r.id): r for r in d.itertuples()}
    assert set(rows) == {("added", "brand-new"), ("removed", gone), ("changed", changed)}
    assert rows[("added", "brand-new")].label == "added-one"
    assert rows[("changed", changed)].changed_columns == ["status", "tags", "monthly_cost_usd"]
    assert set(d["resource_type"].astype(str)) == {"instances"}


def test_diff_between_two_fleets_over_http() -> None:
    with Sandbox(seed=0) as a, vt.Client(a.settings()) as ca:
        old = ca.inventory.snapshot(["instances", "databases"], progress=False)
    with Sandbox(seed=0, fleet={"instances": 27, "databases": 7}) as b, vt.Client(b.settings()) as cb:
        new = cb.inventory.snapshot(["instances", "databases"], progress=False)
    d = diff(old, new)
    # the same seed grows the fleet: the first 25 instances and every database are shared, 2 instances are new
    assert d["change"].astype(str).tolist() == ["added", "added"]
    assert set(d["id"]) == set(new["instances"]["id"]) - set(old["instances"]["id"])
    assert set(d["resource_type"].astype(str)) == {"instances"}
