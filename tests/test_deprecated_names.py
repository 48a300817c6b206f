"""One name per thing (issue 13 item 6): each renamed public name works under its new name, and the old one still
works for a release with a DeprecationWarning that names the replacement — and is never collected by pytest."""

from __future__ import annotations

import pytest

import vultr_toolkit as vt
from vultr_toolkit import bench, health
from vultr_toolkit.sandbox import Sandbox
from vultr_toolkit.sandbox.fleet import build_fleet
from vultr_toolkit.sandbox.management import ManagementAPI, ManagementEmulator


def test_verify_services_is_the_new_name_and_test_services_warns(sandbox: Sandbox) -> None:
    new = vt.verify_services(sandbox.settings())
    with pytest.warns(DeprecationWarning, match=r"test_services\(\) is deprecated .* use verify_services\(\)"):
        old = vt.test_services(sandbox.settings())
    assert list(old.columns) == list(new.columns)
    assert set(old["service"]) == set(new["service"]) and "inference" in set(new["service"])
    assert "verify_services" in vt.__all__ and "test_services" not in vt.__all__
    assert health.test_services is not health.verify_services


def test_the_old_test_named_alias_is_not_a_pytest_test() -> None:
    # pytest skips any object whose __test__ is False; before the rename `from vultr_toolkit import test_services`
    # in a test module made pytest call it as a test (with a fixture named "settings").
    assert vt.test_services.__test__ is False
    assert vt.test_services.__name__ == "test_services"


def test_summarize_one_spelling(sandbox: Sandbox) -> None:
    from vultr_toolkit.bench import metrics

    res = bench.run(sandbox, model="qwen3.8-27b", concurrency=[1], requests=2, max_tokens=4, progress=False)
    with pytest.warns(DeprecationWarning, match=r"use summarize\(\)"):
        old = metrics.summarise(res.requests, res.chunks, res.levels)
    new = metrics.summarize(res.requests, res.chunks, res.levels)
    assert old.equals(new) and int(new["requests"].iloc[0]) == 2


def test_instance_snapshots_and_the_old_name(sandbox: Sandbox) -> None:
    inv = vt.Client(sandbox.settings()).inventory
    new = inv.instance_snapshots()
    with pytest.warns(DeprecationWarning, match=r"snapshots\(\) is deprecated .* use instance_snapshots\(\)"):
        old = inv.snapshots()
    assert len(new) > 0 and old["id"].tolist() == new["id"].tolist()


def test_sandbox_management_emulator_name() -> None:
    with pytest.warns(DeprecationWarning, match="use ManagementEmulator instead"):
        api = ManagementAPI(build_fleet(0), api_key="sandbox-key")
    assert isinstance(api, ManagementEmulator)
