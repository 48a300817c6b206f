"""ipywidgets dashboards over the toolkit's DataFrames: inventory, health, benchmarks.

Each dashboard is a thin class over pure render functions (data + control values → frame, figure, HTML), so the
same views work in reports and tests. ipywidgets is imported only when a dashboard is built (``[widgets]`` extra).

Example::

    import vultr_toolkit as vt
    vt.widgets.InventoryExplorer(client.inventory.snapshot())
    vt.widgets.HealthDashboard(vt.HealthMonitor(sb.settings()).run(interval_s=1, background=True))
    vt.widgets.BenchmarkRunner(client)
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
