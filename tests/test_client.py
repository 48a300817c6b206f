"""vt.Client / vt.AsyncClient: configuration, the per-API cores, lazy resources, stats and lifecycle."""

from __future__ import annotations

import asyncio

import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import AsyncHTTPCore, HTTPCore
from vultr_toolkit.client import _lazy_resource, resolve_settings
from vultr_toolkit.sandbox import Sandbox

CANARY = "sk-CANARY-client-9a8b7c6d5e"


def test_overrides_win_and_are_validated() -> None:
    base = vt.Settings(api_url="http://127.0.0.1:9/v2", rate_limit=7)
    s = resolve_settings(base, rate_burst=3)
    assert (s.api_url, s.rate_limit, s.rate_burst) == ("http://127.0.0.1:9/v2", 7.0, 3)
    assert resolve_settings(base) is base
    with pytest.raises(vt.ConfigError, match="VULTR_TOOLKIT_RATE_LIMIT"):
        vt.Client(base, rate_limit=0)
    with pytest.raises(vt.ConfigError, match=r"unknown setting.*api_keys"):
        vt.Client(base, api_keys="x")
    with pytest.raises(vt.ConfigError, match="VULTR_API_URL"):
        vt.Client(api_url="ftp://example")


def test_repr_shows_url_and_fingerprint_only() -> None:
    c = vt.Client(api_key=CANARY, api_url="http://127.0.0.1:9/v2", inference_api_key=CANARY + "-inf")
    text = repr(c)
    assert "http://127.0.0.1:9/v2" in text and "key=<sha256:" in text and "inference_key=<sha256:" in text
    assert "CANARY" not in text and "CANARY" not in str(c)
    assert "key=<unset>" in repr(vt.Client(api_url="http://127.0.0.1:9/v2", api_key=None))


def test_tls_off_needs_explicit_opt_in() -> None:
    with pytest.raises(vt.ConfigError, match="allow_insecure"):
        vt.Client(api_url="https://127.0.0.1:9/v2", verify=False)


def test_cores_are_cached_per_api_and_share_the_limiter() -> None:
    s = vt.Settings(api_key=CANARY, api_url="http://127.0.0.1:9/v2")
    a, b = vt.Client(s), vt.Client(s)
    core = a.http_core("management")
    assert isinstance(core, HTTPCore) and a.http_core("management") is core
    assert core.limiter is not None and core.limiter is b.http_core("management").limiter
    assert a.http_core("inference").base_url == s.inference_url and a.http_core("inference").limiter is None
    custom = a.http_core("other", base_url="http://127.0.0.1:9/x", api_key=None, limiter=None)
    assert custom.base_url == "http://127.0.0.1:9/x" and custom.key_fingerprint == "<unset>"
    with pytest.raises(vt.ConfigError, match="base_url"):
        a.http_core("unknown")
    assert isinstance(vt.AsyncClient(s).http_core("management"), AsyncHTTPCore)
    a.close()
    b.close()


def test_inference_is_built_on_the_inference_core(sandbox_session: Sandbox) -> None:
    with vt.Client(sandbox_session.settings()) as c:
        models = c.inference.models()
        assert len(models) > 0
        assert c.stats()["by_api"]["inference"]["requests"] == 1
        assert c.inference is c.inference  # cached


def test_missing_resources_fail_clearly() -> None:
    c = vt.Client(api_url="http://127.0.0.1:9/v2")
    with pytest.raises(AttributeError, match=r"client.nothing is not available: module vultr_toolkit.nothing"):
        _lazy_resource("vultr_toolkit.nothing", "Nothing", "client.nothing", c)
    with pytest.raises(AttributeError, match=r"vultr_toolkit._http.Nothing is not defined"):
        _lazy_resource("vultr_toolkit._http", "Nothing", "client.nothing", c)


def test_stats_aggregate_and_survive_close(sandbox_session: Sandbox) -> None:
    c = vt.Client(sandbox_session.settings())
    c.management.get("/account")
    c.management.get("/regions")
    c.inference.models()
    c.close()
    stats = c.stats()
    assert stats["calls"] == stats["requests"] == 3 and stats["retries"] == 0
    assert set(stats["by_api"]) == {"management", "inference"}
    assert stats["by_api"]["management"]["budget_tokens"] > 0
    assert stats["by_api"]["management"]["limiter"]["limiter_grants"] >= 2


def test_sync_client_works_inside_a_running_event_loop(sandbox_session: Sandbox) -> None:
    """Jupyter runs a loop in the kernel thread; the sync client must not need one (no asyncio.run inside)."""

    async def notebook_cell() -> str:
        with vt.Client(sandbox_session.settings()) as c:
            return str(c.management.get("/account")["account"]["email"])

    assert "@" in asyncio.run(notebook_cell())


def test_async_client_context_manager(sandbox_session: Sandbox) -> None:
    async def main() -> int:
        async with vt.AsyncClient(sandbox_session.settings()) as c:
            regions = await c.management.paginate("/regions", "regions")
            assert "AsyncClient(" in repr(c)
            return len(regions)

    assert asyncio.run(main()) == len(sandbox_session.fleet["regions"])


@pytest.mark.parametrize("attempts", [1, 3])
def test_public_retry_policy_sets_how_often_a_failing_call_is_sent(attempts: int) -> None:
    # vt.RetryPolicy is the public way to tune retries (Client took one, but only a private import could build it).
    with Sandbox(seed=0) as sb:
        sb.set_faults("/v2/account", p503=1.0, retry_after_s=None)
        policy = vt.RetryPolicy(attempts=attempts, multiplier_s=0.01, max_backoff_s=0.02)
        with vt.Client(sb.settings(), retry=policy) as client, pytest.raises(vt.ServerError):
            client.management.get("/account")
        log = sb.requests_log()
    assert (log["path"] == "/v2/account").sum() == attempts


def test_warning_classes_are_public() -> None:
    assert issubclass(vt.PaginationWarning, UserWarning) and issubclass(vt.InsecureTLSWarning, UserWarning)
    assert {"RetryPolicy", "PaginationWarning", "InsecureTLSWarning"} <= set(vt.__all__)
