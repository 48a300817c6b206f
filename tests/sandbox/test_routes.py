"""The /v2 routes over real loopback HTTP: response keys, auth, paging, filters, ids, 404s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from vultr_toolkit.sandbox import Sandbox

LIST_ROUTES = {
    "/account": "account",
    "/account/bandwidth": "bandwidth",
    "/instances": "instances",
    "/bare-metals": "bare_metals",
    "/kubernetes/clusters": "vke_clusters",
    "/load-balancers": "load_balancers",
    "/blocks": "blocks",
    "/databases": "databases",
    "/databases/plans": "plans",
    "/snapshots": "snapshots",
    "/object-storage": "object_storages",
    "/regions": "regions",
    "/plans": "plans",
    "/plans-metal": "plans_metal",
    "/billing/history": "billing_history",
    "/billing/invoices": "billing_invoices",
    "/billing/pending-charges": "pending_charges",
    "/inference": "subscriptions",
}


@pytest.fixture
def api(sandbox_session: Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sandbox_session.api_url,
                       headers={"Authorization": f"Bearer {sandbox_session.api_key}"}) as client:
        yield client


def test_instances_page_of_two_has_a_next_cursor_and_401_without_key(sandbox_session: Sandbox,
                                                                     api: httpx2.Client) -> None:
    r = api.get("/instances", params={"per_page": 2})
    assert r.status_code == 200
    body = r.json()
    assert len(body["instances"]) == 2
    assert body["meta"]["links"]["next"] and body["meta"]["links"]["prev"] == ""
    assert body["meta"]["total"] == len(sandbox_session.fleet["instances"])

    anon = httpx2.get(sandbox_session.api_url + "/instances", params={"per_page": 2})
    assert anon.status_code == 401
    assert anon.json() == {"error": "Invalid API token.", "status": 401}
    wrong = httpx2.get(sandbox_session.api_url + "/instances", headers={"Authorization": "Bearer nope-123456"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(("path", "key"), sorted(LIST_ROUTES.items()))
def test_every_route_answers_with_the_real_response_key(api: httpx2.Client, path: str, key: str) -> None:
    r = api.get(path)
    assert r.status_code == 200, r.text
    assert key in r.json()
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/plans", "/plans-metal", "/regions", "/regions/ewr/availability"])
def test_public_catalogue_routes_need_no_key(sandbox_session: Sandbox, path: str) -> None:
    r = httpx2.get(sandbox_session.api_url + path)
    assert r.status_code == 200


def test_private_routes_need_a_key(sandbox_session: Sandbox) -> None:
    for path in LIST_ROUTES:
        if path not in ("/plans", "/plans-metal", "/regions"):
            assert httpx2.get(sandbox_session.api_url + path).status_code == 401, path


def test_get_by_id_returns_the_singular_key(sandbox_session: Sandbox, api: httpx2.Client) -> None:
    f = sandbox_session.fleet
    cases = [
        ("instances", "/instances/{}", "instance"),
        ("bare_metals", "/bare-metals/{}", "bare_metal"),
        ("kubernetes_clusters", "/kubernetes/clusters/{}", "vke_cluster"),
        ("load_balancers", "/load-balancers/{}", "load_balancer"),
        ("blocks", "/blocks/{}", "block"),
        ("databases", "/databases/{}", "database"),
        ("snapshots", "/snapshots/{}", "snapshot"),
        ("object_storages", "/object-storage/{}", "object_storage"),
        ("billing_invoices", "/billing/invoices/{}", "billing_invoice"),
        ("inference_subscriptions", "/inference/{}", "subscription"),
    ]
    for kind, template, key in cases:
        obj = f[kind][-1]
        r = api.get(template.format(obj["id"]))
        assert r.status_code == 200, (kind, r.text)
        assert r.json()[key] == obj
        missing = api.get(template.format("00000000-0000-4000-8000-000000000000"))
        assert missing.status_code == 404
        assert missing.json()["status"] == 404 and missing.json()["error"]


def test_unknown_route_and_method_are_json_errors(api: httpx2.Client) -> None:
    r = api.get("/no-such-thing")
    assert r.status_code == 404 and r.json()["status"] == 404
    r = api.delete("/account")
    assert r.status_code == 405 and r.json()["status"] == 405


def test_node_pools_invoice_items_and_subscription_usage(sandbox_session: Sandbox, api: httpx2.Client) -> None:
    cluster = sandbox_session.fleet["kubernetes_clusters"][0]
    pools = api.get(f"/kubernetes/clusters/{cluster['id']}/node-pools").json()
    assert [p["id"] for p in pools["node_pools"]] == [p["id"] for p in cluster["node_pools"]]
    pool = cluster["node_pools"][0]
    assert api.get(f"/kubernetes/clusters/{cluster['id']}/node-pools/{pool['id']}").json()["node_pool"] == pool
    invoice = sandbox_session.fleet["billing_invoices"][0]
    items = api.get(f"/billing/invoices/{invoice['id']}/items").json()
    assert items["invoice_items"] and "meta" in items
    assert items["invoice_items"] == sandbox_session.fleet_data.invoice_items[invoice["id"]]
    sub = sandbox_session.fleet["inference_subscriptions"][0]
    usage = api.get(f"/inference/{sub['id']}/usage").json()["usage"]
    assert set(usage) >= {"chat_by_model", "audio", "image"}


def test_databases_have_no_paging_links_and_ignore_per_page(sandbox_session: Sandbox, api: httpx2.Client) -> None:
    body = api.get("/databases", params={"per_page": 1}).json()
    assert body["meta"] == {"total": len(sandbox_session.fleet["databases"])}
    assert len(body["databases"]) == len(sandbox_session.fleet["databases"])


def test_database_filters_usage_alerts_backups(sandbox_session: Sandbox, api: httpx2.Client) -> None:
    dbs = sandbox_session.fleet["databases"]
    region = dbs[0]["region"]
    filtered = api.get("/databases", params={"region": region.swapcase()}).json()["databases"]
    assert filtered and all(d["region"].lower() == region.lower() for d in filtered)
    assert api.get("/databases", params={"label": dbs[1]["label"]}).json()["databases"] == [dbs[1]]

    kinds = set()
    for db in dbs:
        usage = api.get(f"/databases/{db['id']}/usage").json()["usage"]
        kinds.add(type(usage["cpu"]["percentage"]).__name__)
        assert 0 <= float(usage["memory"]["percentage"]) <= 100
    assert kinds == {"str", "float"}, "some databases answer numbers as strings, like the spec's types"

    alerts = api.post(f"/databases/{dbs[0]['id']}/alerts", json={"period": "year"})
    assert alerts.status_code == 200 and alerts.json()["alerts"]
    assert api.post(f"/databases/{dbs[0]['id']}/alerts", json={"period": "decade"}).status_code == 400
    backups = api.get(f"/databases/{dbs[0]['id']}/backups").json()
    assert backups["latest_backup"]["date"] and backups["oldest_backup"]["time"]


def test_instance_filters(sandbox_session: Sandbox, api: httpx2.Client) -> None:
    inst = sandbox_session.fleet["instances"]
    region = inst[0]["region"]
    got = api.get("/instances", params={"region": region}).json()
    assert got["meta"]["total"] == sum(i["region"] == region for i in inst)
    tagged = next(i for i in inst if i["tags"])
    got = api.get("/instances", params={"tag": tagged["tags"][0]}).json()["instances"]
    assert tagged["id"] in {i["id"] for i in got} and all(tagged["tags"][0] in i["tags"] for i in got)
    assert api.get("/plans", params={"type": "vcg"}).json()["plans"][0]["id"].startswith("vcg-")


@pytest.mark.parametrize(("per_page", "status", "count"), [("600", 200, 25), ("0", 400, None), ("x", 400, None)])
def test_per_page_clamp_and_validation(api: httpx2.Client, per_page: str, status: int, count: int | None) -> None:
    r = api.get("/instances", params={"per_page": per_page})
    assert r.status_code == status
    if count is None:
        assert r.json()["status"] == 400 and "per_page" in r.json()["error"]
    else:
        assert len(r.json()["instances"]) == count


def test_invalid_cursor_is_400(api: httpx2.Client) -> None:
    r = api.get("/instances", params={"cursor": "not-a-cursor!"})
    assert r.status_code == 400 and r.json()["error"] == "Invalid cursor."


def test_secrets_are_present_like_in_the_real_api(sandbox_session: Sandbox, api: httpx2.Client) -> None:
    inst = api.get("/instances").json()["instances"][0]
    assert inst["default_password"] == sandbox_session.fleet["instances"][0]["default_password"]
    dbs = api.get("/databases").json()["databases"]
    assert all(d["password"] for d in dbs)
    assert any(d.get("access_key") for d in dbs) and any(d.get("ferretdb_credentials") for d in dbs)
    store = api.get("/object-storage").json()["object_storages"][0]
    assert store["s3_secret_key"] in sandbox_session.secret_values()
    sub = api.get("/inference").json()["subscriptions"][0]
    assert sub["api_key"] in sandbox_session.secret_values()


def _walk(client: httpx2.Client, path: str, key: str, per_page: int, limit: int = 1000) -> tuple[list[Any], int]:
    items: list[Any] = []
    cursor, pages = "", 0
    while pages < limit:
        params: dict[str, Any] = {"per_page": per_page}
        if cursor:
            params["cursor"] = cursor
        body = client.get(path, params=params).json()
        pages += 1
        items += body[key]
        cursor = body["meta"]["links"]["next"]
        if not cursor:
            break
    return items, pages


def test_cursor_walk_over_10000_instances_yields_each_id_once(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(fleet={"instances": 10_000}, rate_limit=None)
    with httpx2.Client(base_url=sb.api_url, headers={"Authorization": f"Bearer {sb.api_key}"}) as client:
        items, pages = _walk(client, "/instances", "instances", 500)
    ids = [i["id"] for i in items]
    assert pages == 20
    assert len(ids) == 10_000 == len(set(ids))
    assert set(ids) == {i["id"] for i in sb.fleet["instances"]}
    log = sb.requests_log()
    assert (log["path"] == "/v2/instances").sum() == 20


def test_same_seed_same_payloads_different_seed_different(make_sandbox: Callable[..., Sandbox]) -> None:
    bodies = []
    for seed in (5, 5, 6):
        sb = make_sandbox(seed=seed)
        r = httpx2.get(sb.api_url + "/instances", headers={"Authorization": f"Bearer {sb.api_key}"})
        bodies.append(r.content)
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


def test_pagination_bugs(sandbox: Sandbox) -> None:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    with httpx2.Client(base_url=sandbox.api_url, headers=headers) as client:
        sandbox.set_pagination_bug("repeat_cursor")
        first = client.get("/instances", params={"per_page": 5}).json()["meta"]["links"]["next"]
        second = client.get("/instances", params={"per_page": 5, "cursor": first}).json()["meta"]["links"]["next"]
        assert first == second != ""

        sandbox.set_pagination_bug("endless")
        items, pages = _walk(client, "/instances", "instances", 10, limit=12)
        assert pages == 12 and len(items) == 120  # never ends by itself; 25 instances wrap around

        sandbox.set_pagination_bug(None)
        items, pages = _walk(client, "/instances", "instances", 10)
        assert pages == 3 and len(items) == 25
