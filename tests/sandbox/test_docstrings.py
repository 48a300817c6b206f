"""The examples in the sandbox's docstrings run (so the documentation cannot drift from the code)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["fleet", "pagination", "faults", "ratelimit", "reqlog", "server", "management", "__init__"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module("vultr_toolkit.sandbox" + ("" if name == "__init__" else f".{name}"))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_cli_docstring_examples() -> None:
    import vultr_toolkit.cli as cli

    result = doctest.testmod(cli, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 3
