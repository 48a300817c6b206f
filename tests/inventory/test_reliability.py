"""Snapshots under server faults: retried to the same result, paced under the configured rate, and failures that
outlast the retry budget isolated in .errors (or raised with strict=True)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.inventory import InventorySnapshot, InventoryWarning
from vultr_toolkit.sandbox import Sandbox

from .conftest import without_lineage

RATE = 10.0  # requests/s configured on the client; the server allows 30


@pytest.fixture(scope="module")
def faulty() -> Iterator[Sandbox]:
    with Sandbox(seed=7, fleet={"instances": 1200, "blocks": 600, "snapshots": 501}) as sb:
        yield sb


def _assert_same(a: InventorySnapshot, b: InventorySnapshot) -> None:
    assert list(a.frames) == list(b.frames)
    for name in a.frames:
        pd.testing.assert_frame_equal(without_lineage(a[name]), without_lineage(b[name]), obj=name)


def _max_per_window(t_mono: pd.Series, window_s: float = 1.0) -> int:
    t = np.sort(t_mono.to_numpy(dtype=float))
    ends = np.searchsorted(t, t + window_s, side="left")
    return int((ends - np.arange(len(t))).max()) if len(t) else 0


def test_fifteen_percent_mixed_faults_give_the_fault_free_snapshot(faulty: Sandbox) -> None:
    with vt.Client(faulty.settings(rate_limit=RATE, rate_burst=5)) as client:
        clean = client.inventory.snapshot(progress=False, strict=True)
        faulty.clear_requests_log()
        faulty.set_faults("/v2/*", p429=0.03, p500=0.02, p502=0.02, p503=0.02, p504=0.02, reset=0.02,
                          truncated=0.01, malformed=0.01, retry_after_s=1, seed=11)
        try:
            noisy = client.inventory.snapshot(progress=False)
        finally:
            faulty.clear_faults()
        log = faulty.requests_log()
    assert noisy.ok, noisy.errors.to_dict("records")
    _assert_same(clean, noisy)
    faults = log["fault"].astype(str)
    assert (faults != "none").sum() >= 2, "the fault mix must actually have hit some requests"
    assert log["path"].nunique() == 16
    # paced by the shared limiter: no 1-second window (server clock) holds more than the configured rate
    assert _max_per_window(log["t_mono"]) <= RATE


def test_faults_outlasting_the_retry_budget_land_in_errors(faulty: Sandbox) -> None:
    with vt.Client(faulty.settings()) as client:
        clean = client.inventory.snapshot(progress=False)
        faulty.set_faults("/v2/blocks*", p503=1.0, retry_after_s=None, seed=3)
        try:
            snap = client.inventory.snapshot(progress=False)
            with pytest.raises(vt.ServerError) as info:
                client.inventory.snapshot(["regions", "block_storage"], progress=False, strict=True)
        finally:
            faulty.clear_faults()
    assert snap.errors["resource"].astype(str).tolist() == ["block_storage"]
    err = snap.errors.iloc[0]
    assert err["error_kind"] == "http_5xx" and err["status"] == 503 and "/blocks" in err["message"]
    assert "block_storage" not in snap.frames
    _assert_same(InventorySnapshot({k: v for k, v in clean.frames.items() if k != "block_storage"}), snap)
    assert info.value.status == 503
    assert "block_storage" in snap._repr_html_() and "failed" in snap._repr_html_()


def test_async_snapshot_isolates_failures_too(faulty: Sandbox) -> None:
    async def main() -> tuple[InventorySnapshot, BaseException | None]:
        async with vt.AsyncClient(faulty.settings()) as aclient:
            snap = await aclient.inventory.snapshot(["regions", "block_storage", "account"], progress=False)
            try:
                await aclient.inventory.snapshot(["regions", "block_storage"], progress=False, strict=True)
            except vt.ServerError as e:
                return snap, e
            return snap, None

    faulty.set_faults("/v2/blocks*", p503=1.0, retry_after_s=None, seed=4)
    try:
        snap, raised = asyncio.run(main())
    finally:
        faulty.clear_faults()
    assert list(snap.frames) == ["regions", "account"] and len(snap["regions"]) > 0
    assert snap.errors["resource"].astype(str).tolist() == ["block_storage"]
    assert isinstance(raised, vt.ServerError) and raised.status == 503


def test_a_missing_price_catalogue_degrades_costs_only(faulty: Sandbox) -> None:
    with vt.Client(faulty.settings()) as client:
        faulty.set_faults("/v2/plans", p503=1.0, retry_after_s=None, seed=5)
        try:
            with pytest.warns(InventoryWarning, match="GET /plans unavailable"):
                snap = client.inventory.snapshot(["instances", "plans"], progress=False)
        finally:
            faulty.clear_faults()
    assert snap.errors["resource"].astype(str).tolist() == ["plans"]
    inst = snap["instances"]
    assert len(inst) == 1200 and inst["monthly_cost_usd"].isna().all() and inst["region"].notna().all()
