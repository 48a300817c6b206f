"""The pure builders on JSON shaped like the real API (research/vultr-api.md §5, SPEC23 examples): the lenient
parsing cases the research flags, nested objects, secrets in nested values."""

from __future__ import annotations

from typing import cast

import pandas as pd
import pytest

from vultr_toolkit.inventory import frames as F
from vultr_toolkit.inventory.schemas import check_frame

LIN = F.Lineage(pd.Timestamp("2026-11-25T12:00:00", tz="UTC"), "http://127.0.0.1:1/v2")

# SPEC23's /databases example, verbatim quirks included: upper-case region, capitalised status, int engine version,
# int port, the database date format, a stray quote in latest_backup.
SPEC_DB = {
    "id": "999c4ed0-f2e4-4f2a-a951-de358ceb9ab5", "date_created": "2022-05-09 10:13:31",
    "plan": "vultr-dbaas-hobbyist-cc-1-25-1", "plan_disk": 25, "plan_ram": 1024, "plan_vcpus": 1,
    "plan_replicas": 0, "region": "EWR", "database_engine": "mysql", "database_engine_version": 8,
    "vpc_id": "d39bf0bf", "status": "Running", "label": "some label", "tag": "some tag", "dbname": "defaultdb",
    "host": "HOSTNAME", "public_host": "PUBLIC", "user": "vultradmin", "password": "sk-CANARY-dbpass-123456",
    "port": 16751, "maintenance_dow": "sunday", "maintenance_time": "06:00:00",
    "latest_backup": "2022-11-02 12:58:18\"", "trusted_ips": ["10.0.0.0/8"], "mysql_sql_modes": ["ANSI"],
    "mysql_require_primary_key": True, "cluster_time_zone": "America/New_York",
    "read_replicas": [{"id": "rr-1", "plan": "vultr-dbaas-hobbyist-cc-1-25-1", "password": "sk-CANARY-rr-999999"}],
}
DB_PLANS = [{"id": "vultr-dbaas-hobbyist-cc-1-25-1", "vcpu_count": 1, "ram": 1024, "disk": 25,
             "monthly_cost": "15.00", "supported_engines": {"mysql": True, "pg": True, "valkey": False}}]


def test_database_spec_example_is_parsed_leniently() -> None:
    df = F.databases_frame([SPEC_DB], database_plans=DB_PLANS, lineage=LIN)
    assert check_frame(df, "databases") == []
    row = df.iloc[0]
    assert row["region"] == "ewr" and row["status"] == "running" and row["engine"] == "mysql"
    assert row["engine_version"] == "8"
    assert row["port"] == 16751
    assert row["created_at"] == pd.Timestamp("2022-05-09 10:13:31", tz="UTC")
    assert row["latest_backup_at"] == pd.Timestamp("2022-11-02 12:58:18", tz="UTC")
    # primary + one read replica on a "15.00" (string) plan price
    assert row["monthly_cost_usd"] == 30.0
    assert row["read_replica_count"] == 1
    assert "password" not in row["read_replicas"][0] and row["read_replicas"][0]["id"] == "rr-1"
    assert row["engine_options"] == {"mysql_sql_modes": ["ANSI"], "mysql_require_primary_key": True}
    assert "password" not in df.columns


def test_numbers_as_strings_and_both_date_formats() -> None:
    items = [
        {"id": "a", "ram": "2048", "disk": " 55 ", "vcpu_count": "2", "allowed_bandwidth": 2000.0,
         "date_created": "2020-10-10T01:56:20+00:00", "region": "EWR", "status": "Active", "tags": None,
         "features": ["ipv6"], "plan": "vc2-1c-1gb", "vpc_only": "false", "firewall_group_id": ""},
        {"id": "b", "ram": 1024, "disk": "n/a", "vcpu_count": None, "date_created": "2022-05-09 10:13:31",
         "region": " ams ", "status": "pending", "plan": "unknown-plan"},
    ]
    plans = [{"id": "vc2-1c-1gb", "vcpu_count": "1", "ram": 1024, "disk": 25, "monthly_cost": "5.00"}]
    df = F.instances_frame(items, plans=plans, lineage=LIN)
    assert check_frame(df, "instances") == []
    assert df["ram_mb"].tolist() == [2048, 1024]
    assert df["disk_gb"].iloc[0] == 55 and pd.isna(df["disk_gb"].iloc[1])
    assert df["vcpu_count"].iloc[0] == 2 and pd.isna(df["vcpu_count"].iloc[1])
    assert df["region"].tolist() == ["ewr", "ams"] and df["status"].tolist() == ["active", "pending"]
    assert df["created_at"].tolist() == [pd.Timestamp("2020-10-10T01:56:20", tz="UTC"),
                                         pd.Timestamp("2022-05-09T10:13:31", tz="UTC")]
    assert df["tags"].tolist() == [[], []]
    assert df["vpc_only"].notna().iloc[0] and not df["vpc_only"].iloc[0]  # "false" -> False
    assert pd.isna(df["firewall_group_id"].iloc[0])  # "" means none
    assert df["monthly_cost_usd"].iloc[0] == 5.0 and pd.isna(df["monthly_cost_usd"].iloc[1])
    assert df["plan_vcpus"].iloc[0] == 1


