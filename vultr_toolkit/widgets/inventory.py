"""InventoryExplorer: filter an inventory snapshot by resource type, region and status; a table and cost charts.

The pure functions (:func:`filter_resources`, :func:`inventory_figure`, :func:`inventory_summary_html`) do the
work and are usable without ipywidgets; the class only wires controls to them.

Example::

    snap = vt.Client(sb.settings()).inventory.snapshot()
    ex = vt.widgets.InventoryExplorer(snap)
    ex                                         # in Jupyter: the dashboard
    ex.controls["region"].value = ("ewr",)     # the same as clicking in it
    ex.frame                                   # the rows shown
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._ui import Dashboard, figure_png, frame_html, ipywidgets, message_html

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["InventoryExplorer", "filter_resources", "inventory_figure", "inventory_summary_html"]

#: The label a resource without a region gets in the controls (as in ``InventorySnapshot.summary()``).
GLOBAL = "global"


def _resources(source: Any) -> pd.DataFrame:
    return source if isinstance(source, pd.DataFrame) else source.resources


def _labels(col: pd.Series) -> pd.Series:
    return col.astype(object).where(col.notna(), GLOBAL).astype(str)


def filter_resources(resources: pd.DataFrame, *, resource_types: Iterable[str] = (), regions: Iterable[str] = (),
                     statuses: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of ``resources`` (``snapshot.resources``) whose type, region and status are among those given;
    an empty selection keeps everything. ``"global"`` selects resources without a region. Dtypes are kept.

    >>> df = pd.DataFrame({"resource_type": ["instances", "databases"], "region": ["ewr", None],
    ...                    "status": ["active", "active"]})
    >>> filter_resources(df, regions=["global"])["resource_type"].tolist()
    ['databases']
    """
    keep = pd.Series(True, index=resources.index)
    for col, chosen in (("resource_type", resource_types), ("region", regions), ("status", statuses)):
        values = set(chosen)
        if values:
            keep &= _labels(resources[col]).isin(values)
    return resources[keep.to_numpy(dtype=bool)].reset_index(drop=True)


def inventory_figure(resources: pd.DataFrame, *, by: str = "region", value: str = "count",
                     top: int = 12) -> Figure:
    """Two panels: :func:`~vultr_toolkit.plot.plot_inventory` (``by``, ``value``) and the ``top`` resources by cost.

    >>> fig = inventory_figure(snap.resources, by="resource_type", value="monthly_cost_usd")
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    from ..plot import plot_cost, plot_inventory

    fig = Figure(figsize=(12, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_inventory(resources, by=by, value=value, ax=left)
    plot_cost(resources, top=top, ax=right)
    return fig


def inventory_summary_html(resources: pd.DataFrame) -> str:
    """One line: resources shown, known monthly cost, and how many have no known cost.

    >>> inventory_summary_html(pd.DataFrame({"monthly_cost_usd": pd.array([5.0, None], dtype="Float64")}))
    '<b>2</b> resources · known monthly cost <b>$5.00</b> · 1 without a known cost'
    """
    cost = resources["monthly_cost_usd"].astype("Float64")
    unknown = int(cost.isna().sum())
    text = f"<b>{len(resources):,}</b> resources · known monthly cost <b>${float(cost.dropna().sum()):,.2f}</b>"
    return text + (f" · {unknown:,} without a known cost" if unknown else "")


class InventoryExplorer(Dashboard):
    """A dashboard over a snapshot's resources: filters on the left, charts and the table in the middle.

    ``source``: an :class:`~vultr_toolkit.inventory.InventorySnapshot` or its ``resources`` frame.
    State: ``.frame`` (the rows shown), ``.figure`` (the last chart), ``.controls`` (name → widget:
    ``resource_type``, ``region``, ``status``, ``by``, ``value``, ``reset``).

    >>> ex = InventoryExplorer(snap); ex.controls["by"].value = "resource_type"
    >>> ex.frame.shape
    (57, 7)
    """

    def __init__(self, source: Any, *, max_rows: int = 50) -> None:
        w = ipywidgets()
        self.source = source
        self.resources = _resources(source)
        self.max_rows = max_rows
        opts = {c: sorted(set(_labels(self.resources[c]))) for c in ("resource_type", "region", "status")}
        rows = lambda n: max(3, min(8, n))  # noqa: E731 - a size rule, used three times
        self.controls: dict[str, Any] = {
            "resource_type": w.SelectMultiple(options=opts["resource_type"], description="type",
                                              rows=rows(len(opts["resource_type"]))),
            "region": w.SelectMultiple(options=opts["region"], description="region", rows=rows(len(opts["region"]))),
            "status": w.SelectMultiple(options=opts["status"], description="status", rows=rows(len(opts["status"]))),
            "by": w.ToggleButtons(options=[("region", "region"), ("type", "resource_type")], value="region",
                                  description="bars by"),
            "value": w.ToggleButtons(options=[("count", "count"), ("cost", "monthly_cost_usd")], value="count",
                                     description="value"),
            "reset": w.Button(description="Reset filters", icon="undo"),
        }
        for name in ("resource_type", "region", "status", "by", "value"):
            self.controls[name].observe(self._on_change, names="value")
        self.controls["reset"].on_click(self._on_reset)
        source_txt = html.escape(str(getattr(source, "source", "") or ""))
        fetched = getattr(source, "fetched_at", None)
        self.header = w.HTML(f"<h3 style='margin:0'>Inventory</h3><span style='color:#666'>{source_txt}"
                             f"{' · fetched ' + html.escape(fetched.isoformat()) if fetched is not None else ''}"
                             "</span>")
        self.chart = w.Image(format="png", layout=w.Layout(width="100%"))
        self.table = w.HTML()
        self.status = w.HTML()
        self.frame = self.resources
        self.figure: Figure | None = None
        self.widget = w.AppLayout(
            header=self.header,
            left_sidebar=w.VBox([self.controls[n] for n in ("resource_type", "region", "status", "reset")]),
            center=w.VBox([w.HBox([self.controls["by"], self.controls["value"]]), self.chart, self.table]),
            footer=self.status, pane_widths=["300px", 1, 0], pane_heights=["60px", 1, "30px"],
        )
        self.update()

    # --- wiring -----------------------------------------------------------------------------------------------
    def _on_change(self, _change: Any = None) -> None:
        self.update()

    def _on_reset(self, _button: Any = None) -> None:
        for name in ("resource_type", "region", "status"):
            self.controls[name].value = ()

    def update(self) -> None:
        """Re-filter and re-render from the controls' current values."""
        c = self.controls
        self.frame = filter_resources(self.resources, resource_types=c["resource_type"].value,
                                      regions=c["region"].value, statuses=c["status"].value)
        self.figure = inventory_figure(self.frame, by=c["by"].value, value=c["value"].value)
        self.chart.value = figure_png(self.figure)
        self.table.value = frame_html(self.frame, max_rows=self.max_rows)
        self.status.value = (inventory_summary_html(self.frame) if len(self.frame)
                             else message_html("no resource matches these filters"))
