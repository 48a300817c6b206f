"""Sandbox fixtures: the Vultr API emulator on a free loopback port, over real HTTP.

* ``sandbox`` — a fresh ``Sandbox(seed=0)`` per test: set faults, pagination bugs, read its request log freely.
* ``sandbox_session`` — one shared ``Sandbox(seed=0)`` for the session; read-only use: do not set faults or bugs
  on it (other tests share it), and expect other tests' rows in its request log. Its rate limit is disabled so
  that tests sharing it cannot starve each other; use ``sandbox``/``make_sandbox`` to test 429s.
* ``make_sandbox(**kw)`` — a factory for custom sandboxes (``fleet=``, ``rate_limit=``, ``latency_ms=`` …);
  every sandbox it made is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vultr_toolkit.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox (seed 0, default fleet, 30 req/s limit) for one test."""
    with Sandbox(seed=0) as sb:
        yield sb


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    """One sandbox shared by the whole session (seed 0, no rate limit); never mutate its faults."""
    with Sandbox(seed=0, rate_limit=None) as sb:
        yield sb


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """``make_sandbox(**kwargs) -> Sandbox`` (already started); all are stopped at teardown."""
    made: list[Sandbox] = []

    def factory(**kwargs: Any) -> Sandbox:
        kwargs.setdefault("seed", 0)
        sb = Sandbox(**kwargs).start()
        made.append(sb)
        return sb

    yield factory
    for sb in made:
        sb.stop()
