"""The report's pictures: matplotlib figures of each data product, rendered to PNG bytes.

The plots themselves live in :mod:`vultr_toolkit.plot` (one place for every chart). A plot function that this build
does not have yet (``plot_inventory``, ``plot_health_timeline``, ``plot_health_latency``) is replaced by a small
fallback here, so a report always shows its data; a plot that fails is reported as a note, never as a broken file.

Example::

    >>> from vultr_toolkit.report.figures import png_bytes
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(2, 1)); _ = fig.add_subplot().plot([0, 1])
    >>> png_bytes(fig)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._redact import redact

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..bench import BenchmarkResult

__all__ = ["Picture", "benchmark_pictures", "health_pictures", "inventory_pictures", "png_bytes"]

log = logging.getLogger("vultr_toolkit.report")

_DPI = 100


@dataclass(frozen=True)
class Picture:
    """One rendered plot: a caption and the PNG bytes (``png`` is None when the plot failed; ``note`` says why)."""

    caption: str
    png: bytes | None
    note: str | None = None


def png_bytes(fig: Figure) -> bytes:
    """PNG bytes of a figure (no pyplot involved; the Agg canvas is attached on save)."""
    buf = io.BytesIO()
    # No "Software" key: the file stays free of version strings that change between identical runs.
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _figure(width: float = 7.0, height: float = 3.8) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _plot_fn(name: str) -> Callable[..., Any] | None:
    """``vultr_toolkit.plot.<name>`` when this build has it."""
    from .. import plot

    fn = getattr(plot, name, None)
    return fn if callable(fn) else None


def _picture(caption: str, draw: Callable[[], Figure]) -> Picture:
    try:
        fig = draw()
        return Picture(caption, png_bytes(fig))
    except Exception as e:  # one broken plot must not lose the whole report
        log.warning("report plot %r failed: %s", caption, redact(str(e)))
        return Picture(caption, None, note=redact(f"plot unavailable: {type(e).__name__}: {e}"))


# --- inventory -------------------------------------------------------------------------------------------------
def _fallback_inventory(resources: pd.DataFrame, ax: Axes, by: str, value: str) -> None:
    data = resources.assign(count=1).groupby(by, observed=True)[value].sum().sort_values(ascending=False)
    ax.bar([str(k) for k in data.index], data.to_numpy(dtype=float, na_value=0.0), color="tab:blue")
    ax.set_xlabel(by.replace("_", " "))
    ax.set_ylabel("resources" if value == "count" else "USD / month")
    ax.set_title(("Resources" if value == "count" else "Monthly cost") + f" by {by.replace('_', ' ')}")
    ax.tick_params(axis="x", labelrotation=45)
    ax.grid(True, axis="y", alpha=0.3)


def _inventory_chart(resources: pd.DataFrame, by: str, value: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    fn = _plot_fn("plot_inventory")
    if fn is not None:
        fn(resources, by=by, value=value, ax=ax)
    else:
        _fallback_inventory(resources, ax, by, value)
    return fig


def inventory_pictures(resources: pd.DataFrame) -> list[Picture]:
    """Resources per region and monthly cost per resource type (from ``snapshot.resources``)."""
    if len(resources) == 0:
        return []
    return [
        _picture("Resources by region", lambda: _inventory_chart(resources, "region", "count")),
        _picture("Monthly cost by resource type (USD)",
                 lambda: _inventory_chart(resources, "resource_type", "monthly_cost_usd")),
    ]


# --- health ----------------------------------------------------------------------------------------------------
def _fallback_timeline(history: pd.DataFrame, ax: Axes) -> None:
    colours = {"up": "tab:green", "degraded": "tab:orange", "down": "tab:red", "maintenance": "tab:gray"}
    labels = [str(t) for t in history["service"].astype(str).unique()]
    for i, name in enumerate(labels):
        rows = history[history["service"].astype(str) == name]
        ax.scatter(rows["checked_at"], [i] * len(rows), c=[colours.get(str(s), "black") for s in rows["status"]],
                   marker="s", s=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("checked at (UTC)")
    ax.set_title("Health timeline (green up · orange degraded · red down)")
    ax.grid(True, axis="x", alpha=0.3)


def _fallback_latency(history: pd.DataFrame, ax: Axes) -> None:
    h = history[history["service"].astype(str) != "overall"]
    for name, rows in h.groupby(h["service"].astype(str)):
        ax.plot(rows["checked_at"], rows["latency_ms"].to_numpy(dtype=float, na_value=float("nan")), marker=".",
                label=str(name))
    ax.set_xlabel("checked at (UTC)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Probe latency")
    ax.grid(True, alpha=0.3)
    if len(h):
        ax.legend(fontsize="small")


def _health_chart(history: pd.DataFrame, plot_name: str, fallback: Callable[[pd.DataFrame, Axes], None]) -> Figure:
    fig = _figure(height=3.4)
    ax = fig.add_subplot()
    fn = _plot_fn(plot_name)
    if fn is not None:
        fn(history, ax=ax)
    else:
        fallback(history, ax)
    fig.autofmt_xdate()
    return fig


def health_pictures(history: pd.DataFrame) -> list[Picture]:
    """Status timeline and probe latency over time (from a health history frame)."""
    if len(history) == 0:
        return []
    return [
        _picture("Health timeline", lambda: _health_chart(history, "plot_health_timeline", _fallback_timeline)),
        _picture("Probe latency", lambda: _health_chart(history, "plot_health_latency", _fallback_latency)),
    ]


# --- benchmark -------------------------------------------------------------------------------------------------
def benchmark_pictures(result: BenchmarkResult) -> list[Picture]:
    """The result's overview figure (latency vs load, TTFT ECDF, throughput) and the ITL ECDF."""
    if len(result.requests) == 0:
        return []

    def overview() -> Figure:
        return result.plot(fig=_figure(15, 4.2))

    def itl() -> Figure:
        from ..plot import plot_itl_ecdf

        fig = _figure(6.4, 3.8)
        plot_itl_ecdf(result.chunks, ax=fig.add_subplot())
        return fig

    name = result.meta.get("label") or result.meta.get("model") or "benchmark"
    return [_picture(f"{name}: latency, TTFT and throughput vs load", overview),
            _picture(f"{name}: inter-token latency ECDF", itl)]
