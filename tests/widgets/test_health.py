"""HealthDashboard over a real monitor, a stored history and a frame: controls, refresh and live refresh."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.widgets import HealthDashboard, filter_history


def _wait(cond: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Poll (no timing assertion: a deadline only to fail instead of hanging)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture
def sandbox_fast() -> Iterator[vt.Sandbox]:
    with vt.Sandbox(seed=0, rate_limit=None) as sb:
        yield sb


@pytest.fixture
def monitor(sandbox_fast: vt.Sandbox) -> Iterator[vt.HealthMonitor]:
    mon = vt.HealthMonitor(sandbox_fast.settings(), retries_before_down=0)
    mon.run(interval_s=0.05, count=3, progress=False)
    yield mon
    mon.close()


@pytest.fixture
def history(monitor: vt.HealthMonitor, sandbox_fast: vt.Sandbox) -> pd.DataFrame:
    """Three healthy ticks, two ticks with /v2/account down, and 10 minutes older copies of them."""
    sandbox_fast.set_faults("/v2/account*", p503=1.0, retry_after_s=None)
    monitor.run(interval_s=0.05, count=2, progress=False)
    sandbox_fast.clear_faults()
    recent = monitor.samples()
    old = recent.copy()
    old["checked_at"] = old["checked_at"] - pd.Timedelta("10min")
    old["sample_id"] = old["sample_id"] + "-old"
    return pd.concat([old, recent], ignore_index=True)


def test_frame_source_services_targets_window_overall(history: pd.DataFrame) -> None:
    dash = HealthDashboard(history)
    c = dash.controls
    assert set(c["services"].options) == {"api", "inference"}
    assert len(dash.frame) == len(history)
    assert len(dash.incidents) == 2  # the api outage, in both copies (the overall row is not a service)
    assert set(dash.incidents["service"].astype(str)) == {"api"}
    assert "2 incident(s)" in dash.status.value and "Incidents (2)" in dash.table.value
    png = dash.chart.value

    c["services"].value = ("inference",)
    assert set(dash.frame["service"].astype(str)) == {"inference", "overall"}
    assert [v for _, v in c["targets"].options] == sorted(set(history.loc[history["service"] == "inference",
                                                                            "target"].astype(str)))
    assert dash.chart.value != png
    assert len(dash.summary) == 2

    c["overall"].value = False
    assert set(dash.frame["service"].astype(str)) == {"inference"}
    assert len(dash.incidents) == 0 and "Incidents" not in dash.table.value

    c["services"].value = ()
    c["targets"].value = (next(v for lbl, v in c["targets"].options if lbl.startswith("api")),)
    assert set(dash.frame["service"].astype(str)) == {"api"}

    c["window"].value = "1min"
    assert dash.frame["checked_at"].min() > history["checked_at"].max() - pd.Timedelta("1min")
    assert len(dash.frame) == len(history[history["service"] == "api"]) // 2
    assert len(dash.incidents) == 1
    assert "Incidents (1)" in dash.table.value
    assert "samples" in dash.status.value


def test_refresh_button_reloads_a_monitor(monitor: vt.HealthMonitor) -> None:
    dash = HealthDashboard(monitor)
    n = len(dash.history)
    monitor.run(interval_s=0.05, count=2, progress=False)
    assert len(dash.history) == n  # nothing changes until asked
    dash.controls["refresh"].click()
    assert dash.refreshes == 1
    assert len(dash.history) == n + 2 * 3  # two ticks of api, inference and overall


def _live_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "vtk-health-dashboard")


def _box_changes(dash: HealthDashboard) -> list[bool]:
    """Every value the "live refresh" checkbox takes from now on (a feedback loop would show as extra flips)."""
    seen: list[bool] = []
    dash.controls["live"].observe(lambda change: seen.append(change["new"]), names="value")
    return seen


def test_live_refresh_follows_a_background_monitor_and_stops_with_it(monitor: vt.HealthMonitor) -> None:
    dash = HealthDashboard(monitor, interval_s=0.2)
    n = len(dash.history)
    flips = _box_changes(dash)
    before = _live_threads()
    monitor.run(interval_s=0.1, background=True)
    try:
        dash.start_live()
        assert dash.live and dash.controls["live"].value is True  # start_live() ticks the box ...
        assert dash.status.value.endswith(" · live")                # ... and the footer says so at once
        dash.start_live()                                           # idempotent: still one thread
        assert _live_threads() == before + 1
        assert _wait(lambda: dash.refreshes >= 2 and len(dash.history) > n)
        assert dash.status.value.endswith(" · live")                # reloads keep saying it while live
    finally:
        final = monitor.stop()
    assert len(final) > 0
    assert _wait(lambda: not dash.live)  # the dashboard notices the monitor stopped
    assert _wait(lambda: _live_threads() == before)
    assert dash.controls["live"].value is False
    assert "samples" in dash.status.value and "live" not in dash.status.value  # the footer no longer says live
    assert len(dash.history) == len(monitor.samples())  # one last reload caught the final samples
    assert flips == [True, False]  # ticked once by start_live, unticked once when it ended: no loop


def test_stop_live_unticks_the_box_and_the_footer(monitor: vt.HealthMonitor) -> None:
    dash = HealthDashboard(monitor, interval_s=0.2)
    flips = _box_changes(dash)
    before = _live_threads()
    monitor.run(interval_s=0.1, background=True)
    try:
        dash.start_live()
        assert dash.controls["live"].value is True and dash.status.value.endswith(" · live")
        assert _wait(lambda: dash.refreshes >= 1)
        dash.stop_live()
        assert not dash.live and dash.controls["live"].value is False
        assert "samples" in dash.status.value and "live" not in dash.status.value
        assert _live_threads() == before
        dash.controls["live"].value = True  # the box starts it again, and the API sees it
        assert dash.live and dash.status.value.endswith(" · live") and _live_threads() == before + 1
        dash.controls["live"].value = False
        assert not dash.live and "live" not in dash.status.value and _live_threads() == before
    finally:
        monitor.stop()
    assert flips == [True, False, True, False]


def test_live_checkbox_off_stops_the_thread(monitor: vt.HealthMonitor) -> None:
    dash = HealthDashboard(monitor, interval_s=0.2)
    monitor.run(interval_s=0.1, background=True)
    try:
        dash.controls["interval_s"].value = 0.3
        dash.controls["live"].value = True
        assert dash.live
        dash.controls["live"].value = False
        assert not dash.live
        count = dash.refreshes
        time.sleep(0.7)
        assert dash.refreshes == count  # no reload after stopping
    finally:
        monitor.stop()


def test_store_source(sandbox_fast: vt.Sandbox, tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/health.sqlite"
    with vt.HealthMonitor(sandbox_fast.settings(), store=url) as mon:
        mon.run(interval_s=0.05, count=2, progress=False)
    store = vt.store.HistoryStore(url)
    try:
        dash = HealthDashboard(store)
        assert len(dash.history) == 2 * 3
        dash.controls["window"].value = "1h"
        dash.controls["refresh"].click()
        assert len(dash.history) == 2 * 3 and dash.refreshes == 1
    finally:
        store.close()


def test_rejects_other_sources() -> None:
    with pytest.raises(TypeError, match="HealthMonitor"):
        HealthDashboard([1, 2, 3])


def test_filter_history_window_is_relative_to_the_newest_sample(history: pd.DataFrame) -> None:
    recent = filter_history(history, window="5min")
    assert len(recent) == len(history) // 2
    assert len(filter_history(history, window="5min", end=pd.Timestamp.now("UTC") + pd.Timedelta("1h"))) == 0
    assert filter_history(history, overall=False)["service"].astype(str).ne("overall").all()
