"""Start/stop, properties, settings(), use inside a running event loop, teardown with requests in flight."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import httpx2
import pytest

from vultr_toolkit import ConfigError, Settings
from vultr_toolkit.sandbox import Sandbox


def test_start_stop_idempotent_and_port_freed() -> None:
    sb = Sandbox(seed=1)
    assert sb.start() is sb and sb.start() is sb
    port = sb.port
    assert sb.api_url == f"http://127.0.0.1:{port}/v2"
    assert sb.inference_url == f"http://127.0.0.1:{port}/v1"
    assert httpx2.get(sb.api_url + "/regions").status_code == 200
    sb.stop()
    sb.stop()
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"http://127.0.0.1:{port}/v2/regions")
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))
    sb.start()  # and it can serve again
    try:
        assert httpx2.get(sb.api_url + "/regions").status_code == 200
    finally:
        sb.stop()


def test_fixed_port_and_context_manager() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with Sandbox(port=free) as sb:
        assert sb.port == free
        assert httpx2.get(f"http://127.0.0.1:{free}/v2/plans").status_code == 200


def test_api_key_default_and_explicit() -> None:
    assert Sandbox().api_key.startswith("sandbox-")
    assert Sandbox().api_key != Sandbox().api_key
    assert Sandbox(api_key="sandbox-fixed-key").api_key == "sandbox-fixed-key"


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ConfigError, match="rate_limit"):
        Sandbox(rate_limit=0)
    with pytest.raises(ConfigError, match="instancez"):
        Sandbox(fleet={"instancez": 3})


def test_settings_point_at_the_sandbox(sandbox: Sandbox) -> None:
    s = sandbox.settings(rate_limit=7)
    assert isinstance(s, Settings)
    assert s.api_url == sandbox.api_url and s.inference_url == sandbox.inference_url
    assert s.api_key is not None and s.api_key.get_secret_value() == sandbox.api_key
    assert s.inference_api_key is not None
    assert s.inference_api_key.get_secret_value() == sandbox.inference_api_key
    assert s.rate_limit == 7
    assert sandbox.api_key not in repr(s)
    models = httpx2.get(sandbox.inference_url + "/models")
    assert models.status_code == 200 and models.json()["data"]


def test_works_from_inside_a_running_event_loop() -> None:
    # Jupyter runs user code inside a loop; the sandbox must not need (or block) it.
    async def main() -> int:
        with Sandbox(seed=2) as sb:
            async with httpx2.AsyncClient() as client:
                r = await client.get(sb.api_url + "/instances",
                                     headers={"Authorization": f"Bearer {sb.api_key}"})
                return len(r.json()["instances"])

    assert asyncio.run(main()) == 25


def test_fleet_property_matches_what_is_served(sandbox: Sandbox) -> None:
    r = httpx2.get(sandbox.api_url + "/blocks", headers={"Authorization": f"Bearer {sandbox.api_key}"})
    assert [b["id"] for b in r.json()["blocks"]] == [b["id"] for b in sandbox.fleet["blocks"]]
    assert sandbox.fleet_data.account["name"]


def test_stop_does_not_wait_for_a_request_in_flight() -> None:
    sb = Sandbox(seed=0).start()
    sb.set_faults("/v2/account", latency_ms=120_000)
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            httpx2.get(sb.api_url + "/account", headers={"Authorization": f"Bearer {sb.api_key}"}, timeout=60)
        except BaseException as e:
            errors.append(e)

    client = threading.Thread(target=slow, daemon=True)
    client.start()
    time.sleep(0.3)  # let the request reach its two-minute sleep (stop must not hang either way)
    stopper = threading.Thread(target=sb.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=30)
    assert not stopper.is_alive(), "stop() hung on a request in flight"
    client.join(timeout=30)
    assert errors and isinstance(errors[0], httpx2.TransportError)


def test_bad_inference_options_fail_at_construction() -> None:
    with pytest.raises(ConfigError, match="inference"):
        Sandbox(inference={"no_such_option": 1})


def test_inference_emulator_is_reachable_before_start_and_keeps_its_options() -> None:
    sb = Sandbox(inference={"time_scale": 0.5})
    assert sb.inference.options["time_scale"] == 0.5
    with sb:
        assert httpx2.get(sb.inference_url + "/models").status_code == 200


def test_request_log_keeps_the_newest_rows_up_to_its_limit(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(log_limit=3, rate_limit=None)
    for per_page in range(1, 6):
        httpx2.get(sb.api_url + "/regions", params={"per_page": per_page})
    assert sb.requests_log()["query"].tolist() == ["per_page=3", "per_page=4", "per_page=5"]
