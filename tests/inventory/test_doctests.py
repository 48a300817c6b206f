"""The examples in the inventory modules' docstrings run and stay true."""

from __future__ import annotations

import doctest
import importlib
import sys

import pytest

MODULES = ["schemas", "frames", "diff", "snapshot", "aliases", "api"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    importlib.import_module(f"vultr_toolkit.inventory.{name}")
    module = sys.modules[f"vultr_toolkit.inventory.{name}"]  # the package's `diff` attribute is the function
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
