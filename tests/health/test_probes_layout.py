"""The probes package: one module per probe on a shared base, and every old import path still works."""

from __future__ import annotations

import importlib

import vultr_toolkit.health as health
import vultr_toolkit.health.probes as probes
from vultr_toolkit.health.probes.base import Probe

# Every name imported from vultr_toolkit.health.probes before it became a package (vultr_toolkit, tests,
# benchmarks, notebooks), and the module that now holds it.
HOMES = {
    "DEFAULT_TIMEOUT_S": "probes.base", "Probe": "probes.base",
    "Sample": "sample", "ProbeOutcome": "sample",
    "classify": "classify", "display_target": "classify",
    "PostgresProbe": "probes.postgres", "probe_postgres": "probes.postgres",
    "ValkeyProbe": "probes.valkey", "ValkeyCounters": "probes.valkey", "valkey_rates": "probes.valkey",
    "valkey_details": "probes.valkey", "probe_valkey": "probes.valkey",
    "InferenceProbe": "probes.http", "APIProbe": "probes.http", "ManagedDatabaseProbe": "probes.http",
    "probe_inference": "probes.http", "probe_api": "probes.http", "probe_managed_database": "probes.http",
}


def test_every_old_name_imports_from_the_package_and_is_the_new_homes_object() -> None:
    for name, home in HOMES.items():
        module = importlib.import_module(f"vultr_toolkit.health.{home}")
        assert getattr(probes, name) is getattr(module, name), name
        assert name in probes.__all__, name
    for name in health.__all__:  # the health package's own re-exports are the same objects
        if hasattr(probes, name):
            assert getattr(health, name) is getattr(probes, name), name


def test_each_probe_lives_in_its_own_module_and_http_probes_share_one_base() -> None:
    concrete = {c.__name__: c.__module__ for c in (probes.PostgresProbe, probes.ValkeyProbe, probes.InferenceProbe,
                                                   probes.APIProbe, probes.ManagedDatabaseProbe)}
    assert concrete == {
        "PostgresProbe": "vultr_toolkit.health.probes.postgres",
        "ValkeyProbe": "vultr_toolkit.health.probes.valkey",
        "InferenceProbe": "vultr_toolkit.health.probes.http",
        "APIProbe": "vultr_toolkit.health.probes.http",
        "ManagedDatabaseProbe": "vultr_toolkit.health.probes.http",
    }
    http = (probes.InferenceProbe, probes.APIProbe, probes.ManagedDatabaseProbe)
    # one core and one close() for the three HTTP probes, not three copies
    assert len({c.close for c in http}) == 1 and http[0].close is not Probe.close
    assert all(issubclass(c, Probe) for c in http)
