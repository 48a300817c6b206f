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
* ``valkey_url`` / ``pg_url`` — a throwaway Valkey and PostgreSQL on 127.0.0.1 (``tests/plugins/servers.py``),
  started only for the examples that name them, as ``redis://`` and ``postgresql+psycopg2://`` URLs;
* ``monitor`` / ``hist`` — a :class:`vultr_toolkit.HealthMonitor` on ``sb`` after four ticks (the middle two
  during an injected outage of ``/v2/account``, so ``hist`` holds one resolved incident), and its samples; they
  are also in the default history store, ``vt.store.HistoryStore()``.

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
    store_url = f"sqlite:///{tmp_path_factory.mktemp('doctest-store') / 'history.sqlite'}"
    with (vt.Client(sb.settings()) as client,
          vt.HealthMonitor(sb.settings(), store=store_url, retries_before_down=0) as monitor):
        snap = client.inventory.snapshot(progress=False)
        res = vt.bench.run(client, model=DOC_MODEL, concurrency=[1, 4], requests=8, max_tokens=16, progress=False)
        # A history with one resolved outage of the management API, so incident and timeline examples show one.
        monitor.check()
        sb.set_faults("/v2/account", p503=1.0, retry_after_s=None)
        try:
            monitor.run(interval_s=0.05, count=2)
        finally:
            sb.clear_faults()
        monitor.check()
        yield {"vt": vt, "pd": pd, "np": np, "sb": sb, "client": client, "snap": snap, "res": res,
               "monitor": monitor, "hist": monitor.samples(), "_store_url": store_url}


@pytest.fixture(scope="session")
def doctest_valkey_url() -> Iterator[str]:
    """``valkey_url``: a session Valkey for the examples that need one (emptied per example)."""
    from tests.plugins.servers import ValkeyServer

    with ValkeyServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def doctest_pg_url() -> Iterator[str]:
    """``pg_url``: a database on a session PostgreSQL for the examples that need one."""
    from tests.plugins.servers import PostgresServer

    with PostgresServer() as server:
        yield server.url_for(server.create_database("doctest"))


# namespace name -> the session fixture that provides it, for the servers only a few examples use
_SERVERS = {"valkey_url": "doctest_valkey_url", "pg_url": "doctest_pg_url"}


@pytest.fixture(autouse=True)
def _doctest_environment(request: pytest.FixtureRequest) -> None:
    """For a doctest item: fill ``doctest_namespace``, isolate its cwd and environment; otherwise nothing."""
    if not isinstance(request.node, DoctestItem):
        return
    objects: dict[str, Any] = request.getfixturevalue("doctest_objects")
    namespace: dict[str, Any] = request.getfixturevalue("doctest_namespace")
    namespace.update({k: v for k, v in objects.items() if not k.startswith("_")})
    source = "".join(ex.source for ex in request.node.dtest.examples)
    for name, fixture in _SERVERS.items():
        if name in source:
            namespace[name] = request.getfixturevalue(fixture)
    if "valkey_url" in source:
        import redis

        with redis.Redis.from_url(namespace["valkey_url"]) as r:
            r.flushall()  # each example starts from an empty server
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
