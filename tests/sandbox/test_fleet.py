"""The seeded fleet: determinism, sizes, field shapes and the real API's quirks (pure, no server)."""

from __future__ import annotations

import random

import pytest

from vultr_toolkit import ConfigError
from vultr_toolkit.sandbox.fleet import (
    DEFAULT_SIZES,
    build_fleet,
    database_alerts,
    database_backups,
    database_usage,
    inference_usage,
)


def test_same_seed_same_fleet_byte_for_byte_and_different_seed_differs() -> None:
    a, b, c = build_fleet(0), build_fleet(0), build_fleet(1)
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()
    assert {i["id"] for i in a.resources["instances"]}.isdisjoint({i["id"] for i in c.resources["instances"]})


def test_growing_one_kind_keeps_the_others_unchanged() -> None:
    # Each kind has its own random stream: benchmark fleets share databases etc. with the default one.
    small, big = build_fleet(0), build_fleet(0, {"instances": 200})
    assert big.resources["databases"] == small.resources["databases"]
    assert big.resources["instances"][:25] == small.resources["instances"]


def test_default_sizes_and_overrides() -> None:
    fleet = build_fleet(0, {"instances": 10, "bare_metals": 0, "node_pools_per_cluster": 3})
    r = fleet.resources
    assert len(r["instances"]) == 10 and r["bare_metals"] == []
    assert all(len(c["node_pools"]) == 3 for c in r["kubernetes_clusters"])
    assert len(r["databases"]) == DEFAULT_SIZES["databases"]
    for kind in ("load_balancers", "blocks", "snapshots", "object_storages", "billing_history",
                 "billing_invoices", "pending_charges", "inference_subscriptions"):
        assert len(r[kind]) == DEFAULT_SIZES[kind], kind


@pytest.mark.parametrize("sizes", [{"instancez": 1}, {"instances": -1}, {"instances": 1.5}])
def test_bad_sizes_fail_naming_the_kind(sizes: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="instance"):
        build_fleet(0, sizes)  # type: ignore[arg-type]


def test_default_databases_cover_every_engine_with_two_valkeys() -> None:
    engines = [db["database_engine"] for db in build_fleet(0).resources["databases"]]
    assert {"pg", "mysql", "valkey", "kafka", "ferretpg"} <= set(engines)
    assert engines.count("valkey") >= 2


def test_every_plan_reference_exists_in_its_catalogue() -> None:
    r = build_fleet(3, {"instances": 500, "bare_metals": 50, "databases": 40, "kubernetes_clusters": 6}).resources
    plans = {p["id"] for p in r["plans"]}
    metal = {p["id"] for p in r["plans_metal"]}
    db_plans = {p["id"] for p in r["database_plans"]}
    assert {i["plan"] for i in r["instances"]} <= plans
    assert {p["plan"] for c in r["kubernetes_clusters"] for p in c["node_pools"]} <= plans
    assert {b["plan"] for b in r["bare_metals"]} <= metal
    assert {d["plan"] for d in r["databases"]} <= db_plans
    regions = {x["id"] for x in r["regions"]}
    assert {i["region"] for i in r["instances"]} <= regions
    assert {d["region"].lower() for d in r["databases"]} <= regions
    # Instances sit where their plan is sold, and their shape matches the plan.
    by_id = {p["id"]: p for p in r["plans"]}
    for inst in r["instances"]:
        plan = by_id[inst["plan"]]
        assert inst["region"] in plan["locations"]
        assert (inst["vcpu_count"], inst["ram"], inst["disk"]) == (plan["vcpu_count"], plan["ram"], plan["disk"])


def test_catalogue_quirks_for_lenient_parsers() -> None:
    r = build_fleet(0).resources
    costs = [p["monthly_cost"] for p in r["plans"]]
    assert any(isinstance(c, str) for c in costs), "some prices are strings like '5.00'"
    assert any(isinstance(c, float) and c != int(c) for c in costs), "some prices are fractional"
    gpu = next(p for p in r["plans"] if p["id"] == "vcg-a100-1c-6g-4vram")
    assert gpu["gpu_vram_gb"] == 4
    assert {"vc2-1c-1gb", "vhf-2c-4gb"} <= {p["id"] for p in r["plans"]}
    assert {"ewr", "ord", "lax", "ams", "fra", "sgp", "nrt", "syd"} <= {x["id"] for x in r["regions"]}


