"""Fuzz the lenient JSON → DataFrame coercion of EVERY inventory schema.

Two angles: (1) :func:`build_frame` directly, arbitrary JSON-ish values in every column of every schema (what a
builder hands to the casts); (2) every resource builder on realistic sandbox objects whose fields (top level and
one level down) are replaced by arbitrary JSON, including numbers beyond float range that ``json.loads`` happily
returns. The result must conform to the schema's dtypes for any input, or fail with a typed ``ValueError`` that
names the column — never a crash inside pandas.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vultr_toolkit.inventory import frames as F
from vultr_toolkit.inventory.schemas import SCHEMAS, check_frame, find_secret_fields
from vultr_toolkit.sandbox.fleet import build_fleet

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIN = F.Lineage(pd.Timestamp("2026-01-01", tz="UTC"), "http://127.0.0.1:1/v2")

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63), 2**64]),  # past int64 and past float
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", " 5.00 ", "1e3", "1e400", "-1e400", "EWR", "Running", "2022-05-09 10:13:31",
                     "2020-10-10T01:56:20+00:00", "'2020-10-10 (UTC)'", "9999-99-99", "true", "nan", "0x10",
                     "1,234.5", "\x00", "NaT"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=5)

FLEET = build_fleet(0, {"instances": 3, "bare_metals": 2, "kubernetes_clusters": 2, "load_balancers": 2,
                        "blocks": 2, "databases": 5, "snapshots": 2, "object_storages": 2,
                        "inference_subscriptions": 2})
R = FLEET.resources

# name -> (realistic items, builder taking the (mutated) items)
BUILDERS: dict[str, tuple[list[dict[str, Any]], Any]] = {
    "account": ([FLEET.account], lambda o: F.account_frame(o[0] if o else None, lineage=LIN)),
    "instances": (R["instances"], lambda o: F.instances_frame(o, plans=R["plans"], lineage=LIN)),
    "bare_metal": (R["bare_metals"], lambda o: F.bare_metal_frame(o, plans_metal=R["plans_metal"], lineage=LIN)),
    "kubernetes_clusters": (R["kubernetes_clusters"],
                            lambda o: F.kubernetes_clusters_frame(o, plans=R["plans"], lineage=LIN)),
    "kubernetes_node_pools": (R["kubernetes_clusters"],
                              lambda o: F.kubernetes_node_pools_frame(o, plans=R["plans"], lineage=LIN)),
    "load_balancers": (R["load_balancers"], lambda o: F.load_balancers_frame(o, lineage=LIN)),
    "block_storage": (R["blocks"], lambda o: F.block_storage_frame(o, lineage=LIN)),
    "databases": (R["databases"], lambda o: F.databases_frame(o, database_plans=R["database_plans"], lineage=LIN)),
    "snapshots": (R["snapshots"], lambda o: F.snapshots_frame(o, lineage=LIN)),
    "object_storage": (R["object_storages"], lambda o: F.object_storage_frame(o, lineage=LIN)),
    "regions": (R["regions"], lambda o: F.regions_frame(o, lineage=LIN)),
    "plans": (R["plans"] + R["plans_metal"] + R["database_plans"],
              lambda o: F.plans_frame(o, o, o, lineage=LIN)),
    "billing_invoices": (R["billing_invoices"], lambda o: F.billing_invoices_frame(o, lineage=LIN)),
    "pending_charges": (R["pending_charges"], lambda o: F.pending_charges_frame(o, lineage=LIN)),
    "inference_subscriptions": (R["inference_subscriptions"],
                                lambda o: F.inference_subscriptions_frame(o, lineage=LIN)),
}


def test_every_resource_schema_has_a_fuzzed_builder() -> None:
    """A new resource schema must join this fuzz test (the derived frames are covered by build_frame below)."""
    derived = {"errors", "resources", "diff", "summary", "database_usage", "database_alerts"}
    assert set(SCHEMAS) - derived <= set(BUILDERS), set(SCHEMAS) - derived - set(BUILDERS)


@FUZZ
@given(name=st.sampled_from(sorted(SCHEMAS)), data=st.data(), n=st.integers(min_value=0, max_value=3))
@example(name="instances", data=None, n=1)
def test_build_frame_casts_any_values_to_the_schema(name: str, data: Any, n: int) -> None:
    schema = SCHEMAS[name]
    if data is None:  # the explicit example: numbers past the float range in every column
        columns: dict[str, list[Any]] = {c: [10**400] for c in schema}
    else:
        cols = data.draw(st.lists(st.sampled_from(sorted(schema)), unique=True, max_size=len(schema)))
        columns = {c: data.draw(st.lists(json_values, min_size=n, max_size=n)) for c in cols}
    df = F.build_frame(name, columns, n if data is not None else 1, LIN, "http://127.0.0.1:1/v2/x")
    assert check_frame(df, name) == []
    assert len(df) == (n if data is not None else 1)


def _mutate(items: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(items)
    for obj in out:
        keys = sorted(obj)
        for key in data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=4)) if keys else []:
            inner = obj[key]
            if isinstance(inner, dict) and inner and data.draw(st.booleans()):
                sub = data.draw(st.sampled_from(sorted(inner)))
                inner[sub] = data.draw(json_values)
            else:
                obj[key] = data.draw(json_values)
    return out


@FUZZ
@given(name=st.sampled_from(sorted(BUILDERS)), data=st.data())
def test_every_builder_survives_any_field_value(name: str, data: Any) -> None:
    items, build = BUILDERS[name]
    mutated = _mutate(items, data)
    df = build(mutated)
    assert check_frame(df, name) == []
    assert not find_secret_fields(df)
    # No secret of the fleet reaches a cell, whatever shape the payload took.
    text = df.astype(str).to_csv()
    assert not any(s in text for s in FLEET.secret_values() if len(s) >= 8)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_numbers_past_float_range_become_missing(name: str) -> None:
    """json.loads returns arbitrary-precision ints; one such field must not sink the whole resource frame."""
    items, build = BUILDERS[name]
    huge = [{k: (10**400 if isinstance(v, int | float) and not isinstance(v, bool) else v) for k, v in o.items()}
            for o in items]
    huge = json.loads(json.dumps(huge))
    df = build(huge)
    assert check_frame(df, name) == []
