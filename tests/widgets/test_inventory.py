"""InventoryExplorer over a real sandbox snapshot: every control changes what is shown."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd
import pytest
from matplotlib.patches import Rectangle

import vultr_toolkit as vt
from vultr_toolkit.widgets import InventoryExplorer, filter_resources, inventory_summary_html


@pytest.fixture(scope="module")
def snapshot() -> Iterator[Any]:
    with vt.Sandbox(seed=0, rate_limit=None) as sb, vt.Client(sb.settings()) as client:
        yield client.inventory.snapshot(progress=False)


@pytest.fixture
def explorer(snapshot: Any) -> InventoryExplorer:
    return InventoryExplorer(snapshot)


def _regions(df: pd.DataFrame) -> set[str]:
    return set(df["region"].astype(object).where(df["region"].notna(), "global").astype(str))


def test_starts_with_everything(explorer: InventoryExplorer, snapshot: Any) -> None:
    assert len(explorer.frame) == len(snapshot.resources)
    assert set(explorer.controls["region"].options) == _regions(snapshot.resources)
    assert explorer.chart.value[:4] == b"\x89PNG"
    assert f"<b>{len(snapshot.resources)}</b> resources" in explorer.status.value


def test_region_filter_leaves_only_that_region(explorer: InventoryExplorer) -> None:
    before_png, before_table = explorer.chart.value, explorer.table.value
    explorer.controls["region"].value = ("ewr",)
    assert len(explorer.frame) > 0
    assert _regions(explorer.frame) == {"ewr"}
    assert explorer.chart.value != before_png
    assert explorer.table.value != before_table
    left = explorer.figure.axes[0]  # type: ignore[union-attr]
    assert [t.get_text() for t in left.get_yticklabels()] == ["ewr"]
    explorer.controls["region"].value = ("ewr", "global")
    assert _regions(explorer.frame) == {"ewr", "global"}


def test_type_and_status_filters_combine(explorer: InventoryExplorer, snapshot: Any) -> None:
    explorer.controls["resource_type"].value = ("instances",)
    assert set(explorer.frame["resource_type"].astype(str)) == {"instances"}
    n_instances = len(explorer.frame)
    explorer.controls["status"].value = ("active",)
    assert set(explorer.frame["status"].astype(str)) == {"active"}
    assert 0 < len(explorer.frame) < n_instances
    res = snapshot.resources
    expected = res[(res["resource_type"] == "instances") & (res["status"] == "active")]
    assert sorted(explorer.frame["id"]) == sorted(expected["id"])
    assert explorer.frame.dtypes.equals(res.dtypes)


def test_reset_button_clears_every_filter(explorer: InventoryExplorer, snapshot: Any) -> None:
    explorer.controls["region"].value = ("ewr",)
    explorer.controls["status"].value = ("active",)
    explorer.controls["resource_type"].value = ("instances",)
    explorer.controls["reset"].click()
    assert all(explorer.controls[n].value == () for n in ("region", "status", "resource_type"))
    assert len(explorer.frame) == len(snapshot.resources)


def test_bars_by_and_value_toggles_change_the_chart(explorer: InventoryExplorer, snapshot: Any) -> None:
    explorer.controls["by"].value = "resource_type"
    left = explorer.figure.axes[0]  # type: ignore[union-attr]
    assert left.get_ylabel() == "resource type"
    assert {t.get_text() for t in left.get_yticklabels()} == set(snapshot.resources["resource_type"].astype(str))
    explorer.controls["value"].value = "monthly_cost_usd"
    left = explorer.figure.axes[0]  # type: ignore[union-attr]
    assert left.get_xlabel() == "monthly cost (USD)"
    total = sum(cast(Rectangle, p).get_width() for p in left.patches)
    assert total == pytest.approx(float(snapshot.resources["monthly_cost_usd"].dropna().sum()))


def test_no_match_says_so(explorer: InventoryExplorer) -> None:
    explorer.controls["resource_type"].value = ("snapshots",)
    explorer.controls["status"].value = ("running",)  # snapshots have no "running" status
    assert len(explorer.frame) == 0
    assert "no resource matches" in explorer.status.value
    assert explorer.chart.value[:4] == b"\x89PNG"


def test_displays_as_its_widget(explorer: InventoryExplorer) -> None:
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id


def test_filter_resources_is_pure_and_keeps_dtypes(snapshot: Any) -> None:
    res = snapshot.resources
    out = filter_resources(res, resource_types=["databases", "instances"], regions=["ewr"])
    assert set(out["resource_type"].astype(str)) <= {"databases", "instances"}
    assert _regions(out) == {"ewr"}
    assert out.dtypes.equals(res.dtypes)
    assert len(filter_resources(res)) == len(res)
    assert len(res) == len(snapshot.resources)  # the input is not modified
    html = inventory_summary_html(out)
    assert f"<b>{len(out)}</b> resources" in html


def test_takes_the_resources_frame_too(snapshot: Any) -> None:
    res = snapshot.resources
    explorer = InventoryExplorer(res[res["resource_type"] == "databases"])
    assert set(explorer.controls["resource_type"].options) == {"databases"}
    explorer.controls["status"].value = (explorer.controls["status"].options[0],)
    assert set(explorer.frame["status"].astype(str)) == {explorer.controls["status"].options[0]}
