"""Reports: one self-contained HTML file, Markdown with PNGs, or a Parquet bundle of the frames behind them.

Example:

>>> rep = vt.report.build(inventory=snap, health=hist, benchmark=res, title="Weekly check")
>>> rep                               # renders inline in Jupyter
<Report 'Weekly check' (inventory: 3 tables, 2 plots, health: ... tables, ... plots, benchmark: 1 tables, 2 plots)>
>>> html = rep.to_html("weekly.html")  # tables + PNG plots inlined as data URIs + run metadata; no secrets
>>> sb.api_key in open("weekly.html").read()
False
>>> md = rep.to_markdown("weekly.md")   # PNGs in weekly_files/
>>> pq = rep.to_parquet("weekly-data/")  # every frame, readable with pandas
>>> import os; sorted(os.listdir("weekly-data"))
['benchmark', 'health', 'inventory', 'report.json']

Modules: :mod:`~.model` (:func:`build`, :class:`Report`), :mod:`~.figures` (plots → PNG), :mod:`~.render`
(jinja2 template in ``templates/``, Markdown), :mod:`~.metadata` (versions, time, settings as fingerprints).
"""

from __future__ import annotations

from .model import Report, Section, Table, build

__all__ = ["Report", "Section", "Table", "build"]
