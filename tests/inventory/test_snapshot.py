"""InventorySnapshot views (resources, summary, HTML) and persistence: Parquet directory and the history store
on SQLite and PostgreSQL, dtype-exact."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vultr_toolkit.inventory import RESOURCE_TYPES, InventorySnapshot, diff
from vultr_toolkit.inventory.schemas import check_frame, empty_frame
from vultr_toolkit.store import HistoryStore


def test_resources_is_one_long_table(inv_snapshot: InventorySnapshot) -> None:
    res = inv_snapshot.resources
    assert check_frame(res, "resources") == []
    expected = sum(len(inv_snapshot[r]) for r in RESOURCE_TYPES)
    assert len(res) == expected
    inst = res[res["resource_type"] == "instances"]
    assert inst["id"].tolist() == inv_snapshot["instances"]["id"].tolist()
    assert inst["monthly_cost_usd"].sum() == inv_snapshot["instances"]["monthly_cost_usd"].sum()


def test_summary_counts_costs_and_totals(inv_snapshot: InventorySnapshot) -> None:
    s = inv_snapshot.summary()
    assert check_frame(s, "summary") == []
    inst = inv_snapshot["instances"]
    per_region = s[(s["resource_type"] == "instances") & (s["region"] != "total")]
    assert dict(zip(per_region["region"].astype(str), per_region["count"], strict=True)) == \
        inst.groupby("region", observed=True).size().to_dict()
    total = s[(s["resource_type"] == "instances") & (s["region"] == "total")].iloc[0]
    assert total["count"] == len(inst)
    assert total["monthly_cost_usd"] == pytest.approx(inst["monthly_cost_usd"].sum())
    grand = s[(s["resource_type"] == "total")].iloc[0]
    assert grand["count"] == len(inv_snapshot.resources)
    assert grand["monthly_cost_usd"] == pytest.approx(inv_snapshot.total_monthly_cost_usd)
    snaps = s[s["resource_type"] == "snapshots"]
    assert set(snaps["region"].astype(str)) == {"global", "total"}
    assert snaps["monthly_cost_usd"].isna().all()  # the API publishes no price: missing, not 0


def test_empty_snapshot_views_keep_their_schema() -> None:
    snap = InventorySnapshot({})
    assert check_frame(snap.resources, "resources") == [] and len(snap.resources) == 0
    assert check_frame(snap.summary(), "summary") == [] and len(snap.summary()) == 0
    assert snap.total_monthly_cost_usd == 0.0


def test_html_repr_is_escaped_and_informative(inv_snapshot: InventorySnapshot) -> None:
    html = inv_snapshot._repr_html_()
    assert "InventorySnapshot" in html and "instances" in html and "$" in html
    frames = dict(inv_snapshot.frames)
    frames["instances"] = frames["instances"].assign(label="<script>alert(1)</script>")
    html = InventorySnapshot(frames, inv_snapshot.errors, inv_snapshot.fetched_at, "<b>src</b>")._repr_html_()
    assert "<b>src</b>" not in html and "&lt;b&gt;src&lt;/b&gt;" in html
    assert "InventorySnapshot(" in repr(inv_snapshot)


def _assert_identical(a: InventorySnapshot, b: InventorySnapshot) -> None:
    assert list(a.frames) == list(b.frames)
    for name in a.frames:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
        assert [str(t) for t in a[name].dtypes] == [str(t) for t in b[name].dtypes], name
    pd.testing.assert_frame_equal(a.errors, b.errors)
    assert a.fetched_at == b.fetched_at and a.source == b.source
    assert diff(a, b).empty


def test_parquet_directory_round_trip(inv_snapshot: InventorySnapshot, tmp_path: Path) -> None:
    out = inv_snapshot.to_parquet(tmp_path / "snap")
    assert (out / "instances.parquet").exists() and (out / "meta.json").exists()
    _assert_identical(inv_snapshot, InventorySnapshot.read_parquet(out))


def test_to_frames_refuses_a_secret() -> None:
    from vultr_toolkit import StoreError

    bad = InventorySnapshot({"instances": pd.DataFrame({"id": ["a"], "x": [{"password": "hunter2-secret"}]})})
    with pytest.raises(StoreError, match="secret fields"):
        bad.to_frames()


def _store_round_trip(snap: InventorySnapshot, url: str) -> None:
    store = HistoryStore(url)
    sid = snap.save(store)
    assert snap.snapshot_id == sid
    listed = store.inventory_snapshots()
    row = listed[listed["run_id"] == sid].iloc[0]
    assert row["resource_count"] == len(snap.resources) and row["error_count"] == 0
    loaded = InventorySnapshot.load(store, sid)
    assert isinstance(loaded, InventorySnapshot) and loaded.snapshot_id == sid
    _assert_identical(snap, loaded)
    # 0-row frames survive too
    empty = InventorySnapshot({n: empty_frame(n) for n in snap.frames}, snap.errors, snap.fetched_at)
    again = InventorySnapshot.load(url, empty.save(url))  # a URL string works as the store too
    _assert_identical(empty, again)
    assert again.snapshot_id == empty.snapshot_id != sid


def test_store_round_trip_sqlite(inv_snapshot: InventorySnapshot, tmp_path: Path) -> None:
    _store_round_trip(inv_snapshot, f"sqlite:///{tmp_path / 'history.sqlite'}")


@pytest.mark.postgres
def test_store_round_trip_postgresql(inv_snapshot: InventorySnapshot, pg_url: str) -> None:
    _store_round_trip(inv_snapshot, pg_url)
