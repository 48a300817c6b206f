"""Field report item 14: Finagle-style retry budget with a per-second floor, over real loopback HTTP."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import RetryPolicy
from vultr_toolkit.sandbox import Sandbox

# Default budget parameters (ratio 0.2, floor 10/s, ttl 10 s); only the backoff is shortened so the test is quick.
POLICY = RetryPolicy(multiplier_s=0.02, max_backoff_s=0.1)


def served(sb: Sandbox, path: str) -> pd.DataFrame:
    log = sb.requests_log()
    return log[log["path"] == "/v2" + path].reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_forty_sequential_gets_ride_through_thirty_percent_faults(sandbox: Sandbox, seed: int) -> None:
    """The reporter's case: 40 sequential GETs at 30 % 503/429/reset/HTML-504 all succeed (8 failed with the
    old 3-token floor refilled at one per 6 s)."""
    sandbox.set_faults("/v2/account", retry_after_s=0.01, seed=seed, p503=0.08, p429=0.08, reset=0.07, p504=0.07)
    with vt.Client(sandbox.settings(), retry=POLICY) as c:
        for _ in range(40):
            assert "account" in c.management.get("/account")
        stats = c.stats()
    assert stats["retries"] > 0 and stats["retries_denied"] == 0
    assert len(served(sandbox, "/account")) == stats["requests"]


def test_amplification_under_total_failure_is_bounded_by_ratio_plus_floor(sandbox: Sandbox) -> None:
    """100 % 503 for 100 calls: retries (counted at the server) stay within 0.2 × calls + 10/s × (elapsed +
    ttl), far from the 4× that unbudgeted retries would cost, and the budget really denies retries."""
    sandbox.set_faults("/v2/account", p503=1.0)
    calls = 100
    t0 = time.monotonic()
    with vt.Client(sandbox.settings(rate_limit=25), retry=RetryPolicy(multiplier_s=0.0005, max_backoff_s=0.001)) as c:
        for _ in range(calls):
            with pytest.raises(vt.ServerError):
                c.management.get("/account")
        stats = c.stats()
    elapsed = time.monotonic() - t0
    served_n = len(served(sandbox, "/account"))
    retries = served_n - calls
    assert served_n == stats["requests"] and stats["retries_denied"] > 0
    assert retries <= 0.2 * calls + 10 * (elapsed + 10) + 1
    assert served_n < 4 * calls * 0.75
