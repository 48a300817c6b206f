"""Plots of inventory and health frames (vultr_toolkit.plot, the functions appended after the benchmark plots),
and ``label=`` / ``color=`` / extra keywords on every ``plot_*``.

Data comes from the sandbox over loopback HTTP: a real snapshot, a real monitor run with an injected outage of
the management API and two real benchmark runs. Every plot must return an Axes with a title, units on its axes and
a legend for several series, and must leave pyplot's global state alone.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any, cast

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
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


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[vt.bench.BenchmarkResult, vt.bench.BenchmarkResult]]:
    """Two small benchmark runs against the sandbox's emulator (fast timings), to overlay on one Axes."""
    with vt.Sandbox(seed=0, rate_limit=None, inference={"time_scale": 0.05}) as sb:
        a, b = (vt.bench.run(sb, model="deepseek-v4.1-flash", concurrency=[1, 2], requests=3, warmup=0,
                             max_tokens=6, progress=False, label=name) for name in ("run-a", "run-b"))
        yield a, b


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
    # One outage of one service is one incident, although the synthetic overall row is down with it.
    assert inc["service"].astype(str).tolist() == ["api"]
    assert sorted(vt.health.incidents(history, overall=True)["service"].astype(str)) == ["api", "overall"]
    ax = vp.plot_health_timeline(history)
    assert ax.get_title() == "Health timeline (1 incident)"
    assert ax.get_xlabel() == "time (UTC)" and ax.get_ylabel() == "target"
    assert _yticks(ax)[-1] == "overall"  # overall on top
    assert set(_yticks(ax)) == {"overall", "api", "inference"}
    labels = _legend(ax)
    assert {"up", "down", "incident"} <= set(labels)
    # One shaded span per incident (on the api row; the overall row is red there but not an incident).
    hatched = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(hatched) == 1
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


# --- label= and color= on every plot_* ----------------------------------------------------------------------------
def _public_plots() -> dict[str, Callable[..., Axes]]:
    """Every public ``plot_*`` of the module, found by name, so a new one is covered without editing this test."""
    return {n: f for n, f in inspect.getmembers(vp, inspect.isfunction)
            if n.startswith("plot_") and f.__module__ == vp.__name__}


def _inputs(runs: tuple[Any, Any], snapshot: object, history: pd.DataFrame) -> dict[str, object]:
    a, b = runs
    return {"plot_latency_vs_load": a, "plot_throughput": a, "plot_ttft_ecdf": a.requests, "plot_itl_ecdf": a,
            "plot_compare": vt.bench.compare(a, b), "plot_inventory": snapshot, "plot_cost": snapshot,
            "plot_health_timeline": history, "plot_health_latency": history}


def _rgb(artist: Artist) -> tuple[float, float, float]:
    """The colour an artist (or legend handle) is drawn in: a line's colour, else its face colour."""
    if isinstance(artist, Line2D):
        return to_rgb(cast(str, artist.get_color()))
    face = np.asarray(artist.get_facecolor())  # type: ignore[attr-defined]
    return to_rgb(tuple(face[0] if face.ndim == 2 else face))


def _handles(ax: Axes) -> list[tuple[str, Artist]]:
    leg = ax.get_legend()
    assert leg is not None, "expected a legend"
    return [(t.get_text(), h) for t, h in zip(leg.get_texts(), leg.legend_handles, strict=True) if h is not None]


def test_every_plot_takes_label_and_color(runs: tuple[Any, Any], snapshot: object, history: pd.DataFrame) -> None:
    plots = _public_plots()
    inputs = _inputs(runs, snapshot, history)
    assert set(plots) <= set(inputs), f"add an input for {sorted(set(plots) - set(inputs))} to _inputs()"
    colour = "#1f5fa0"
    for name, plot in plots.items():
        params = inspect.signature(plot).parameters
        assert {"label", "color"} <= set(params), name
        ax = Figure().add_subplot()
        assert plot(inputs[name], ax=ax, label="qwen", color=colour) is ax, name
        handles = _handles(ax)
        assert handles and all(text.startswith("qwen ") for text, _ in handles), (name, [t for t, _ in handles])
        # The health timeline keeps its status colours (they mean up/down); color= is its incident shading.
        coloured = [h for t, h in handles if t.endswith("incident")] if name == "plot_health_timeline" \
            else [h for _, h in handles]
        assert coloured, name
        assert all(np.allclose(_rgb(h), to_rgb(colour)) for h in coloured), name


_BENCH_LINE_PLOTS = ("plot_latency_vs_load", "plot_ttft_ecdf", "plot_itl_ecdf", "plot_throughput")


@pytest.mark.parametrize("name", _BENCH_LINE_PLOTS)
def test_two_runs_overlay_with_their_own_labels_and_colours(name: str, runs: tuple[Any, Any]) -> None:
    plot = getattr(vp, name)
    a, b = runs
    ax = Figure().add_subplot()
    plot(a, ax=ax, label="a", color="tab:blue")
    plot(b, ax=ax, label="b", color="tab:red")
    texts = _legend(ax)
    assert len(texts) == len(set(texts)), texts  # no two entries alike
    mine = {lbl: [t for t in texts if t.startswith(f"{lbl} ")] for lbl in ("a", "b")}
    assert mine["a"] and len(mine["a"]) == len(mine["b"]) and len(mine["a"]) + len(mine["b"]) == len(texts)
    assert [t[2:] for t in mine["a"]] == [t[2:] for t in mine["b"]]  # the same series, told apart by the label
    lines = [line for axes in ax.figure.axes for line in axes.get_lines()]
    for lbl, colour in (("a", "tab:blue"), ("b", "tab:red")):
        drawn = [line for line in lines if str(line.get_label()).startswith(f"{lbl} ")]
        assert drawn and all(np.allclose(_rgb(line), to_rgb(colour)) for line in drawn), (lbl, len(drawn))


def test_several_series_of_one_colour_differ_by_line_style(runs: tuple[Any, Any]) -> None:
    ax = vp.plot_latency_vs_load(runs[0], color="tab:green")
    assert [line.get_linestyle() for line in ax.get_lines()] == ["-", "--", ":"]
    assert {to_rgb(cast(str, line.get_color())) for line in ax.get_lines()} == {to_rgb("tab:green")}


def test_extra_keywords_win_over_the_defaults_and_aliases_work(runs: tuple[Any, Any]) -> None:
    ax = vp.plot_latency_vs_load(runs[0], marker="s", ls=":", c="purple", metrics=("ttft_s",), band=None)
    (line,) = ax.get_lines()
    assert line.get_marker() == "s" and line.get_linestyle() == ":"
    assert np.allclose(_rgb(line), to_rgb("purple"))
    bars = vp.plot_compare(vt.bench.compare(*runs), metric="ttft_s_p50", alpha=0.5, ec="black")
    assert {cast(Rectangle, p).get_alpha() for p in bars.patches} == {0.5}
    with pytest.raises(vt.ConfigError, match="color="):
        vp.plot_throughput(runs[0], color="red", c="blue")
    with pytest.raises(vt.ConfigError, match="label="):
        vp.plot_ttft_ecdf(runs[0], label=3)  # type: ignore[arg-type]  # what a careless caller passes
