"""Server-side rate limit (per client IP, rolling second) and the request log's shape and hygiene."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pandas as pd

from vultr_toolkit.sandbox import Sandbox
from vultr_toolkit.sandbox.ratelimit import RollingWindowLimiter
from vultr_toolkit.sandbox.reqlog import COLUMNS

CANARY = "sk-CANARY-sandbox-7f3a9c1e55"


def test_rolling_window_unit() -> None:
    lim = RollingWindowLimiter(3)
    assert [lim.admit("a", t) for t in (0.0, 0.1, 0.2)] == [None, None, None]
    assert lim.admit("a", 0.5) == 1  # fourth within a second
    assert lim.admit("b", 0.5) is None  # per client
    assert lim.admit("a", 1.01) is None  # the first left the window
    lim.reset()
    assert lim.admit("a", 1.02) is None


def _admitted_in_window(log: pd.DataFrame, window_s: float = 1.0) -> list[int]:
    """For each request, how many admitted requests arrived in the second before it."""
    ok = log.loc[log["fault"] != "rate_limited", "t_mono"].to_numpy()
    return [int(((ok > t - window_s) & (ok < t)).sum()) for t in log["t_mono"]]


def test_429_with_retry_after_above_the_rate(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(rate_limit=5)
    with httpx2.Client(base_url=sb.api_url, headers={"Authorization": f"Bearer {sb.api_key}"}) as c:
        responses = [c.get("/account") for _ in range(30)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, "30 back-to-back requests must exceed 5 per second"
    assert all(r.json() == {"status": 429, "error": "rate limit exceeded"} for r in limited)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)

    log = sb.requests_log()
    assert set(log.loc[log["status"] == 429, "fault"]) == {"rate_limited"}
    before = _admitted_in_window(log)
    for (_, row), n in zip(log.iterrows(), before, strict=True):
        if row["fault"] == "rate_limited":
            assert n >= 5  # refused only when the window was full
        else:
            assert n < 5  # never more than 5 admitted in any rolling second


def test_default_limit_is_30_per_second_and_none_disables(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    assert sb.limiter is not None and sb.limiter.rate == 30
    off = make_sandbox(rate_limit=None)
    with httpx2.Client(base_url=off.api_url, headers={"Authorization": f"Bearer {off.api_key}"}) as c:
        assert all(c.get("/account").status_code == 200 for _ in range(45))


def test_request_log_columns_dtypes_for_zero_and_n_rows(sandbox: Sandbox) -> None:
    empty = sandbox.requests_log()
    assert list(empty.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in empty.dtypes.items()} == COLUMNS
    httpx2.get(sandbox.api_url + "/regions", params={"per_page": 3})
    httpx2.get(sandbox.inference_url + "/models")
    log = sandbox.requests_log()
    assert {c: str(t) for c, t in log.dtypes.items()} == COLUMNS
    assert log["path"].tolist() == ["/v2/regions", "/v1/models"]
    assert log["query"].tolist() == ["per_page=3", ""]
    assert log["method"].tolist() == ["GET", "GET"]
    assert log["client"].tolist() == ["127.0.0.1", "127.0.0.1"]
    assert (log["at"] <= pd.Timestamp.now(tz="UTC")).all()
    assert log["t_mono"].is_monotonic_increasing
    sandbox.clear_requests_log()
    assert len(sandbox.requests_log()) == 0


def test_request_log_never_holds_the_key(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(api_key=CANARY)
    headers = {"Authorization": f"Bearer {CANARY}"}
    httpx2.get(sb.api_url + "/account", headers=headers)
    httpx2.get(sb.api_url + "/instances", params={"api_key": CANARY}, headers=headers)
    httpx2.get(sb.api_url + "/account", headers={"Authorization": "Bearer sk-CANARY-wrong-key-0000"})
    log = sb.requests_log()
    assert log["status"].tolist() == [200, 200, 401]
    dumped = log.to_csv() + log.to_json(date_format="iso") + repr(log)
    assert "CANARY" not in dumped
    assert CANARY not in repr(sb)
