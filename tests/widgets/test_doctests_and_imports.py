"""The widget modules' docstring examples run, and importing them stays light (no ipywidgets, no matplotlib)."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

MODULES = ["vultr_toolkit.widgets._ui", "vultr_toolkit.widgets.inventory", "vultr_toolkit.widgets.health",
           "vultr_toolkit.widgets.bench", "vultr_toolkit.plot"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_import_does_not_load_ipywidgets_or_matplotlib() -> None:
    code = ("import sys, vultr_toolkit as vt; vt.widgets; vt.plot; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
