"""Every retry rule of the HTTP core over real loopback HTTP, verified from the sandbox's own request log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import RetryPolicy
from vultr_toolkit.sandbox import Sandbox

# Fast backoff and a budget big enough that it never interferes with the rule being tested.
FAST = RetryPolicy(multiplier_s=0.02, max_backoff_s=0.2, budget_min_retries_per_s=100)
DB_ID_PATH = "/databases/{id}/alerts"


def served(sb: Sandbox, path: str) -> pd.DataFrame:
    log = sb.requests_log()
    return log[log["path"] == "/v2" + path].reset_index(drop=True)


def client(sb: Sandbox, policy: RetryPolicy = FAST, **kw: object) -> vt.Client:
    return vt.Client(sb.settings(**kw), retry=policy)


def test_success_goes_through_once_with_identity_headers(sandbox: Sandbox) -> None:
    with client(sandbox) as c:
        account = c.management.get("/account")
        assert "account" in account
        assert c.stats()["requests"] == 1 and c.stats()["retries"] == 0
    assert len(served(sandbox, "/account")) == 1


def test_401_is_sent_once_and_typed(sandbox: Sandbox) -> None:
    with client(sandbox, api_key="sk-CANARY-wrong-key-000") as c, pytest.raises(vt.AuthenticationError) as ei:
        c.management.get("/account")
    err = ei.value
    assert (err.status, err.method, err.path, err.api_message) == (401, "GET", "/account", "Invalid API token.")
    assert len(served(sandbox, "/account")) == 1


def test_404_is_typed_and_not_retried(sandbox: Sandbox) -> None:
    with client(sandbox) as c, pytest.raises(vt.NotFoundError) as ei:
        c.management.get("/instances/no-such-instance")
    assert ei.value.status == 404
    assert len(served(sandbox, "/instances/no-such-instance")) == 1


def test_503_burst_is_retried_with_growing_gaps(sandbox: Sandbox) -> None:
    """Full jitter: each gap is drawn from a window that doubles (0.1, 0.2, 0.4 s), measured server-side."""
    policy = RetryPolicy(attempts=4, multiplier_s=0.1, max_backoff_s=5, budget_min_retries_per_s=100)
    sandbox.set_faults("/v2/account", p503=1.0)
    calls = 12
    with client(sandbox, policy, rate_limit=1000, rate_burst=100) as c:
        for _ in range(calls):
            with pytest.raises(vt.ServerError) as ei:
                c.management.get("/account")
            assert ei.value.status == 503
        rows = served(sandbox, "/account")
        assert len(rows) == calls * 4 and (rows["status"] == 503).all()
        gaps = rows["t_mono"].to_numpy().reshape(calls, 4)
        gaps = gaps[:, 1:] - gaps[:, :-1]
        for k, cap in enumerate((0.1, 0.2, 0.4)):
            assert gaps[:, k].max() <= cap + 0.25  # the window bound, plus loopback/scheduling slack
        means = gaps.mean(axis=0)
        assert means[0] < means[2] and means[1] < means[2]
        # The burst ends: the next call succeeds at once.
        sandbox.clear_faults()
        assert "account" in c.management.get("/account")
        assert c.stats()["retries"] == calls * 3


@pytest.mark.parametrize("retry_after", [1, "date"])
def test_retry_after_is_respected(make_sandbox: Callable[..., Sandbox], retry_after: int | str) -> None:
    sb = make_sandbox()
    sb.set_faults("/v2/account", p429=1.0, retry_after_s=retry_after)
    with client(sb, RetryPolicy(attempts=2, budget_min_retries_per_s=10)) as c, pytest.raises(vt.RateLimitError) as ei:
        c.management.get("/account")
    assert ei.value.retry_after_s is not None and ei.value.retry_after_s >= (1 if retry_after == 1 else 0.5)
    t = served(sb, "/account")["t_mono"].tolist()
    assert len(t) == 2
    # Seconds: at least 1 s. HTTP-date: the server sends now+2 s at 1-s resolution, so at least ~1 s.
    assert t[1] - t[0] >= 0.9


def test_retry_after_over_the_cap_raises_without_waiting(sandbox: Sandbox) -> None:
    sandbox.set_faults("/v2/account", p429=1.0, retry_after_s=90)
    with client(sandbox, RetryPolicy(retry_after_cap_s=60)) as c, pytest.raises(vt.RateLimitError) as ei:
        c.management.get("/account")
    assert ei.value.retry_after_s == 90
    assert len(served(sandbox, "/account")) == 1


def _alerts_path(sb: Sandbox) -> str:
    return DB_ID_PATH.format(id=sb.fleet["databases"][0]["id"])


@pytest.mark.parametrize("fault", ["p500", "p502", "p504"])
def test_post_is_not_retried_after_500_502_504(sandbox: Sandbox, fault: str) -> None:
    path = _alerts_path(sandbox)
    sandbox.set_faults("/v2" + path, **{fault: 1.0})  # type: ignore[arg-type]
    with client(sandbox) as c, pytest.raises(vt.ServerError) as ei:
        c.management.post(path, {"period": "day"})
    assert ei.value.status == int(fault[1:])
    assert len(served(sandbox, path)) == 1
    if fault == "p504":  # Vultr's maintenance page arrives as HTML; the message is its text
        assert "software upgrades" in (ei.value.api_message or "")


@pytest.mark.parametrize("fault", ["p429", "p503"])
def test_post_is_retried_after_429_and_503(sandbox: Sandbox, fault: str) -> None:
    path = _alerts_path(sandbox)
    sandbox.set_faults("/v2" + path, **{fault: 1.0}, retry_after_s=0)  # type: ignore[arg-type]
    with client(sandbox) as c, pytest.raises(vt.APIStatusError):
        c.management.post(path, {"period": "day"})
    assert len(served(sandbox, path)) == FAST.attempts


def test_read_only_post_marked_idempotent_is_retried_after_500(sandbox: Sandbox) -> None:
    path = _alerts_path(sandbox)
    sandbox.set_faults("/v2" + path, p500=0.5, seed=3)
    with client(sandbox) as c:
        for _ in range(6):
            assert "alerts" in c.management.post(path, {"period": "day"}, idempotent=True)
    rows = served(sandbox, path)
    assert (rows["status"] == 500).sum() >= 1 and (rows["status"] == 200).sum() == 6


@pytest.mark.parametrize("mode", ["length", "close"])
def test_truncated_json_is_a_response_error_retried_for_get_only(sandbox: Sandbox, mode: str) -> None:
    """A 2xx with a cut body is APIResponseError; a GET is safe to replay, a POST is not."""
    sandbox.set_faults("/v2/account", truncated=1.0, truncated_mode=mode)  # type: ignore[arg-type]
    path = _alerts_path(sandbox)
    sandbox.set_faults("/v2" + path, truncated=1.0, truncated_mode=mode)  # type: ignore[arg-type]
    with client(sandbox) as c:
        with pytest.raises(vt.APIResponseError, match="truncated or malformed"):
            c.management.get("/account")
        with pytest.raises(vt.APIResponseError):
            c.management.post(path, {"period": "day"})
    assert len(served(sandbox, "/account")) == FAST.attempts
    assert len(served(sandbox, path)) == 1


def test_malformed_json_then_recovery(sandbox: Sandbox) -> None:
    sandbox.set_faults("/v2/account", malformed=0.5, seed=2)
    with client(sandbox) as c:
        for _ in range(5):
            assert "account" in c.management.get("/account")
    rows = served(sandbox, "/account")
    assert (rows["fault"] == "malformed").sum() >= 1 and (rows["fault"] == "none").sum() == 5


def test_connection_reset_is_retried_for_get_not_post(sandbox: Sandbox) -> None:
    sandbox.set_faults("/v2/account", reset=1.0)
    path = _alerts_path(sandbox)
    sandbox.set_faults("/v2" + path, reset=1.0)
    with client(sandbox) as c:
        with pytest.raises(vt.APIConnectionError):
            c.management.get("/account")
        with pytest.raises(vt.APIConnectionError):
            c.management.post(path, {"period": "day"})
    assert len(served(sandbox, "/account")) == FAST.attempts
    assert len(served(sandbox, path)) == 1
    sandbox.set_faults("/v2/account", reset=0.5, seed=5)
    with client(sandbox) as c:
        for _ in range(4):
            assert "account" in c.management.get("/account")


def test_connect_error_is_retried_even_for_post() -> None:
    """Nothing listens: the request never reached a server, so even a POST is retried."""
    with Sandbox(seed=0) as sb:
        settings = sb.settings()
    policy = RetryPolicy(attempts=3, multiplier_s=0.01, budget_min_retries_per_s=10)
    with vt.Client(settings, retry=policy) as c, pytest.raises(vt.APIConnectionError, match="could not connect"):
        c.management.post("/databases/x/alerts", {"period": "day"})
    assert c.stats()["by_api"]["management"]["requests"] == 3


def test_budget_caps_amplification_in_a_503_storm(sandbox: Sandbox) -> None:
    """100 % 503 for 150 calls with the default budget: the server sees ≤ 0.2 × calls + the 10/s floor over the
    window, not 4×."""
    sandbox.set_faults("/v2/account", p503=1.0)
    policy = RetryPolicy(multiplier_s=0.001, max_backoff_s=0.01)  # default budget parameters
    calls = 150
    t0 = time.monotonic()
    with client(sandbox, policy, rate_limit=25) as c:
        for _ in range(calls):
            with pytest.raises(vt.ServerError):
                c.management.get("/account")
        stats = c.stats()
    elapsed = time.monotonic() - t0
    served_n = len(served(sandbox, "/account"))
    assert served_n - calls <= 0.2 * calls + policy.budget_min_retries_per_s * (elapsed + policy.budget_ttl_s) + 1
    assert served_n < 4 * calls
    assert served_n == stats["requests"] and stats["retries_denied"] > 0
    assert stats["by_api"]["management"]["limiter"]["limiter_grants"] == served_n  # retries re-acquire a slot


def test_each_retry_is_logged_at_debug(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    sandbox.set_faults("/v2/account", p503=1.0)
    caplog.set_level(logging.DEBUG, logger="vultr_toolkit.http")
    with client(sandbox) as c, pytest.raises(vt.ServerError):
        c.management.get("/account")
    retries = [r for r in caplog.records if r.name == "vultr_toolkit.http" and "retrying GET /account" in r.message]
    assert len(retries) == FAST.attempts - 1
    assert "http_5xx" in retries[0].message and "attempt 1 failed" in retries[0].message


def test_async_client_follows_the_same_rules(sandbox: Sandbox) -> None:
    sandbox.set_faults("/v2/account", p503=1.0)
    path = _alerts_path(sandbox)
    sandbox.set_faults("/v2" + path, p502=1.0)

    async def main() -> dict:
        async with vt.AsyncClient(sandbox.settings(), retry=FAST) as c:
            with pytest.raises(vt.ServerError):
                await c.management.get("/account")
            with pytest.raises(vt.ServerError):
                await c.management.post(path, {"period": "day"})
            sandbox.clear_faults()
            assert "account" in await c.management.get("/account")
            return c.stats()

    stats = asyncio.run(main())
    assert len(served(sandbox, "/account")) == FAST.attempts + 1
    assert len(served(sandbox, path)) == 1
    assert stats["retries"] == FAST.attempts - 1


def test_async_core_survives_a_second_event_loop(sandbox: Sandbox) -> None:
    """The async client is bound to a loop; a second asyncio.run (a new loop) gets a fresh connection pool."""
    c = vt.AsyncClient(sandbox.settings(), retry=FAST)

    async def one() -> str:
        return str((await c.management.get("/account"))["account"]["email"])

    assert asyncio.run(one()) == asyncio.run(one())
    asyncio.run(c.aclose())


def test_response_reports_its_attempts(sandbox: Sandbox) -> None:
    sandbox.set_faults("/v2/account", p503=0.4, seed=1)

    async def async_attempts(settings: vt.Settings) -> list[int]:
        async with vt.AsyncClient(settings, retry=FAST) as ac:
            return [(await ac.http_core().request("GET", "/account")).attempts for _ in range(6)]

    with client(sandbox) as c:
        attempts = [c.http_core().request("GET", "/account").attempts for _ in range(6)]
    attempts += asyncio.run(async_attempts(sandbox.settings()))
    assert sum(attempts) == len(served(sandbox, "/account")) and max(attempts) > 1