def test_instance_fields_and_types() -> None:
    inst = build_fleet(0).resources["instances"][0]
    for key, typ in {"id": str, "os": str, "os_id": int, "ram": int, "disk": int, "vcpu_count": int, "plan": str,
                     "region": str, "main_ip": str, "date_created": str, "status": str, "power_status": str,
                     "server_status": str, "allowed_bandwidth": int, "label": str, "tags": list,
                     "features": list, "default_password": str, "v6_network_size": int, "vpc_only": bool}.items():
        assert isinstance(inst[key], typ), key
    assert inst["date_created"].endswith("+00:00")


def test_bare_metal_ram_and_disk_are_text() -> None:
    bm = build_fleet(0).resources["bare_metals"][0]
    assert isinstance(bm["ram"], str) and bm["ram"].endswith("MB")
    assert isinstance(bm["disk"], str) and "GB" in bm["disk"]


def test_database_quirks_and_engine_specific_fields() -> None:
    dbs = build_fleet(0, {"databases": 30}).resources["databases"]
    assert any(d["region"].isupper() for d in dbs) and any(d["region"].islower() for d in dbs)
    assert any(isinstance(d["port"], str) for d in dbs) and any(isinstance(d["port"], int) for d in dbs)
    assert all(d["status"][0].isupper() for d in dbs)
    assert all(len(d["date_created"]) == 19 and d["date_created"][10] == " " for d in dbs)
    by_engine = {d["database_engine"]: d for d in dbs}
    assert "eviction_policy" in by_engine["valkey"] and "plan_disk" not in by_engine["valkey"]
    assert by_engine["kafka"]["access_key"] and by_engine["kafka"]["access_cert"].startswith("-----BEGIN")
    assert by_engine["ferretpg"]["ferretdb_credentials"]["password"]
    assert any(d["read_replicas"] for d in dbs)
    assert all(d["latest_backup"] for d in dbs)


def test_secret_values_cover_every_documented_secret() -> None:
    fleet = build_fleet(0)
    secrets = fleet.secret_values()
    r = fleet.resources
    assert r["instances"][0]["default_password"] in secrets
    assert r["bare_metals"][0]["default_password"] in secrets
    assert r["object_storages"][0]["s3_secret_key"] in secrets and r["object_storages"][0]["s3_access_key"] in secrets
    assert r["inference_subscriptions"][0]["api_key"] in secrets
    kafka = next(d for d in r["databases"] if d["database_engine"] == "kafka")
    assert {kafka["password"], kafka["access_key"], kafka["access_cert"], kafka["ca_certificate"]} <= secrets
    replica = next(d["read_replicas"][0] for d in r["databases"] if d["read_replicas"])
    assert replica["password"] in secrets


def test_costs_make_a_meaningful_summary() -> None:
    fleet = build_fleet(0)
    pending = fleet.resources["pending_charges"]
    assert {"Vultr Cloud Compute", "Managed Database", "Block Storage"} <= {c["product"] for c in pending}
    assert all(c["total"] > 0 for c in pending if c["product"] != "Bandwidth Overage")
    assert fleet.account["pending_charges"] == pytest.approx(sum(c["total"] for c in pending), abs=0.01)
    for inv in fleet.resources["billing_invoices"]:
        items = fleet.invoice_items[inv["id"]]
        assert inv["amount"] == pytest.approx(sum(i["total"] for i in items), abs=0.01)


def test_request_time_payloads() -> None:
    fleet = build_fleet(0)
    db = fleet.resources["databases"][0]
    u = database_usage(db, random.Random(1))
    assert 0 <= u["cpu"]["percentage"] <= 100 and u["memory"]["max_mb"] == db["plan_ram"]
    s = database_usage(db, random.Random(1), as_strings=True)
    assert s["cpu"]["percentage"] == str(u["cpu"]["percentage"])
    year = database_alerts(db, "year", random.Random(0))
    assert year and {"timestamp", "message_type", "description"} <= set(year[0])
    assert set(database_backups(db)) == {"latest_backup", "oldest_backup"}
    usage = inference_usage(fleet.resources["inference_subscriptions"][0], 0)
    assert set(usage) == {"chat_by_model", "audio", "image", "chat"}
    assert usage["chat_by_model"]["current_month"][0]["tokens"] > 0
