"""Property test: whatever JSON the API sends in a field, the builders return a conforming frame (never raise)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vultr_toolkit.inventory import frames as F
from vultr_toolkit.inventory.schemas import check_frame

LIN = F.Lineage(pd.Timestamp("2026-01-01", tz="UTC"), "http://127.0.0.1:1/v2")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", " 5.00 ", "1e3", "EWR", "Running", "2022-05-09 10:13:31", "2020-10-10T01:56:20+00:00",
                     "true", "nan", "-inf", "0x10"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=4)
FIELDS = ["id", "label", "region", "status", "plan", "ram", "disk", "vcpu_count", "date_created", "tags", "features",
          "monthly_cost", "cost", "node_quantity", "node_pools", "health_check", "generic_info", "forwarding_rules",
          "database_engine", "database_engine_version", "port", "read_replicas", "tier", "vpc_only", "password",
          "instances", "size", "amount", "timestamp", "supported_engines"]
objects = st.lists(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8), max_size=3)

BUILDERS: list[tuple[str, Any]] = [
    ("instances", lambda o: F.instances_frame(o, plans=o, lineage=LIN)),
    ("bare_metal", lambda o: F.bare_metal_frame(o, plans_metal=o, lineage=LIN)),
    ("kubernetes_clusters", lambda o: F.kubernetes_clusters_frame(o, plans=o, lineage=LIN)),
    ("kubernetes_node_pools", lambda o: F.kubernetes_node_pools_frame(o, plans=o, lineage=LIN)),
    ("load_balancers", lambda o: F.load_balancers_frame(o, lineage=LIN)),
    ("block_storage", lambda o: F.block_storage_frame(o, lineage=LIN)),
    ("databases", lambda o: F.databases_frame(o, database_plans=o, lineage=LIN)),
    ("snapshots", lambda o: F.snapshots_frame(o, lineage=LIN)),
    ("object_storage", lambda o: F.object_storage_frame(o, lineage=LIN)),
    ("regions", lambda o: F.regions_frame(o, lineage=LIN)),
    ("plans", lambda o: F.plans_frame(o, o, o, lineage=LIN)),
    ("billing_invoices", lambda o: F.billing_invoices_frame(o, lineage=LIN)),
    ("pending_charges", lambda o: F.pending_charges_frame(o, lineage=LIN)),
    ("inference_subscriptions", lambda o: F.inference_subscriptions_frame(o, lineage=LIN)),
    ("database_usage", lambda o: F.database_usage_frame([(x, x) for x in o], lineage=LIN)),
    ("database_alerts", lambda o: F.database_alerts_frame([("d", o)], lineage=LIN)),
    ("account", lambda o: F.account_frame(o[0] if o else None, lineage=LIN)),
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objs=objects)
def test_any_json_gives_a_conforming_frame(objs: list[dict[str, Any]]) -> None:
    for name, build in BUILDERS:
        df = build(objs)
        assert check_frame(df, name) == [], name
