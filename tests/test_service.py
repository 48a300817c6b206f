"""The REST status service over real HTTP: every route against the sandbox, real PostgreSQL and a password-protected
Valkey; auth on and off; JSON error bodies; no secret in any response."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

import vultr_toolkit as vt
from tests.plugins.servers import PostgresServer, ValkeyServer
from vultr_toolkit.service import TOKEN_ENV, StatusService, serve

CANARY_KEY = "sk-CANARY-service-mgmt-31c7d0"
CANARY_VALKEY_PASSWORD = "sk-CANARY-service-vk-9b12"
CANARY_TOKEN = "sk-CANARY-service-token-44f0"
P = "/api/vultr"

ROUTES = [("GET", f"{P}"), ("GET", f"{P}/health"), ("GET", f"{P}/stats"), ("POST", f"{P}/test"),
          ("GET", f"{P}/management/account"), ("GET", f"{P}/management/databases"),
          ("GET", f"{P}/management/valkey"), ("GET", f"{P}/management/instances"),
          ("GET", f"{P}/management/summary")]

BODIES: list[str] = []  # every response body of this module, scanned for secrets at the end


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, Any]]:
    with vt.Sandbox(seed=0, api_key=CANARY_KEY, rate_limit=None) as sb, \
            ValkeyServer(password=CANARY_VALKEY_PASSWORD) as vk:
        yield {"sandbox": sb, "valkey_url": vk.url}


@pytest.fixture(scope="module")
def svc(env: dict[str, Any], pg_server: PostgresServer) -> Iterator[StatusService]:
    sb = env["sandbox"]
    settings = sb.settings(postgres_url=pg_server.url, valkey_url=env["valkey_url"])
    with StatusService(settings, port=0, token="") as service:
        yield service


def _get(svc: StatusService, path: str, method: str = "GET", **kw: Any) -> httpx2.Response:
    r = httpx2.request(method, svc.url + path, timeout=30, **kw)
    BODIES.append(r.text)
    assert r.headers["content-type"].startswith("application/json")
    return r


def test_health_probes_every_configured_service(svc: StatusService) -> None:
    r = _get(svc, f"{P}/health")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "up"
    assert set(body["services"]) == {"postgres", "valkey", "inference", "api", "overall"}
    pg = body["services"]["postgres"]
    assert pg["status"] == "up" and pg["latency_ms"] > 0 and isinstance(pg["details"], dict)
    assert body["services"]["valkey"]["target"].startswith("redis://")
    assert body["checked_at"].endswith("+00:00")


def test_stats_nest_per_service_and_keep_the_long_rows(svc: StatusService) -> None:
    body = _get(svc, f"{P}/stats").json()
    assert {"postgres", "valkey", "inference", "api"} <= set(body["services"])
    assert body["services"]["valkey"]["latency_ms"] > 0
    assert any(r["service"] == "postgres" and r["stat"] == "latency_ms" for r in body["rows"])


def test_test_runs_round_trips_on_every_service(svc: StatusService) -> None:
    r = _get(svc, f"{P}/test", "POST")
    body = r.json()
    assert r.status_code == 200 and body["ok"] is True
    assert body["services"] == {"postgres": True, "valkey": True, "inference": True}
    steps = {(s["service"], s["step"]) for s in body["steps"]}
    assert {("postgres", "write"), ("valkey", "delete"), ("inference", "chat")} <= steps


def test_management_routes_return_the_sandbox_fleet(svc: StatusService, env: dict[str, Any]) -> None:
    fleet = env["sandbox"].fleet
    acct = _get(svc, f"{P}/management/account").json()["account"]
    assert acct["name"] == env["sandbox"].fleet_data.account["name"]
    inst = _get(svc, f"{P}/management/instances").json()
    assert inst["count"] == len(fleet["instances"]) == len(inst["instances"])
    assert {i["id"] for i in inst["instances"]} == {i["id"] for i in fleet["instances"]}
    assert not any(k.startswith("_") for k in inst["instances"][0])
    dbs = _get(svc, f"{P}/management/databases").json()
    assert dbs["count"] == len(fleet["databases"])
    pg = _get(svc, f"{P}/management/databases", params={"engine": "pg"}).json()
    assert pg["count"] == sum(d["database_engine"] == "pg" for d in fleet["databases"]) and pg["count"] >= 1
    valkey = _get(svc, f"{P}/management/valkey").json()
    assert valkey["count"] == sum(d["database_engine"] == "valkey" for d in fleet["databases"])
    summary = _get(svc, f"{P}/management/summary").json()
    assert summary["resource_count"] == sum(r["count"] for r in summary["summary"]
                                            if r["region"] == "total" and r["resource_type"] != "total")
    assert summary["total_monthly_cost_usd"] > 0


def test_one_database_and_its_health(svc: StatusService, env: dict[str, Any]) -> None:
    db = env["sandbox"].fleet["databases"][0]
    one = _get(svc, f"{P}/management/databases/{db['id']}").json()["database"]
    assert one["id"] == db["id"] and one["label"] == db["label"]
    health = _get(svc, f"{P}/management/databases/{db['id']}/health", params={"period": "week"}).json()
    assert health["database_id"] == db["id"] and "cpu_pct" in health["usage"]
    assert health["alert_count"] == len(health["alerts"])


@pytest.mark.parametrize("method, path, status, words", [
    ("GET", f"{P}/nope", 404, "no route GET /api/vultr/nope"),
    ("GET", f"{P}/management/databases/00000000-0000-0000-0000-000000000000", 404, "not found"),
    ("GET", f"{P}/management/databases/bad$id", 400, "database id"),
    ("GET", f"{P}/management/databases/x/health?period=year", 400, "period must be one of"),
    ("GET", f"{P}/management/databases?engine=PG;drop", 400, "engine must be"),
    ("POST", f"{P}/health", 405, "not allowed"),
    ("GET", f"{P}/test", 405, "not allowed"),
])
def test_errors_are_json_with_error_and_status(svc: StatusService, method: str, path: str, status: int,
                                               words: str) -> None:
    r = _get(svc, path, method)
    assert r.status_code == status
    body = r.json()
    assert body["status"] == status and words in body["error"] and set(body) == {"error", "status"}


def test_index_lists_every_route(svc: StatusService) -> None:
    routes = _get(svc, P).json()["routes"]
    for method, path in ROUTES:
        assert f"{method} {path}" in routes
    assert "GET /api/vultr/management/databases/{id}/health" in routes


def test_token_is_required_when_set(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, CANARY_TOKEN)
    with StatusService(env["sandbox"].settings(), port=0) as service:
        assert service.auth_enabled
        for method, path in ROUTES:
            r = _get(service, path, method)
            assert r.status_code == 401, path
            assert r.json() == {"status": 401, "error": "missing or invalid token: send it as a Bearer token "
                                                        "in the Authorization header"}
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        for header in (f"Bearer {CANARY_TOKEN}x", f"Basic {CANARY_TOKEN}", CANARY_TOKEN, "Bearer"):
            assert _get(service, f"{P}/management/account", headers={"Authorization": header}).status_code == 401
        ok = _get(service, f"{P}/management/instances", headers={"Authorization": f"bearer {CANARY_TOKEN}"})
        assert ok.status_code == 200 and ok.json()["count"] == 25
        # Unknown routes are behind the token too: nothing about the service is visible without it.
        assert _get(service, f"{P}/nope").status_code == 401
    # An explicit empty token turns auth off even with the variable set.
    with StatusService(env["sandbox"].settings(), port=0, token="") as open_service:
        assert _get(open_service, f"{P}/management/instances").status_code == 200


def test_health_is_503_when_a_service_is_down(env: dict[str, Any]) -> None:
    from tests.plugins.servers import free_port

    settings = env["sandbox"].settings(valkey_url=f"redis://127.0.0.1:{free_port()}/0")
    with StatusService(settings, port=0, token="") as service:
        r = _get(service, f"{P}/health")
        body = r.json()
        assert r.status_code == 503 and body["status"] == "down"
        assert body["services"]["valkey"]["status"] == "down" and body["services"]["api"]["status"] == "up"
        t = _get(service, f"{P}/test", "POST").json()
        assert t["ok"] is False and t["services"]["valkey"] is False


def test_management_without_a_key_is_503_and_names_the_variable(env: dict[str, Any]) -> None:
    sb = env["sandbox"]
    settings = vt.Settings(api_url=sb.api_url, inference_url=sb.inference_url,
                           inference_api_key=sb.inference_api_key)
    with StatusService(settings, port=0, token="") as service:
        r = _get(service, f"{P}/management/instances")
        assert r.status_code == 503 and "VULTR_API_KEY" in r.json()["error"]


def test_nothing_configured_is_503_on_every_route(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import os

    for name in [k for k in os.environ if k.startswith("VULTR_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env either
    with StatusService(vt.Settings(), port=0, token="") as service:
        for method, path in ROUTES[1:]:
            r = _get(service, path, method)
            assert r.status_code == 503, path
            assert r.json()["error"].startswith("the service is not configured for this: ")
        assert "VULTR_API_KEY" in _get(service, f"{P}/management/summary").json()["error"]
        assert "nothing to monitor" in _get(service, f"{P}/health").json()["error"]


def test_an_upstream_failure_is_502(env: dict[str, Any]) -> None:
    sb = env["sandbox"]
    with StatusService(sb.settings(api_key="sk-CANARY-wrong-key-000"), port=0, token="") as service:
        r = _get(service, f"{P}/management/account")
        assert r.status_code == 502 and "401" in r.json()["error"]


def test_serve_runs_in_the_foreground_until_stopped(env: dict[str, Any]) -> None:
    stop = threading.Event()
    seen: list[int] = []

    def ready(service: StatusService) -> None:
        seen.append(httpx2.get(service.url + f"{P}/management/instances").json()["count"])
        stop.set()

    serve(env["sandbox"].settings(), port=0, token="", on_ready=ready, stop=stop)
    assert seen == [25]


def test_bad_port_is_a_config_error() -> None:
    with pytest.raises(vt.ConfigError, match="port"):
        StatusService(port=70000)


# --- field report items 12 and 21, and stats types ----------------------------------------------------------------
def test_stats_counts_are_json_integers(svc: StatusService) -> None:
    body = _get(svc, f"{P}/stats").json()
    s = body["services"]
    counts = {("postgres", "connections_used"), ("postgres", "max_connections"), ("postgres", "pool_size"),
              ("postgres", "db_size_bytes"), ("postgres", "is_replica"), ("valkey", "connected_clients"),
              ("valkey", "used_memory"), ("valkey", "keys"), ("inference", "model_count"), ("api", "http_status")}
    for service, stat in counts:
        assert isinstance(s[service][stat], int), (service, stat, s[service][stat])
    assert isinstance(s["postgres"]["cache_hit_ratio"], float)  # measurements stay floats
    rows = {(r["service"], r["stat"]): r["value"] for r in body["rows"]}
    assert all(isinstance(rows[k], int) for k in counts)


def test_health_answers_while_management_calls_are_stuck(env: dict[str, Any]) -> None:
    """More slow management calls than any pool has threads, then /health: it answers before any of them."""
    from vultr_toolkit.service import MANAGEMENT_WORKERS

    sb = env["sandbox"]
    arrived: list[str] = []
    released = threading.Event()

    def slow_until_released() -> float:  # called by the sandbox as each /v2/instances request arrives
        arrived.append("instances")
        return 0.0 if released.is_set() else 5000.0

    default_pool = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor, which main shared
    n = max(default_pool, MANAGEMENT_WORKERS) + 3
    done: list[tuple[str, int]] = []  # completion order

    def manage() -> None:
        r = httpx2.get(service.url + f"{P}/management/instances", timeout=60)
        done.append(("instances", r.status_code))

    sb.set_faults("/v2/instances*", latency_ms=slow_until_released)
    try:
        with StatusService(sb.settings(), port=0, token="") as service:
            threads = [threading.Thread(target=manage) for _ in range(n)]
            for t in threads:
                t.start()
            for _ in range(600):  # until every management thread holds a request at the sandbox
                if len(arrived) >= MANAGEMENT_WORKERS:
                    break
                time.sleep(0.05)
            assert len(arrived) >= MANAGEMENT_WORKERS
            r = _get(service, f"{P}/health")
            done.append(("health", r.status_code))
            at_health = list(done)
            released.set()  # the calls still queued go fast; the ones at the sandbox finish their sleep
            for t in threads:
                t.join(60)
    finally:
        sb.clear_faults()
    assert at_health == [("health", 200)], at_health  # health came back while every management call was in flight
    assert sorted(done) == [("health", 200)] + [("instances", 200)] * n


RAW_BAD_REQUESTS = {
    "oversized_header": b"GET /api/vultr HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    "bad_chunk_size": b"POST /api/vultr/test HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nabc\r\n0\r\n\r\n",
    "garbage_request_line": b"this is not an http request\r\n\r\n",
}


def _raw(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes to 127.0.0.1:port, read until the server closes; (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("case", sorted(RAW_BAD_REQUESTS))
def test_requests_the_parser_rejects_get_json_errors(svc: StatusService, case: str) -> None:
    status, headers, body = _raw(svc.port, RAW_BAD_REQUESTS[case])
    BODIES.append(body.decode())
    assert status in (400, 431)
    assert headers["content-type"].startswith("application/json")
    err = json.loads(body)
    assert set(err) == {"error", "status"} and err["status"] == status
    assert err["error"].startswith("the request is not valid HTTP/1.1") and "\n" not in err["error"]
    assert "aaaa" not in err["error"] and "zz" not in err["error"]  # the request's own bytes are not echoed
    # and the service still answers the next, well-formed request
    assert _get(svc, P).status_code == 200


def test_no_response_held_a_secret(env: dict[str, Any], svc: StatusService) -> None:
    # Runs last in this module (pytest keeps file order): scans every body the other tests received, plus one
    # request per route of its own so that it also means something when run alone.
    for method, path in ROUTES:
        _get(svc, path, method)
    assert len(BODIES) >= len(ROUTES)
    secrets = {CANARY_KEY, CANARY_VALKEY_PASSWORD, CANARY_TOKEN, "sk-CANARY-wrong-key-000",
               env["sandbox"].inference_api_key, *env["sandbox"].secret_values()}
    text = "\n".join(BODIES)
    assert [s for s in secrets if s in text] == []
    for body in BODIES:
        json.loads(body)  # every body was valid JSON