def test_plans_metal_key_and_bare_metal_text_fields() -> None:
    metal = [{"id": "vbm-4c-32gb", "cpu_count": 4, "cpu_model": "E-2286G", "cpu_threads": 8, "ram": 32768,
              "disk": "240", "disk_count": 2, "bandwidth": 5120, "monthly_cost": 120, "type": "SSD",
              "locations": ["ewr"]}]
    plans = F.plans_frame([], metal, DB_PLANS, lineage=LIN)
    assert check_frame(plans, "plans") == []
    assert plans["catalogue"].tolist() == ["bare_metal", "database"]
    assert plans["type"].iloc[0] == "ssd" and plans["disk_gb"].iloc[0] == 240
    assert plans["supported_engines"].iloc[1] == ["mysql", "pg"]
    assert plans["_source"].astype(str).tolist() == [LIN.source("plans_metal"), LIN.source("database_plans")]
    bm = F.bare_metal_frame([{"id": "bm1", "plan": "vbm-4c-32gb", "ram": "32768 MB", "disk": "2x 240 GB SSD",
                              "cpu_count": 4, "mac_address": 2199023255552, "default_password": "pw123456"}],
                            plans_metal=metal, lineage=LIN)
    row = bm.iloc[0]
    assert row["ram"] == "32768 MB" and row["plan_vcpus"] == 4 and row["monthly_cost_usd"] == 120.0
    assert row["mac_address"] == 2199023255552
    assert "default_password" not in bm.columns


def test_plans_metal_served_under_spec_schema_key_still_works() -> None:
    """SPEC23's schema names the /plans-metal list `plans`; the client falls back to it (tested over HTTP in
    test_api.py); here: the endpoint table knows both keys."""
    from vultr_toolkit.inventory.api import _ALT_KEYS

    assert F.ENDPOINTS["plans_metal"].key == "plans_metal" and _ALT_KEYS["plans_metal"] == ("plans",)


@pytest.mark.parametrize("key", ["forwarding_rules", "forward_rules"])
def test_load_balancer_forwarding_rules_and_nested_twins(key: str) -> None:
    lb = {"id": "lb1", "date_created": "2020-10-10T01:56:20+00:00", "region": "EWR", "label": "web",
          "status": "active", "generic_info": {"balancing_algorithm": "roundrobin", "ssl_redirect": False,
                                               "sticky_sessions": {"cookie_name": "c"}},
          "health_check": {"protocol": "HTTP", "port": "80", "path": "/health"}, "nodes": 1, "has_ssl": True,
          key: [{"id": "r1", "frontend_protocol": "http", "frontend_port": 80, "backend_protocol": "http",
                 "backend_port": 80}],
          "instances": ["i1", "i2"], "ssl": {"private_key": "-----BEGIN PRIVATE KEY-----", "certificate": "c"}}
    df = F.load_balancers_frame([lb], lineage=LIN)
    assert check_frame(df, "load_balancers") == []
    row = df.iloc[0]
    assert row["forwarding_rule_count"] == 1 and row["forwarding_rules"][0]["backend_port"] == 80
    assert row["health_check_protocol"] == "http" and row["health_check_port"] == 80
    assert row["health_check"]["path"] == "/health" and row["generic_info"]["sticky_sessions"]["cookie_name"] == "c"
    assert row["balancing_algorithm"] == "roundrobin" and row["instance_count"] == 2
    assert "ssl" not in df.columns and pd.isna(row["monthly_cost_usd"])


