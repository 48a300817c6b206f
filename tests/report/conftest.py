"""One sandbox run (inventory snapshot, a short health history, a small benchmark) shared by the report tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.bench import BenchmarkResult
from vultr_toolkit.inventory import InventorySnapshot

CANARY_KEY = "sk-CANARY-report-mgmt-7f3a91"
CANARY_PG_PASSWORD = "sk-CANARY-report-pgpw-55e2"


@dataclass
class RunData:
    sandbox: vt.Sandbox
    settings: vt.Settings
    snapshot: InventorySnapshot
    history: pd.DataFrame
    bench: BenchmarkResult
    secrets: set[str]


@pytest.fixture(scope="package")
def run_data() -> Iterator[RunData]:
    with vt.Sandbox(seed=0, api_key=CANARY_KEY, rate_limit=None, inference={"time_scale": 0.05}) as sb:
        settings = sb.settings()
        with vt.Client(settings) as client:
            snap = client.inventory.snapshot(progress=False)
            hist = vt.HealthMonitor(settings).run(interval_s=0.1, count=3, progress=False)
            res = vt.bench.run(client, model="qwen3.8-27b", concurrency=[1, 2], requests=4, max_tokens=8,
                               progress=False)
        # A settings object whose PostgreSQL URL holds a canary password: only its masked form may be shown.
        shown = sb.settings(postgres_url=f"postgresql://app:{CANARY_PG_PASSWORD}@127.0.0.1:1/app")
        yield RunData(sb, shown, snap, hist, res,
                      {CANARY_KEY, CANARY_PG_PASSWORD, sb.inference_api_key, *sb.secret_values()})
