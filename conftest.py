"""The namespace every docstring example runs in (``pytest --doctest-modules vultr_toolkit``, scripts/test.sh).

This file sits at the repository root rather than in ``vultr_toolkit/`` so that no test code ships in the wheel
(setuptools packages every module under ``vultr_toolkit``) and ``--doctest-modules`` does not import it as part of
the package. Examples may use, without importing them:

* ``vt``, ``pd``, ``np`` — the toolkit, pandas, numpy;
* ``sb`` — one fast :class:`vultr_toolkit.Sandbox` for the session (seed 0, no rate limit, inference emulator at
  ``time_scale=0.05``); an example that sets faults on it must clear them again (``sb.clear_faults()``);
* ``client`` — ``vt.Client(sb.settings())``;
* ``snap`` — ``client.inventory.snapshot(progress=False)``;
* ``res`` — a small benchmark: ``vt.bench.run(client, model="qwen3.8-27b", concurrency=[1, 4], requests=8,
  max_tokens=16)``;
* ``monitor`` / ``hist`` — a :class:`vultr_toolkit.HealthMonitor` on ``sb`` after three ticks, and its samples.

Each example runs in its own temporary directory (files it writes land there), with the ``VULTR_*`` environment
cleared and pointed at ``sb``, and the default history store a temporary SQLite file: nothing an example does can
reach anything but loopback or leave files behind.

The fixtures here only act on doctest items, so they cost the tests under ``tests/`` nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")  # plot examples draw off-screen; set before matplotlib loads

import numpy as np
import pandas as pd
import pytest
from _pytest.doctest import DoctestItem

import vultr_toolkit as vt

DOC_MODEL = "qwen3.8-27b"


@pytest.fixture(scope="session")
def doctest_sandbox() -> Iterator[vt.Sandbox]:
    """The session's fast sandbox ``sb`` (started on first use by a doctest)."""
    with vt.Sandbox(seed=0, rate_limit=None, time_scale=0.05) as sb:
        yield sb


@pytest.fixture(scope="session")
def doctest_objects(doctest_sandbox: vt.Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The recurring objects of the examples, built once: they are read-only for the examples."""
    sb = doctest_sandbox
    with vt.Client(sb.settings()) as client, vt.HealthMonitor(sb.settings()) as monitor:
        snap = client.inventory.snapshot(progress=False)
        res = vt.bench.run(client, model=DOC_MODEL, concurrency=[1, 4], requests=8, max_tokens=16, progress=False)
        monitor.run(interval_s=0.05, count=3)
        yield {"vt": vt, "pd": pd, "np": np, "sb": sb, "client": client, "snap": snap, "res": res,
               "monitor": monitor, "hist": monitor.samples(),
               "_store_url": f"sqlite:///{tmp_path_factory.mktemp('doctest-store') / 'history.sqlite'}"}


@pytest.fixture(autouse=True)
def _doctest_environment(request: pytest.FixtureRequest) -> None:
    """For a doctest item: fill ``doctest_namespace``, isolate its cwd and environment; otherwise nothing."""
    if not isinstance(request.node, DoctestItem):
        return
    objects: dict[str, Any] = request.getfixturevalue("doctest_objects")
    namespace: dict[str, Any] = request.getfixturevalue("doctest_namespace")
    namespace.update({k: v for k, v in objects.items() if not k.startswith("_")})
    mp: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    tmp: Path = request.getfixturevalue("tmp_path")
    mp.chdir(tmp)  # relative paths in examples ("report.html", "sqlite:///bench.sqlite") land in a temp dir
    for name in [n for n in os.environ if n.startswith("VULTR_")]:
        mp.delenv(name)  # a real key in the developer's shell must never reach an example
    sb: vt.Sandbox = objects["sb"]
    mp.setenv("VULTR_API_URL", sb.api_url)  # vt.Client() / vt.Settings() without arguments: the sandbox
    mp.setenv("VULTR_API_KEY", sb.api_key)
    mp.setenv("VULTR_INFERENCE_URL", sb.inference_url)
    mp.setenv("VULTR_INFERENCE_API_KEY", sb.inference_api_key)
    mp.setenv("VULTR_TOOLKIT_STORE", objects["_store_url"])
