"""Cache test fixtures: every test in tests/cache that takes ``backend`` runs on a real Valkey and in process."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from vultr_toolkit.cache import Cache

_names = itertools.count()


@dataclass
class Backend:
    """Which backend a test runs on: ``url`` is None for the in-process one."""

    name: str
    url: str | None


@pytest.fixture(params=["valkey", "memory"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "valkey":
        return Backend("valkey", request.getfixturevalue("valkey_url"))
    return Backend("memory", None)


@pytest.fixture
def make_cache(backend: Backend) -> Iterator[Callable[..., Cache]]:
    """Build caches on the test's backend; each test gets its own namespace (the memory store is process-wide)."""
    made: list[Cache] = []
    namespace = f"t{next(_names)}"

    def make(**kw: Any) -> Cache:
        kw.setdefault("namespace", namespace)
        cache = Cache(backend.url, **kw)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        try:
            cache.clear()
        finally:
            cache.close()
