"""Shared pieces of the dashboards: the lazy ipywidgets import, figure → PNG, table → HTML, the display protocol.

ipywidgets is an optional dependency (the ``[widgets]`` extra), so it is imported only when a dashboard is built:
``import vultr_toolkit.widgets`` and the pure render functions work without it.
"""

from __future__ import annotations

import html
import io
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["Dashboard", "clear_output", "figure_png", "frame_html", "ipywidgets", "message_html"]


def ipywidgets() -> ModuleType:
    """The ipywidgets module, or an ImportError that says how to install it."""
    try:
        import ipywidgets as w
    except ImportError as e:  # pragma: no cover - the test environment has the extra
        raise ImportError("the dashboards need ipywidgets: pip install 'vultr-toolkit[widgets]'") from e
    return w


def figure_png(fig: Figure, *, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib figure (for an ``ipywidgets.Image``: no Output-widget flicker, no pyplot).

    >>> from matplotlib.figure import Figure
    >>> figure_png(Figure(figsize=(1, 1)))[:4]
    b'\\x89PNG'
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def frame_html(df: pd.DataFrame, *, max_rows: int = 50, height_px: int = 320) -> str:
    """An escaped HTML table of ``df`` (first ``max_rows`` rows) in a scrolling box; NA shown as an em dash.

    >>> "<table" in frame_html(pd.DataFrame({"a": [1]}))
    True
    """
    note = (f"<div style='color:#666;font-size:small'>showing {max_rows:,} of {len(df):,} rows</div>"
            if len(df) > max_rows else "")
    table = df.head(max_rows).to_html(index=False, escape=True, na_rep="—", border=0)
    return f"<div style='max-height:{height_px}px;overflow:auto'>{table}</div>{note}"


def clear_output(out: Any) -> None:
    """Empty an ``ipywidgets.Output``, also outside a kernel.

    ``Output.clear_output()`` asks IPython, which without a running shell prints ANSI erase codes to stdout (in a
    plain Python session, a script or a doctest); emptying ``.outputs`` clears the widget there without a print.

    >>> out = ipywidgets().Output()
    >>> out.outputs = ({"output_type": "stream", "name": "stdout", "text": "old"},)
    >>> clear_output(out); out.outputs
    ()
    """
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():
        out.clear_output()  # in Jupyter: the kernel's clear message, as before
    else:
        out.outputs = ()


def message_html(text: str, *, error: bool = False) -> str:
    """One escaped status line (red when ``error``).

    >>> message_html("<b>", error=True)
    "<span style='color:#b00'>&lt;b&gt;</span>"
    """
    color = "#b00" if error else "#444"
    return f"<span style='color:{color}'>{html.escape(text)}</span>"


class Dashboard:
    """Base of the dashboards: the root widget is ``.widget``; a bare dashboard as a cell's value displays it."""

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: display it in Jupyter, or use .widget>"
