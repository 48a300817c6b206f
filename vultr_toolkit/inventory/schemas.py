"""Column → dtype for every inventory frame: the one source of truth.

Every frame the inventory layer returns is built by :func:`vultr_toolkit.inventory.frames.build_frame`, which
casts each column to the dtype named here and nothing else, so a resource returns the same columns and dtypes for
0, 1 or N rows. Dtype names are pandas dtype strings, plus two markers for nested values:

============================  ===================================================================
``"str"``                     pandas 3 string dtype (ids, labels, hostnames, IPs; missing = NaN)
``"category"``                low-cardinality labels (region, status, plan, engine, …), values normalised
``"datetime64[us, UTC]"``     every column ending ``_at`` (parsed from both date formats the API uses)
``"Int64"`` / ``"Float64"``   nullable numbers, coerced leniently from strings; units in the name
``"boolean"``                 nullable booleans
``"list"``                    ``object`` column holding a Python list (tags, rules, …); never missing
``"dict"``                    ``object`` column holding a dict (nested API objects, secrets removed) or None
============================  ===================================================================

Every frame ends with the lineage columns ``_fetched_at`` (when the fetch began; one value per call or snapshot)
and ``_source`` (the URL the rows came from), in the style of CloudQuery's ``_cq_sync_time``.

No schema may name a secret field (:data:`SECRET_FIELDS`, :func:`is_secret_field`); this is checked at import
time, and :func:`find_secret_fields` scans nested cells of a frame for the same names so tests can assert it.

Example::

    >>> from vultr_toolkit.inventory.schemas import SCHEMAS, empty_frame
    >>> SCHEMAS["instances"]["region"]
    'category'
    >>> empty_frame("instances").dtypes["created_at"]
    datetime64[us, UTC]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from .. import _frames

__all__ = [
    "ALL_RESOURCES",
    "COST_RESOURCES",
    "DIFF_SCHEMA",
    "ERRORS_SCHEMA",
    "LINEAGE",
    "PUBLIC_RESOURCES",
    "RESOURCES_SCHEMA",
    "RESOURCE_TYPES",
    "SCHEMAS",
    "SECRET_FIELDS",
    "SUMMARY_SCHEMA",
    "TS",
    "check_frame",
    "dtype_of",
    "empty_frame",
    "find_secret_fields",
    "is_secret_field",
    "nested_columns",
]

STR: Final = "str"
CAT: Final = "category"
TS: Final = "datetime64[us, UTC]"
INT: Final = "Int64"
FLOAT: Final = "Float64"
BOOL: Final = "boolean"
LIST: Final = "list"
DICT: Final = "dict"

LINEAGE: Final[dict[str, str]] = {"_fetched_at": TS, "_source": CAT}

# Field names that hold credentials somewhere in the Vultr v2 API (its OpenAPI document and govultr's structs),
# plus fields that carry session tokens or could: the noVNC `kvm` URL embeds a session token; node-pool
# `user_data` is cloud-init, which routinely holds keys. Dropped wherever they appear, at any depth.
SECRET_FIELDS: Final[frozenset[str]] = frozenset({
    "access_cert",
    "access_key",
    "api_key",
    "ca_certificate",
    "certificate",
    "chain",
    "default_password",
    "kvm",
    "password",
    "private_key",
    "root_password",
    "s3_access_key",
    "s3_secret_key",
    "secret",
    "ssl",
    "token",
    "user_data",
})
# Any field whose name contains one of these is treated as a secret too (future fields such as `sasl_password`).
_SECRET_PARTS: Final = ("password", "secret", "private_key", "api_key", "access_key", "token", "passphrase")


def is_secret_field(name: str) -> bool:
    """True when a field or column of this name may hold a credential and must never reach a frame.

    >>> is_secret_field("default_password"), is_secret_field("label")
    (True, False)
    """
    low = name.lower()
    return low in SECRET_FIELDS or any(part in low for part in _SECRET_PARTS)


_COST = {"monthly_cost_usd": FLOAT}
_PLAN_TWINS = {"plan_vcpus": INT, "plan_ram_mb": INT, "plan_disk_gb": INT, **_COST}

SCHEMAS: Final[dict[str, dict[str, str]]] = {
    "account": {
        "name": STR, "email": STR, "acls": LIST, "balance_usd": FLOAT, "pending_charges_usd": FLOAT,
        "last_payment_at": TS, "last_payment_amount_usd": FLOAT,
    },
    "instances": {
        "id": STR, "label": STR, "hostname": STR, "region": CAT, "status": CAT, "power_status": CAT,
        "server_status": CAT, "plan": CAT, "os": CAT, "os_id": INT, "app_id": INT, "image_id": STR,
        "snapshot_id": STR, "vcpu_count": INT, "ram_mb": INT, "disk_gb": INT, "allowed_bandwidth_gb": INT,
        "main_ip": STR, "netmask_v4": STR, "gateway_v4": STR, "internal_ip": STR, "v6_network": STR,
        "v6_main_ip": STR, "v6_network_size": INT, "firewall_group_id": STR, "vpc_only": BOOL, "user_scheme": CAT,
        "features": LIST, "tags": LIST, "created_at": TS, **_PLAN_TWINS,
    },
    "bare_metal": {
        "id": STR, "label": STR, "region": CAT, "status": CAT, "plan": CAT, "os": CAT, "os_id": INT,
        "app_id": INT, "image_id": STR, "snapshot_id": STR, "cpu_count": INT, "ram": STR, "disk": STR,
        "main_ip": STR, "netmask_v4": STR, "gateway_v4": STR, "v6_network": STR, "v6_main_ip": STR,
        "v6_network_size": INT, "mac_address": INT, "user_scheme": CAT, "features": LIST, "tags": LIST,
        "created_at": TS, **_PLAN_TWINS,
    },
    "kubernetes_clusters": {
        "id": STR, "label": STR, "region": CAT, "status": CAT, "version": CAT, "cluster_subnet": STR,
        "service_subnet": STR, "ip": STR, "endpoint": STR, "ha_controlplanes": BOOL, "firewall_group_id": STR,
        "oidc": DICT, "node_pool_count": INT, "node_count": INT, "created_at": TS, **_COST,
    },
    "kubernetes_node_pools": {
        "id": STR, "cluster_id": STR, "cluster_label": STR, "region": CAT, "label": STR, "tag": STR, "plan": CAT,
        "status": CAT, "node_quantity": INT, "min_nodes": INT, "max_nodes": INT, "auto_scaler": BOOL,
        "vpc_only": BOOL, "labels": DICT, "taints": LIST, "nodes": LIST, "created_at": TS, "updated_at": TS,
        **_PLAN_TWINS,
    },
    "load_balancers": {
        "id": STR, "label": STR, "region": CAT, "status": CAT, "ipv4": STR, "ipv6": STR, "nodes": INT,
        "instance_count": INT, "has_ssl": BOOL, "http2": BOOL, "http3": BOOL, "balancing_algorithm": CAT,
        "ssl_redirect": BOOL, "proxy_protocol": BOOL, "health_check_protocol": CAT, "health_check_port": INT,
        "health_check_path": STR, "forwarding_rule_count": INT, "instances": LIST, "health_check": DICT,
        "generic_info": DICT, "auto_ssl": DICT, "forwarding_rules": LIST, "firewall_rules": LIST,
        "global_regions": LIST, "created_at": TS, **_COST,
    },
    "block_storage": {
        "id": STR, "label": STR, "region": CAT, "status": CAT, "size_gb": INT, "block_type": CAT, "mount_id": STR,
        "attached_to_instance": STR, "attached_to_instance_ip": STR, "attached_to_instance_label": STR,
        "os_id": INT, "snapshot_id": STR, "bootable": BOOL, "created_at": TS, "pending_charges_usd": FLOAT, **_COST,
    },
    "databases": {
        "id": STR, "label": STR, "tag": STR, "region": CAT, "status": CAT, "engine": CAT, "engine_version": CAT,
        "plan": CAT, "plan_vcpus": INT, "plan_ram_mb": INT, "plan_disk_gb": INT, "plan_replicas": INT,
        "plan_brokers": INT, "pending_charges_usd": FLOAT, "dbname": STR, "host": STR, "public_host": STR,
        "port": INT, "sasl_port": INT, "user": STR, "vpc_id": STR, "maintenance_dow": CAT, "maintenance_time": STR,
        "backup_hour": STR, "backup_minute": STR, "latest_backup_at": TS, "trusted_ips": LIST,
        "eviction_policy": CAT, "cluster_time_zone": STR, "read_replica_count": INT, "read_replicas": LIST,
        "ferretdb_credentials": DICT, "engine_options": DICT, "created_at": TS, **_COST,
    },
    "snapshots": {
        "id": STR, "label": STR, "description": STR, "status": CAT, "size_bytes": INT,
        "compressed_size_bytes": INT, "os_id": INT, "app_id": INT, "created_at": TS,
    },
    "object_storage": {
        "id": STR, "label": STR, "region": CAT, "location": STR, "cluster_id": INT, "status": CAT,
        "s3_hostname": STR, "tier_name": CAT, "tier": DICT, "created_at": TS, **_COST,
    },
    "regions": {
        "id": STR, "city": STR, "country": CAT, "continent": CAT, "options": LIST, "connectivity": LIST,
    },
    "plans": {
        "id": STR, "catalogue": CAT, "type": CAT, "vcpu_count": INT, "cpu_threads": INT, "cpu_model": CAT,
        "ram_mb": INT, "disk_gb": INT, "disk_count": INT, "bandwidth_gb": INT, "gpu_vram_gb": INT, "gpu_type": CAT,
        "number_of_nodes": INT, "supported_engines": LIST, "locations": LIST, **_COST,
    },
    "billing_invoices": {
        "id": STR, "description": STR, "created_at": TS, "amount_usd": FLOAT, "balance_usd": FLOAT,
    },
    "pending_charges": {
        "description": STR, "product": CAT, "start_at": TS, "end_at": TS, "units": FLOAT, "unit_type": CAT,
        "unit_price_usd": FLOAT, "total_usd": FLOAT,
    },
    "inference_subscriptions": {
        "id": STR, "label": STR, "created_at": TS,
    },
    "database_usage": {
        "id": STR, "label": STR, "engine": CAT, "region": CAT, "cpu_pct": FLOAT, "memory_pct": FLOAT,
        "memory_used_mb": FLOAT, "memory_max_mb": FLOAT, "disk_pct": FLOAT, "disk_used_gb": FLOAT,
        "disk_max_gb": FLOAT,
    },
    "database_alerts": {
        "database_id": STR, "alert_at": TS, "message_type": CAT, "description": STR, "recommendation": STR,
        "resource_type": CAT, "maintenance_scheduled": STR, "table_count": INT,
    },
}
for _cols in SCHEMAS.values():
    _cols.update(LINEAGE)

# Snapshot errors are not API data (no lineage): which resource failed, how, and what to do.
ERRORS_SCHEMA: Final[dict[str, str]] = {"resource": CAT, "error_kind": CAT, "status": INT, "message": STR}
SCHEMAS["errors"] = ERRORS_SCHEMA
# Derived views of a snapshot (InventorySnapshot.resources / .summary()).
RESOURCES_SCHEMA: Final[dict[str, str]] = {
    "resource_type": CAT, "id": STR, "label": STR, "region": CAT, "status": CAT, "monthly_cost_usd": FLOAT,
    "created_at": TS,
}
SUMMARY_SCHEMA: Final[dict[str, str]] = {"resource_type": CAT, "region": CAT, "count": INT, "monthly_cost_usd": FLOAT}
DIFF_SCHEMA: Final[dict[str, str]] = {
    "resource_type": CAT, "id": STR, "label": STR, "change": CAT, "changed_columns": LIST,
}
SCHEMAS["resources"] = RESOURCES_SCHEMA
SCHEMAS["diff"] = DIFF_SCHEMA
SCHEMAS["summary"] = SUMMARY_SCHEMA

#: What ``snapshot(resources="all")`` fetches, in display order. ``database_usage`` and ``database_alerts`` cost one
#: request per database, so they are opt-in (name them explicitly).
ALL_RESOURCES: Final[tuple[str, ...]] = (
    "account", "instances", "bare_metal", "kubernetes_clusters", "kubernetes_node_pools", "load_balancers",
    "block_storage", "databases", "snapshots", "object_storage", "regions", "plans", "billing_invoices",
    "pending_charges", "inference_subscriptions",
)
#: Public catalogues: they answer without a key, so fetching them says nothing about the account.
PUBLIC_RESOURCES: Final[frozenset[str]] = frozenset({"regions", "plans"})
#: Frames that hold billable things you run: the rows of ``InventorySnapshot.resources`` and ``.summary()``.
#: Node pools are left out because their cost is already counted in their cluster's row.
RESOURCE_TYPES: Final[tuple[str, ...]] = (
    "instances", "bare_metal", "kubernetes_clusters", "load_balancers", "block_storage", "databases", "snapshots",
    "object_storage", "inference_subscriptions",
)
#: Resource types whose frame carries ``monthly_cost_usd``.
COST_RESOURCES: Final[tuple[str, ...]] = tuple(r for r in RESOURCE_TYPES if "monthly_cost_usd" in SCHEMAS[r])

_bad = sorted(f"{n}.{c}" for n, cols in SCHEMAS.items() for c in cols if is_secret_field(c))
if _bad:  # pragma: no cover - a programming error, caught at import
    raise AssertionError(f"secret field names in inventory schemas: {_bad}")


def dtype_of(kind: str) -> Any:
    """The pandas dtype for a schema dtype name (``"list"``/``"dict"`` are ``object`` columns).

    >>> dtype_of("Int64")
    Int64Dtype()
    """
    if kind in (LIST, DICT):
        return np.dtype(object)
    if kind == CAT:
        return pd.CategoricalDtype(pd.Index([], dtype="str"))
    return pd.api.types.pandas_dtype(kind)


def nested_columns(name: str) -> list[str]:
    """Columns of frame ``name`` that hold lists or dicts (JSON-encoded when a snapshot is stored)."""
    return [c for c, k in SCHEMAS[name].items() if k in (LIST, DICT)]


def dtypes(name: str) -> dict[str, Any]:
    """Frame ``name``'s schema as ``column -> pandas dtype`` (for :mod:`vultr_toolkit._frames`).

    >>> dtypes("regions")["id"]
    <StringDtype(na_value=nan)>
    """
    return {c: dtype_of(k) for c, k in SCHEMAS[name].items()}


def empty_frame(name: str) -> pd.DataFrame:
    """A zero-row frame with exactly the columns and dtypes of ``name``.

    >>> list(empty_frame("regions").columns)[:3]
    ['id', 'city', 'country']
    """
    return _frames.empty(dtypes(name))


def _dtype_ok(series: pd.Series, kind: str) -> bool:
    if kind == CAT:
        return isinstance(series.dtype, pd.CategoricalDtype)
    if kind in (LIST, DICT):
        return series.dtype == object
    return bool(series.dtype == dtype_of(kind))


def check_frame(df: pd.DataFrame, name: str) -> list[str]:
    """Problems with ``df`` as frame ``name``: wrong columns, order or dtypes, nested values of the wrong kind,
    secret fields. Empty list when it conforms.

    >>> check_frame(empty_frame("plans"), "plans")
    []
    """
    cols = SCHEMAS[name]
    problems: list[str] = []
    if list(df.columns) != list(cols):
        problems.append(f"columns {list(df.columns)} != schema {list(cols)}")
    for c, kind in cols.items():
        if c not in df.columns:
            continue
        s = df[c]
        if not _dtype_ok(s, kind):
            problems.append(f"{c}: dtype {s.dtype} is not {kind}")
        elif kind == LIST and not all(isinstance(v, list) for v in s):
            problems.append(f"{c}: not every value is a list")
        elif kind == DICT and not all(v is None or isinstance(v, dict) for v in s):
            problems.append(f"{c}: not every value is a dict or None")
    problems.extend(f"secret field {f!r} in frame" for f in find_secret_fields(df))
    return problems


def _walk_keys(obj: Any, out: set[str]) -> None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if is_secret_field(str(k)):
                out.add(str(k))
            _walk_keys(v, out)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _walk_keys(v, out)


def find_secret_fields(df: pd.DataFrame) -> set[str]:
    """Names of secret fields found in ``df``: as column names, or as keys at any depth inside list/dict cells.

    Used by the tests and by :class:`~vultr_toolkit.inventory.snapshot.InventorySnapshot` before it stores
    anything.

    >>> find_secret_fields(pd.DataFrame({"x": [{"password": "p"}]}))
    {'password'}
    """
    found = {str(c) for c in df.columns if is_secret_field(str(c))}
    for c in df.columns:
        if df[c].dtype != object:
            continue
        for v in df[c]:
            if isinstance(v, Mapping | list | tuple):
                _walk_keys(v, found)
    return found
