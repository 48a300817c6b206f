"""Importing the toolkit and touching ``vt.widgets`` / ``vt.plot`` stays light: no ipywidgets, no matplotlib.

A notebook user pays for those only when a widget or a plot is built (they are imported inside the functions).
"""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_ipywidgets_or_matplotlib() -> None:
    code = ("import sys, vultr_toolkit as vt; vt.widgets; vt.plot; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
