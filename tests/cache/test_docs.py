"""The cache modules' docstring examples run (in-process backend), so the documented API stays true."""

from __future__ import annotations

import doctest
import types

import pytest

from vultr_toolkit import _cache_codec, cache


@pytest.mark.parametrize("module", [cache, _cache_codec], ids=lambda m: m.__name__)
def test_docstring_examples(module: types.ModuleType) -> None:
    cache.Cache(namespace="doc").clear()  # the examples share the process-wide in-process store
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