def test_object_storage_and_subscriptions_drop_keys() -> None:
    obj = F.object_storage_frame([{"id": "o1", "region": "EWR", "s3_access_key": "AK-123456",
                                   "s3_secret_key": "SK-1234567890", "tier": {"sales_name": "Standard",
                                                                              "price": "18.00"}}], lineage=LIN)
    assert obj["monthly_cost_usd"].iloc[0] == 18.0 and obj["tier_name"].iloc[0] == "Standard"
    assert not [c for c in obj.columns if "s3_" in c and "key" in c]
    subs = F.inference_subscriptions_frame([{"id": "s1", "label": "x", "api_key": "sk-CANARY-inf-000000",
                                             "date_created": "2026-01-01T00:00:00+00:00"}], lineage=LIN)
    assert "api_key" not in subs.columns and "sk-CANARY" not in subs.to_string()


def test_database_usage_and_alerts_accept_numbers_as_strings() -> None:
    usage = {"disk": {"current_gb": "1.25", "max_gb": 55, "percentage": "2.27"},
             "memory": {"current_mb": 768, "max_mb": "2048", "percentage": 37.5}, "cpu": {"percentage": "4.65"}}
    df = F.database_usage_frame([(SPEC_DB, usage)], lineage=LIN)
    assert check_frame(df, "database_usage") == []
    row = df.iloc[0]
    assert (row["cpu_pct"], row["memory_pct"], row["memory_used_mb"], row["disk_pct"], row["disk_used_gb"]) == (
        4.65, 37.5, 768.0, 2.27, 1.25)
    alerts = [{"timestamp": "2023-02-10 12:40:19", "message_type": "RESOURCE USAGE DISK", "description": "d",
               "resource_type": "disk"},
              {"timestamp": "2023-02-09 15:41:20", "message_type": "MAINTENANCE SCHEDULED", "description": "m",
               "maintenance_scheduled": "2023-02-12 01:00:00 (UTC)"}]
    a = F.database_alerts_frame([(cast(str, SPEC_DB["id"]), alerts)], lineage=LIN)
    assert check_frame(a, "database_alerts") == []
    assert a["alert_at"].iloc[0] == pd.Timestamp("2023-02-10 12:40:19", tz="UTC")
    assert a["database_id"].tolist() == [SPEC_DB["id"]] * 2


def test_kubernetes_pools_cost_and_cluster_rollup() -> None:
    cluster = {"id": "c1", "label": "vke", "region": "LAX", "date_created": "2021-07-07T22:57:01+00:00",
               "node_pools": [{"id": "p1", "plan": "vc2-1c-2gb", "node_quantity": "3", "status": "Active",
                               "user_data": "#cloud-config\npassword: x", "labels": {"tier": "web"},
                               "nodes": [{"id": "n1", "label": "n", "status": "active"}]},
                              {"id": "p2", "plan": "vc2-1c-2gb", "node_quantity": 2}]}
    plans = [{"id": "vc2-1c-2gb", "vcpu_count": 1, "ram": 2048, "disk": 55, "monthly_cost": 10}]
    pools = F.kubernetes_node_pools_frame([cluster], plans=plans, lineage=LIN)
    assert check_frame(pools, "kubernetes_node_pools") == []
    assert pools["monthly_cost_usd"].tolist() == [30.0, 20.0]
    assert pools["cluster_id"].tolist() == ["c1", "c1"] and pools["region"].tolist() == ["lax", "lax"]
    assert "user_data" not in pools.columns and pools["labels"].iloc[0] == {"tier": "web"}
    clusters = F.kubernetes_clusters_frame([cluster], plans=plans, lineage=LIN)
    assert clusters.loc[0, "monthly_cost_usd"] == 50.0 and clusters.loc[0, "node_count"] == 5
    assert clusters.loc[0, "node_pool_count"] == 2


def test_garbage_is_tolerated_not_fatal() -> None:
    df = F.instances_frame([{"id": 123, "ram": {"oops": 1}, "tags": "single", "date_created": "not a date"},
                            "not-a-dict", None], lineage=LIN)
    assert check_frame(df, "instances") == []
    assert len(df) == 1 and df["id"].iloc[0] == "123"
    assert pd.isna(df["ram_mb"].iloc[0]) and pd.isna(df["created_at"].iloc[0])
    assert df["tags"].iloc[0] == ["single"]


def test_scrub_removes_secret_keys_at_any_depth() -> None:
    obj = {"a": [{"password": "x", "keep": 1}], "nested": {"s3_secret_key": "y", "deeper": {"api_key": "z"}}}
    assert F.scrub(obj) == {"a": [{"keep": 1}], "nested": {"deeper": {}}}
