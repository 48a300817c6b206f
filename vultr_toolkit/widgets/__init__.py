"""ipywidgets dashboards over the toolkit's DataFrames: inventory, health, benchmarks.

Each dashboard is a thin class over pure render functions (data + control values → frame, figure, HTML), so the
same views work in reports and tests. ipywidgets is imported only when a dashboard is built (``[widgets]`` extra).

Example (each one displays as a dashboard when it is the last expression of a Jupyter cell):

``vt.widgets.InventoryExplorer(snap)`` explores an inventory snapshot (see :mod:`~.inventory`);

>>> vt.widgets.HealthDashboard(hist).summary["service"].tolist()
['api', 'inference', 'overall']
>>> list(vt.widgets.BenchmarkRunner(client).controls)
['model', 'mode', 'levels', 'requests', 'max_tokens', 'run']
"""

from __future__ import annotations

from .bench import BenchmarkRunner, chat_models, merge_results, parse_levels, summary_table
from .health import HealthDashboard, filter_history, health_figure, health_summary
from .inventory import InventoryExplorer, filter_resources, inventory_figure, inventory_summary_html

__all__ = [
    "BenchmarkRunner",
    "HealthDashboard",
    "InventoryExplorer",
    "chat_models",
    "filter_history",
    "filter_resources",
    "health_figure",
    "health_summary",
    "inventory_figure",
    "inventory_summary_html",
    "merge_results",
    "parse_levels",
    "summary_table",
]
