"""Reports: one self-contained HTML file, Markdown with PNGs, or a Parquet bundle of the frames behind them.

Example::

    import vultr_toolkit as vt
    rep = vt.report.build(inventory=snap, health=hist, benchmark=res, title="Weekly check")
    rep.to_html("weekly.html")        # tables + PNG plots inlined as data URIs + run metadata; no secrets
    rep.to_markdown("weekly.md")      # PNGs in weekly_files/
    rep.to_parquet("weekly-data/")    # every frame, readable with pandas
    rep                               # renders inline in Jupyter

Modules: :mod:`~.model` (:func:`build`, :class:`Report`), :mod:`~.figures` (plots → PNG), :mod:`~.render`
(jinja2 template in ``templates/``, Markdown), :mod:`~.metadata` (versions, time, settings as fingerprints).
"""

from __future__ import annotations

from .model import Report, Section, Table, build

__all__ = ["Report", "Section", "Table", "build"]
