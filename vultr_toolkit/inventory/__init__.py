"""Inventory as DataFrames: every Vultr resource, whole snapshots, costs and diffs.

Reached as ``client.inventory`` (:class:`InventoryAPI`, or :class:`AsyncInventoryAPI` on ``vt.AsyncClient``)
and as ``vt.inventory`` for the module-level helpers:

>>> len(client.inventory.instances())                 # one DataFrame per resource
25
>>> new = client.inventory.snapshot(progress=False)
>>> vt.inventory.diff(snap, new).columns.tolist()     # added / removed / changed (+ which columns); none here
['resource_type', 'id', 'label', 'change', 'changed_columns']
>>> len(vt.inventory.diff(snap, new))
0

Modules: :mod:`~.schemas` (column → dtype, one source of truth), :mod:`~.frames` (pure JSON → DataFrame
builders), :mod:`~.api` (sync/async drivers), :mod:`~.snapshot` (:class:`InventorySnapshot`), :mod:`~.diff`,
:mod:`~.aliases` (the original integration's names).
"""

from __future__ import annotations

from .aliases import (
    DatabaseHealth,
    get_account_info,
    get_database,
    get_database_health,
    get_infrastructure_summary,
    list_databases,
    list_instances,
    list_valkey,
)
from .api import AsyncInventoryAPI, InventoryAPI, InventoryWarning
from .diff import diff
from .schemas import ALL_RESOURCES, RESOURCE_TYPES, SCHEMAS, SECRET_FIELDS
from .snapshot import InventorySnapshot

__all__ = [
    "ALL_RESOURCES",
    "RESOURCE_TYPES",
    "SCHEMAS",
    "SECRET_FIELDS",
    "AsyncInventoryAPI",
    "DatabaseHealth",
    "InventoryAPI",
    "InventorySnapshot",
    "InventoryWarning",
    "diff",
    "get_account_info",
    "get_database",
    "get_database_health",
    "get_infrastructure_summary",
    "list_databases",
    "list_instances",
    "list_valkey",
]
