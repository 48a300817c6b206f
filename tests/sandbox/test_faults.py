"""Fault injection over real HTTP: every kind happens, is seeded, and shows in the server's request log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import TypedDict, cast

import httpx2
import pytest

from vultr_toolkit import ConfigError
from vultr_toolkit.sandbox import Sandbox


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx2.Client]:
    sandbox.reset_rate_limit()
    with httpx2.Client(base_url=sandbox.api_url, headers={"Authorization": f"Bearer {sandbox.api_key}"}) as c:
        yield c


class _JsonErrorFaults(TypedDict, total=False):
    """The ``set_faults`` keywords test_json_5xx picks one of by name."""

    p500: float
    p502: float
    p503: float


@pytest.mark.parametrize("kind", ["p500", "p502", "p503"])
def test_json_5xx(sandbox: Sandbox, api: httpx2.Client, kind: str) -> None:
    sandbox.set_faults("/v2/account", **cast(_JsonErrorFaults, {kind: 1.0}))
    r = api.get("/account")
    status = int(kind[1:])
    assert r.status_code == status
    assert r.json() == {"error": r.json()["error"], "status": status} and r.json()["error"]
    log = sandbox.requests_log()
    assert log["fault"].tolist() == [kind] and log["status"].tolist() == [status]


def test_504_is_the_html_maintenance_page(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_faults(p504=1.0)
    r = api.get("/instances")
    assert r.status_code == 504
    assert r.headers["content-type"].startswith("text/html")
    assert "software upgrades" in r.text
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_429_fault_with_retry_after_seconds_date_or_none(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_faults("/v2/account", p429=1.0, retry_after_s=3)
    r = api.get("/account")
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.json() == {"error": "rate limit exceeded", "status": 429}

    sandbox.set_faults("/v2/account", p429=1.0, retry_after_s="date")
    r = api.get("/account")
    when = parsedate_to_datetime(r.headers["Retry-After"])
    assert when.tzinfo is not None

    sandbox.set_faults("/v2/account", p429=1.0, retry_after_s=None)
    assert "Retry-After" not in api.get("/account").headers


def test_reset_gives_the_client_a_connection_error(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_faults("/v2/account", reset=1.0)
    with pytest.raises(httpx2.TransportError):
        api.get("/account")
    sandbox.clear_faults()
    assert api.get("/account").status_code == 200  # the server survives and serves the next request
    log = sandbox.requests_log()
    assert log["fault"].tolist() == ["reset", "none"]
    assert log["status"].isna().tolist() == [True, False]


def test_truncated_body_has_matching_length_and_fails_to_parse(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_faults("/v2/instances", truncated=1.0)
    r = api.get("/instances")
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.content.startswith(b'{"instances":')
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_truncated_close_mode_drops_the_connection_mid_body(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_faults("/v2/instances", truncated=1.0, truncated_mode="close")
    with pytest.raises(httpx2.TransportError):
        api.get("/instances")
    assert sandbox.requests_log()["fault"].tolist() == ["truncated"]


def test_malformed_body_is_invalid_json(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_faults("/v2/account", malformed=1.0)
    r = api.get("/account")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert sandbox.requests_log()["fault"].tolist() == ["malformed"]


def test_pattern_matching_and_last_rule_wins(sandbox: Sandbox, api: httpx2.Client) -> None:
    sandbox.set_faults("/v2/instances*", p503=1.0)
    assert api.get("/instances").status_code == 503
    assert api.get(f"/instances/{sandbox.fleet['instances'][0]['id']}").status_code == 503
    assert api.get("/account").status_code == 200
    sandbox.set_faults("/v2/*", p500=1.0)
    assert api.get("/instances").status_code == 500  # the newer, broader rule wins
    sandbox.set_faults("/v2/instances*", p502=1.0)
    assert api.get("/instances").status_code == 502  # re-setting a pattern makes it the newest


def test_faults_are_drawn_from_a_seeded_rng(make_sandbox: Callable[..., Sandbox]) -> None:
    runs = []
    for _ in range(2):
        sb = make_sandbox(rate_limit=None)
        sb.set_faults(p500=0.3, p503=0.3, seed=42)
        with httpx2.Client(base_url=sb.api_url, headers={"Authorization": f"Bearer {sb.api_key}"}) as c:
            runs.append([c.get("/account").status_code for _ in range(40)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} == set(runs[0])


def test_fault_latency_and_global_latency(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(latency_ms=30, rate_limit=None)
    sb.set_faults("/v2/account", latency_ms=(40.0, 0.0))
    headers = {"Authorization": f"Bearer {sb.api_key}"}
    httpx2.get(sb.api_url + "/account", headers=headers)
    httpx2.get(sb.api_url + "/regions")
    sb.set_faults("/v2/account", latency_ms=lambda: 25.0)
    httpx2.get(sb.api_url + "/account", headers=headers)
    lat = sb.requests_log()["latency_ms"].tolist()
    # Sleeps are lower bounds (asyncio timers may fire up to ~1 ms early): 30+40, 30, 30+25.
    assert lat[0] >= 68 and lat[1] >= 28 and lat[2] >= 53


def test_probabilities_are_validated(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError, match="p500"):
        sandbox.set_faults(p500=1.5)
    with pytest.raises(ConfigError, match="add up"):
        sandbox.set_faults(p500=0.6, p503=0.6)
    with pytest.raises(ConfigError, match="retry_after_s"):
        sandbox.set_faults(p429=1.0, retry_after_s="soon")


def test_inference_routes_are_logged_but_not_rate_limited(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(rate_limit=2)
    statuses = [httpx2.get(sb.inference_url + "/models").status_code for _ in range(6)]
    assert statuses == [200] * 6
    log = sb.requests_log()
    assert (log["path"] == "/v1/models").sum() == 6
    assert (log["fault"] == "rate_limited").sum() == 0
