"""Fixtures for the inventory tests: real sandboxes over loopback HTTP (module-scoped: they are read-only here)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.inventory import InventorySnapshot
from vultr_toolkit.sandbox import Sandbox

# Every sized kind of the sandbox fleet, for the 0-row and 1-row variants.
SIZE_KEYS = ("instances", "bare_metals", "kubernetes_clusters", "node_pools_per_cluster", "load_balancers", "blocks",
             "databases", "snapshots", "object_storages", "billing_history", "billing_invoices", "pending_charges",
             "inference_subscriptions")


@pytest.fixture(scope="module")
def inv_sandbox() -> Iterator[Sandbox]:
    """The default fleet (N rows of everything), no faults."""
    with Sandbox(seed=0) as sb:
        yield sb


@pytest.fixture(scope="module")
def inv_client(inv_sandbox: Sandbox) -> Iterator[vt.Client]:
    with vt.Client(inv_sandbox.settings()) as client:
        yield client


@pytest.fixture(scope="module")
def inv_snapshot(inv_client: vt.Client) -> InventorySnapshot:
    return inv_client.inventory.snapshot(progress=False)


def sized_snapshot(n: int, seed: int = 0) -> tuple[InventorySnapshot, set[str]]:
    """A snapshot (plus database_usage) of a sandbox with ``n`` of every kind, and that sandbox's secret values."""
    with Sandbox(seed=seed, fleet=dict.fromkeys(SIZE_KEYS, n)) as sb, vt.Client(sb.settings()) as client:
        snap = client.inventory.snapshot([*vt.inventory.ALL_RESOURCES, "database_usage", "database_alerts"],
                                         progress=False, strict=True)
        return snap, sb.secret_values()


def without_lineage(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in ("_fetched_at", "_source") if c in df.columns])
