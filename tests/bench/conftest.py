"""A real sandbox (loopback HTTP) with a fast inference emulator, shared by the benchmark tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

import vultr_toolkit as vt
from vultr_toolkit.sandbox.inference import InferenceEmulator

# time_scale 0.05: TTFT ~2.5 ms, 1 ms per token -- fast tests, same code paths as real timing.
FAST = {"time_scale": 0.05}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[vt.Sandbox]:
    with vt.Sandbox(seed=0, inference=FAST) as sb:
        yield sb


@pytest.fixture
def emu(sandbox: vt.Sandbox) -> Iterator[InferenceEmulator]:
    """The sandbox's emulator; options changed by a test are reset afterwards."""
    assert sandbox.inference is not None
    yield sandbox.inference
    sandbox.inference.configure(faults={}, fault_cycle=None, usage="auto", fault_after_chunks=2, stall_s=3600.0,
                                retry_after_s=1.0, **FAST)


@pytest.fixture
def realtime_sandbox(make_sandbox: Callable[..., vt.Sandbox]) -> vt.Sandbox:
    """Real-time emulator (time_scale 1): a level lasts long enough to be interrupted, or to lose a worker, midway."""
    return make_sandbox(rate_limit=None, inference={"time_scale": 1.0})


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """Set at teardown, so a test's watcher thread never outlives it."""
    ev = threading.Event()
    yield ev
    ev.set()
