"""A canary key never leaks: not in str()/repr() of settings, clients, cores, limiters or errors, not in DEBUG
logs (caplog and a plain root handler, httpx2/httpcore2 at DEBUG), not in formatted tracebacks."""

from __future__ import annotations

import asyncio
import io
import logging
import traceback
from collections.abc import Callable, Iterator

import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import HTTPCore, RetryPolicy
from vultr_toolkit._ratelimit import shared_limiter
from vultr_toolkit.sandbox import Sandbox

CANARY = "sk-CANARY-http-7f3a9c2e41"
WRONG = "sk-CANARY-wrong-55d0e1b7aa"
INFER = "sk-CANARY-infer-0b8e66d1f2"
POLICY = RetryPolicy(attempts=2, multiplier_s=0.01, budget_min_retries_per_s=50)


@pytest.fixture
def root_debug_log() -> Iterator[io.StringIO]:
    """A handler added to the root logger *after* the toolkit was imported (so it never got the redacting
    filter from install_log_redaction), with httpx2 and httpcore2 chatty at DEBUG."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    levels = {}
    for name in ("httpx2", "httpcore2", "httpx", "httpcore", "vultr_toolkit", "tenacity"):
        lg = logging.getLogger(name)
        levels[name] = lg.level
        lg.setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def no_canary(text: str, where: str) -> None:
    for secret in (CANARY, WRONG, INFER, "CANARY"):
        assert secret not in text, f"{secret} leaked in {where}"


def test_canary_never_leaks(make_sandbox: Callable[..., Sandbox], root_debug_log: io.StringIO,
                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sb = make_sandbox(api_key=CANARY)
    settings = sb.settings(inference_api_key=INFER)
    errors: list[BaseException] = []
    objects: list[object] = [settings]

    with vt.Client(settings, retry=POLICY) as client:
        objects += [client, client.management, client.http_core("management"), client.http_core("inference")]
        objects.append(client.http_core("management")._client_kw["auth"])
        objects.append(shared_limiter(settings.api_url, CANARY, rate=settings.rate_limit))
        assert client.management.get("/account")["account"]
        assert client.management.paginate("/instances", "instances", per_page=50)
        sb.set_faults("/v2/account", p503=1.0)
        sb.set_faults("/v2/blocks", truncated=1.0, truncated_mode="close")
        sb.set_faults("/v2/regions", reset=1.0)
        for path in ("/account", "/blocks", "/regions", "/instances/nope"):
            try:
                client.management.get(path)
            except vt.APIError as e:
                errors.append(e)
        objects.append(client.stats())

    sb.clear_faults()
    with vt.Client(settings, retry=POLICY, api_key=WRONG) as bad:
        objects.append(bad)
        with pytest.raises(vt.AuthenticationError) as ei:
            bad.management.get("/account")
        errors.append(ei.value)

    with Sandbox(seed=1) as gone:  # a port nobody listens on any more
        dead_url = gone.api_url
    with HTTPCore(dead_url, api_key=CANARY, policy=POLICY) as dead:
        objects.append(dead)
        with pytest.raises(vt.APIConnectionError) as ce:
            dead.request_json("GET", "/account")
        errors.append(ce.value)

    sb.set_faults("/v2/account", p503=1.0)

    async def async_part() -> None:
        async with vt.AsyncClient(settings, retry=POLICY) as ac:
            objects.append(ac)
            try:
                await ac.management.get("/account")  # still 503
            except vt.ServerError as e:
                errors.append(e)

    asyncio.run(async_part())

    assert {type(e).__name__ for e in errors} >= {"ServerError", "APIResponseError", "APIConnectionError",
                                                  "NotFoundError", "AuthenticationError"}
    for obj in objects:
        no_canary(str(obj), f"str({type(obj).__name__})")
        no_canary(repr(obj), f"repr({type(obj).__name__})")
    for err in errors:
        no_canary(str(err), f"str({type(err).__name__})")
        no_canary(repr(err), f"repr({type(err).__name__})")
        no_canary("".join(traceback.format_exception(err)), f"traceback of {type(err).__name__}")
        no_canary(str(vars(err)), f"attributes of {type(err).__name__}")
    log_text = root_debug_log.getvalue()
    assert "retrying GET /account" in log_text and "httpcore2" in log_text  # the capture really saw DEBUG
    no_canary(log_text, "root DEBUG handler")
    no_canary(caplog.text, "caplog")
    no_canary("\n".join(str(r.args) for r in caplog.records), "log record args")
