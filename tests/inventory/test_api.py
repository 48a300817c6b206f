"""client.inventory over real HTTP to the sandbox: ids match the fleet, the minimum page requests, sync == async,
the sync API inside a running event loop, per-database calls and the original integration's aliases."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx2
import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.inventory import InventorySnapshot, aliases
from vultr_toolkit.inventory.schemas import ALL_RESOURCES, check_frame
from vultr_toolkit.sandbox import Sandbox

from .conftest import without_lineage


def test_frames_hold_exactly_the_fleet(inv_sandbox: Sandbox, inv_snapshot: InventorySnapshot) -> None:
    fleet = inv_sandbox.fleet
    pairs = {"instances": "instances", "bare_metal": "bare_metals", "kubernetes_clusters": "kubernetes_clusters",
             "load_balancers": "load_balancers", "block_storage": "blocks", "databases": "databases",
             "snapshots": "snapshots", "object_storage": "object_storages",
             "inference_subscriptions": "inference_subscriptions"}
    for frame, kind in pairs.items():
        assert sorted(inv_snapshot[frame]["id"]) == sorted(str(o["id"]) for o in fleet[kind]), frame
    pools = [p["id"] for c in fleet["kubernetes_clusters"] for p in c["node_pools"]]
    assert sorted(inv_snapshot["kubernetes_node_pools"]["id"]) == sorted(pools)
    assert inv_snapshot.ok and list(inv_snapshot.frames) == list(ALL_RESOURCES)
    assert len(inv_snapshot["account"]) == 1


def test_snapshot_makes_the_minimum_page_requests() -> None:
    sizes = {"instances": 1201, "blocks": 500, "snapshots": 501}
    with Sandbox(seed=3, fleet=sizes) as sb, vt.Client(sb.settings()) as client:
        snap = client.inventory.snapshot(progress=False)
        log = sb.requests_log()
    assert snap.ok and len(snap["instances"]) == 1201
    counts = log.groupby("path").size().to_dict()
    assert counts.pop("/v2/instances") == math.ceil(1201 / 500)
    assert counts.pop("/v2/blocks") == 1
    assert counts.pop("/v2/snapshots") == 2
    # every other route exactly once — /plans is shared by instances, clusters, pools and the plans frame
    assert set(counts.values()) == {1}, counts
    assert len(counts) == 13
    lists = log[log["path"] != "/v2/account"]
    assert lists["query"].astype(str).str.contains("per_page=500").all()


def test_single_resource_calls_match_the_snapshot(inv_client: vt.Client, inv_snapshot: InventorySnapshot) -> None:
    inv = inv_client.inventory
    for name in ("instances", "databases", "kubernetes_node_pools", "plans", "account"):
        df = getattr(inv, name)()
        pd.testing.assert_frame_equal(without_lineage(df), without_lineage(inv_snapshot[name]))
    valkey = inv.valkey()
    assert len(valkey) >= 2 and set(valkey["engine"].astype(str)) == {"valkey"}
    assert check_frame(valkey, "databases") == []
    pg = inv.databases(engine="PG")
    assert set(pg["engine"].astype(str)) == {"pg"}


def test_async_client_returns_the_same_frames(inv_sandbox: Sandbox, inv_snapshot: InventorySnapshot) -> None:
    async def main() -> tuple[InventorySnapshot, pd.DataFrame]:
        async with vt.AsyncClient(inv_sandbox.settings()) as aclient:
            inv = aclient.inventory
            snap = await inv.snapshot(progress=False)
            usage = await inv.database_usage()
            # the aliases are awaitable on the async client too
            assert set((await inv.list_valkey())["engine"].astype(str)) == {"valkey"}
            db_id = snap["databases"]["id"].iloc[0]
            assert (await inv.get_database_health(db_id)).database_id == db_id
            assert (await aliases.get_database(aclient, db_id))["id"].tolist() == [db_id]
            return snap, usage

    snap, usage = asyncio.run(main())
    assert list(snap.frames) == list(inv_snapshot.frames)
    for name, df in snap.frames.items():
        pd.testing.assert_frame_equal(without_lineage(df), without_lineage(inv_snapshot[name]))
    assert len(usage) == len(inv_snapshot["databases"])


def test_sync_api_works_inside_a_running_event_loop(inv_client: vt.Client) -> None:
    async def in_jupyter() -> pd.DataFrame:
        return inv_client.inventory.instances()  # a sync call while a loop runs, as in a notebook cell

    df = asyncio.run(in_jupyter())
    assert len(df) == 25


def test_per_database_calls(inv_client: vt.Client, inv_sandbox: Sandbox) -> None:
    inv = inv_client.inventory
    dbs = inv_sandbox.fleet["databases"]
    ids = [dbs[2]["id"], dbs[0]["id"]]
    usage = inv.database_usage(ids=ids)
    assert usage["id"].tolist() == ids and check_frame(usage, "database_usage") == []
    assert usage["cpu_pct"].notna().all() and usage["memory_used_mb"].notna().all()
    one = inv.get_database(ids[0])
    assert one["id"].tolist() == [ids[0]] and check_frame(one, "databases") == []
    health = inv.get_database_health(ids[0], period="year")
    assert health.database_id == ids[0] and len(health.usage) == 1
    assert len(health.alerts) > 0 and check_frame(health.alerts, "database_alerts") == []
    assert health.latest_backup_at is not None and health.oldest_backup_at is not None
    assert health.latest_backup_at >= health.oldest_backup_at
    d = health.to_dict()
    json.dumps(d)  # JSON-ready for a REST route
    # usage is a fresh sample per request in the sandbox (as in the API: last-hour averages)
    assert d["alert_count"] == len(health.alerts) and 0 <= d["usage"]["cpu_pct"] <= 100
    with pytest.raises(vt.NotFoundError):
        inv.get_database("no-such-database")
    with pytest.raises(vt.ConfigError, match="period='decade'"):
        inv.database_alerts(ids[0], period="decade")


def test_aliases_are_the_methods(inv_client: vt.Client, inv_snapshot: InventorySnapshot) -> None:
    for func, frame in ((aliases.list_instances, "instances"), (aliases.list_databases, "databases"),
                        (aliases.get_account_info, "account")):
        pd.testing.assert_frame_equal(without_lineage(func(inv_client)), without_lineage(inv_snapshot[frame]))
    assert set(aliases.list_valkey(inv_client)["engine"].astype(str)) == {"valkey"}
    summary = aliases.get_infrastructure_summary(inv_client)
    pd.testing.assert_frame_equal(summary, inv_snapshot.summary())
    db_id = inv_snapshot["databases"]["id"].iloc[0]
    assert aliases.get_database(inv_client, db_id)["id"].tolist() == [db_id]
    assert aliases.get_database_health(inv_client, db_id).database_id == db_id
    assert set(aliases.ALIASES.values()) <= set(dir(inv_client.inventory))


def test_unknown_resource_is_a_config_error(inv_client: vt.Client) -> None:
    with pytest.raises(vt.ConfigError, match="unknown inventory resource 'vms'"):
        inv_client.inventory.snapshot(["instances", "vms"], progress=False)


# --- byte-level shapes the sandbox does not serve (MockTransport, per the testing rules) ----------------------
def _mock(routes: dict[str, dict[str, Any]]) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/v2")
        if path not in routes:
            return httpx2.Response(404, json={"error": "not found", "status": 404})
        return httpx2.Response(200, json=routes[path])
    return httpx2.MockTransport(handler)


METAL = {"id": "vbm-4c-32gb", "cpu_count": 4, "ram": 32768, "disk": 240, "monthly_cost": 120.0}


def test_plans_metal_under_the_spec_schema_key_and_pools_fetched_when_not_embedded() -> None:
    routes: dict[str, dict[str, Any]] = {
        "/plans-metal": {"plans": [METAL], "meta": {"total": 1, "links": {"next": "", "prev": ""}}},
        "/plans": {"plans": [{"id": "vc2-1c-2gb", "vcpu_count": 1, "ram": 2048, "monthly_cost": "10"}],
                   "meta": {"total": 1, "links": {"next": ""}}},
        "/databases/plans": {"plans": []},
        "/bare-metals": {"bare_metals": [{"id": "bm1", "plan": "vbm-4c-32gb", "region": "EWR"}], "meta": {}},
        "/kubernetes/clusters": {"vke_clusters": [{"id": "c1", "region": "ewr"}], "meta": {"total": 1}},
        "/kubernetes/clusters/c1/node-pools": {"node_pools": [{"id": "p1", "plan": "vc2-1c-2gb",
                                                               "node_quantity": 2}]},
    }
    settings = vt.Settings(api_url="http://127.0.0.1:9/v2", api_key="sk-CANARY-mock-000000")
    with vt.Client(settings, transport=_mock(routes)) as client:
        snap = client.inventory.snapshot(["plans", "bare_metal", "kubernetes_clusters", "kubernetes_node_pools"],
                                         progress=False, strict=True)
    assert snap["plans"].query("catalogue == 'bare_metal'")["id"].tolist() == ["vbm-4c-32gb"]
    assert snap["bare_metal"]["monthly_cost_usd"].tolist() == [120.0]
    assert snap["kubernetes_node_pools"]["id"].tolist() == ["p1"]
    assert snap["kubernetes_clusters"]["monthly_cost_usd"].tolist() == [20.0]


def test_progress_bar_is_shown_and_can_be_silenced(inv_client: vt.Client, capfd: pytest.CaptureFixture[str]) -> None:
    inv_client.inventory.snapshot(["regions", "plans"], progress=True)
    assert "inventory" in capfd.readouterr().err
    inv_client.inventory.snapshot(["regions", "plans"], progress=False)
    assert capfd.readouterr().err == ""
