"""Plots of inventory and health frames (vultr_toolkit.plot, the functions appended after the benchmark plots).

Data comes from the sandbox over loopback HTTP: a real snapshot and a real monitor run with an injected outage of
the management API. Every plot must return an Axes with a title, units on its axes and a legend for several
series, and must leave pyplot's global state alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import cast

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import vultr_toolkit as vt
from vultr_toolkit import plot as vp


@pytest.fixture(scope="module")
def snapshot() -> Iterator[object]:
    with vt.Sandbox(seed=0, rate_limit=None) as sb, vt.Client(sb.settings()) as client:
        yield client.inventory.snapshot(progress=False)


@pytest.fixture(scope="module")
def history() -> Iterator[pd.DataFrame]:
    """Healthy ticks, four ticks of HTTP 503 from /v2/account (one pending, then down), healthy again."""
    with vt.Sandbox(seed=0, rate_limit=None) as sb:
        mon = vt.HealthMonitor(sb.settings(), retries_before_down=1)
        try:
            mon.run(interval_s=0.05, count=4, progress=False)
            sb.set_faults("/v2/account*", p503=1.0, retry_after_s=None)
            mon.run(interval_s=0.05, count=4, progress=False)
            sb.clear_faults()
            mon.run(interval_s=0.05, count=4, progress=False)
            yield mon.samples()
        finally:
            mon.close()


def _legend(ax: Axes) -> list[str]:
    leg = ax.get_legend()
    assert leg is not None, "expected a legend"
    return [t.get_text() for t in leg.get_texts()]


def _yticks(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _bar_widths(ax: Axes) -> float:
    return float(sum(cast(Rectangle, p).get_width() for p in ax.patches))


# --- inventory ----------------------------------------------------------------------------------------------------
def test_inventory_by_region_counts_every_resource_stacked_by_type(snapshot: object) -> None:
    res = snapshot.resources  # type: ignore[attr-defined]
    ax = vp.plot_inventory(res)
    assert isinstance(ax, Axes)
    assert ax.get_title() == "Resources by region"
    assert ax.get_xlabel() == "resources (count)" and ax.get_ylabel() == "region"
    assert _bar_widths(ax) == pytest.approx(len(res))
    regions = set(res["region"].astype(object).where(res["region"].notna(), "global").astype(str))
    assert set(_yticks(ax)) == regions
    assert set(_legend(ax)) == set(res["resource_type"].astype(str))
    # Largest region at the top (barh: the last tick is drawn highest).
    counts = res["region"].astype(object).where(res["region"].notna(), "global").value_counts()
    assert counts[_yticks(ax)[-1]] == counts.max()


def test_inventory_cost_by_type_sums_known_costs_stacked_by_status(snapshot: object) -> None:
    res = snapshot.resources  # type: ignore[attr-defined]
    ax = vp.plot_inventory(snapshot, by="resource_type", value="monthly_cost_usd")
    assert ax.get_title() == "Monthly cost by resource type"
    assert ax.get_xlabel() == "monthly cost (USD)"
    assert _bar_widths(ax) == pytest.approx(float(res["monthly_cost_usd"].dropna().sum()))
    # Only statuses that carry a known cost get a stack (and a legend entry); no status is "unknown".
    status = res["status"].astype(object).where(res["status"].notna(), "unknown")
    costly = res["monthly_cost_usd"].fillna(0).astype(float).groupby(status.to_numpy()).sum()
    assert set(_legend(ax)) == set(costly[costly > 0].index)
    assert len(set(_legend(ax))) < status.nunique()  # the sandbox has statuses that cost nothing
    assert set(_yticks(ax)) == set(res["resource_type"].astype(str))


def test_inventory_honours_ax_and_stack_none(snapshot: object) -> None:
    fig = Figure()
    given = fig.add_subplot()
    ax = vp.plot_inventory(snapshot.resources, stack=None, ax=given)  # type: ignore[attr-defined]
    assert ax is given
    assert ax.get_legend() is None  # one series: no legend
    assert len(ax.patches) == len(_yticks(ax))


def test_inventory_rejects_unknown_by_and_value(snapshot: object) -> None:
    with pytest.raises(ValueError, match="by="):
        vp.plot_inventory(snapshot.resources, by="plan")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="value="):
        vp.plot_inventory(snapshot.resources, value="cpu")  # type: ignore[attr-defined]


def test_cost_shows_the_top_resources_most_expensive_on_top(snapshot: object) -> None:
    res = snapshot.resources  # type: ignore[attr-defined]
    ax = vp.plot_cost(res, top=5)
    widths = [cast(Rectangle, p).get_width() for p in ax.patches]
    expected = sorted(res["monthly_cost_usd"].dropna().astype(float), reverse=True)[:5]
    assert widths[::-1] == pytest.approx(expected)
    assert ax.get_title() == "Top 5 resources by monthly cost"
    assert ax.get_xlabel() == "monthly cost (USD)"
    top = res.loc[res["monthly_cost_usd"].astype(float).idxmax()]
    assert _yticks(ax)[-1] == str(top["label"])[:28]
    assert str(top["resource_type"]) in _legend(ax)


def test_inventory_plots_take_empty_frames(snapshot: object) -> None:
    empty = snapshot.resources.iloc[0:0]  # type: ignore[attr-defined]
    assert vp.plot_inventory(empty).get_title() == "Resources by region"
    assert vp.plot_cost(empty).get_title() == "Top 0 resources by monthly cost"


# --- health -------------------------------------------------------------------------------------------------------
def test_timeline_rows_statuses_and_incidents(history: pd.DataFrame) -> None:
    inc = vt.health.incidents(history)
    assert len(inc) == 2  # the api target and the overall row
    ax = vp.plot_health_timeline(history)
    assert ax.get_title() == "Health timeline (2 incidents)"
    assert ax.get_xlabel() == "time (UTC)" and ax.get_ylabel() == "target"
    assert _yticks(ax)[-1] == "overall"  # overall on top
    assert set(_yticks(ax)) == {"overall", "api", "inference"}
    labels = _legend(ax)
    assert {"up", "down", "incident"} <= set(labels)
    # One shaded span per incident: axvspan draws Rectangles with the incident hatch.
    hatched = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(hatched) == 2
    # Down time is drawn in red on the api row only (and overall).
    reds = [c for c in ax.collections
            if np.allclose(cast(npt.NDArray[np.float64], c.get_facecolor())[0][:3],
                           (0xD6 / 255, 0x27 / 255, 0x28 / 255))]
    assert len(reds) == 2


def test_timeline_without_overall_and_on_a_given_axes(history: pd.DataFrame) -> None:
    fig = Figure()
    given = fig.add_subplot()
    ax = vp.plot_health_timeline(history, overall=False, ax=given)
    assert ax is given
    assert set(_yticks(ax)) == {"api", "inference"}
    assert ax.get_title() == "Health timeline (1 incident)"


def test_latency_percentile_lines_per_target(history: pd.DataFrame) -> None:
    ax = vp.plot_health_latency(history, freq="1s")
    assert ax.get_ylabel() == "probe latency (ms)"
    assert ax.get_xlabel() == "time (UTC)"
    assert ax.get_title() == "Probe latency percentiles per 1s bucket"
    assert set(_legend(ax)) == {f"{t} p{p}" for t in ("api", "inference") for p in (50, 95, 99)}
    p50 = next(line for line in ax.get_lines() if line.get_label() == "inference p50")
    summary = vt.health.summarize(history[history["service"] == "inference"], freq="1s")
    assert np.allclose(p50.get_ydata(), summary["latency_p50_ms"].to_numpy(dtype=float), equal_nan=True)


def test_latency_chooses_a_bucket_and_can_show_overall(history: pd.DataFrame) -> None:
    ax = vp.plot_health_latency(history, percentiles=(50,), overall=True)
    assert set(_legend(ax)) == {"api p50", "inference p50", "overall p50"}
    assert vp.health_bucket(history) in ax.get_title()
    with pytest.raises(ValueError, match="percentiles"):
        vp.plot_health_latency(history, percentiles=(90,))


def test_health_bucket_is_round_and_scales_with_the_span() -> None:
    def frame(hours: float) -> pd.DataFrame:
        return pd.DataFrame({"checked_at": pd.to_datetime([0, hours * 3600e9], utc=True)})

    assert vp.health_bucket(frame(30 / 3600)) == "1s"
    assert vp.health_bucket(frame(1 / 60)) == "2s"
    assert vp.health_bucket(frame(24)) == "1h"
    assert vp.health_bucket(frame(24 * 30)) == "1D"


def test_health_plots_take_an_empty_history(history: pd.DataFrame) -> None:
    empty = history.iloc[0:0]
    assert vp.plot_health_timeline(empty).get_title() == "Health timeline (0 incidents)"
    assert vp.plot_health_latency(empty).get_ylabel() == "probe latency (ms)"


def test_no_pyplot_state(snapshot: object, history: pd.DataFrame) -> None:
    before = plt.get_fignums()
    res = snapshot.resources  # type: ignore[attr-defined]
    axes = [vp.plot_inventory(res), vp.plot_cost(res), vp.plot_health_timeline(history),
            vp.plot_health_latency(history)]
    assert plt.get_fignums() == before
    assert all(isinstance(a.figure, Figure) for a in axes)
