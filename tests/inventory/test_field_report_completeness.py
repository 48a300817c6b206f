"""Field report items 1, 2, 7 and 20: a snapshot never passes a partial or empty inventory off as complete.

Reproduced over real HTTP against the sandbox's pathological pagers (cursors that repeat, overlap, skip or never
end) and a wrong key; each of these returned ``snap.ok == True`` (or a silent $0 inventory) before the fix.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import vultr_toolkit as vt
from vultr_toolkit.inventory.api import InventoryWarning
from vultr_toolkit.sandbox import Sandbox

WRONG_KEY = "Q3VXK7M2PZ8R4T6Y1W9N5B0C2D4F6H8J1L3A"  # shaped like a real 36-character key


@pytest.mark.parametrize("bug", ["repeat_cursor", "skip"])
def test_a_short_list_is_an_error_in_the_snapshot_not_a_partial_frame(make_sandbox: object, bug: str) -> None:
    sb = make_sandbox(seed=0, rate_limit=None)  # type: ignore[operator]
    sb.set_pagination_bug(bug)
    with vt.Client(sb.settings(rate_limit=1000, rate_burst=100)) as c, pytest.warns(InventoryWarning):
        c.inventory.per_page = 7  # several pages per resource, so a bad cursor matters
        snap = c.inventory.snapshot(["account", "instances"], progress=False)
    assert not snap.ok and "instances" not in snap.frames
    row = snap.errors.iloc[0]
    assert (row["resource"], row["error_kind"]) == ("instances", "incomplete")
    assert f"of {len(sb.fleet['instances'])} items (meta.total)" in row["message"]


def test_overlapping_cursors_give_each_instance_once_and_the_true_cost(make_sandbox: object) -> None:
    sb = make_sandbox(seed=0, rate_limit=None)  # type: ignore[operator]
    with vt.Client(sb.settings(rate_limit=1000, rate_burst=100)) as c:
        c.inventory.per_page = 7
        truth = c.inventory.snapshot(["instances", "plans"], progress=False)
        sb.set_pagination_bug("overlap")
        with pytest.warns(vt.PaginationWarning, match="repeated"):
            snap = c.inventory.snapshot(["instances", "plans"], progress=False)
    assert snap.ok
    assert sorted(snap["instances"]["id"]) == sorted(truth["instances"]["id"])
    assert snap["instances"]["id"].is_unique
    assert snap.total_monthly_cost_usd == pytest.approx(truth.total_monthly_cost_usd)


def test_single_resource_method_raises_on_a_short_list(make_sandbox: object) -> None:
    sb = make_sandbox(seed=0, rate_limit=None)  # type: ignore[operator]
    sb.set_pagination_bug("repeat_cursor")
    with vt.Client(sb.settings()) as c:
        c.inventory.per_page = 7
        with pytest.raises(vt.IncompleteListError) as ei:
            c.inventory.instances()
    assert ei.value.total == len(sb.fleet["instances"]) and ei.value.received == 14


def test_wrong_key_raises_authentication_error_instead_of_a_zero_dollar_snapshot(sandbox: Sandbox) -> None:
    with vt.Client(sandbox.settings(api_key=WRONG_KEY)) as c, pytest.raises(vt.AuthenticationError) as ei:
        c.inventory.snapshot(progress=False)
    notes = " ".join(getattr(ei.value, "__notes__", []))
    assert "none of the 13 account resource(s) could be fetched" in notes and "instances: http_401" in notes
    assert WRONG_KEY not in str(ei.value) + notes


def test_async_wrong_key_raises_too(sandbox: Sandbox) -> None:
    import asyncio

    async def main() -> None:
        async with vt.AsyncClient(sandbox.settings(api_key=WRONG_KEY)) as c:
            await c.inventory.snapshot(progress=False)

    with pytest.raises(vt.AuthenticationError):
        asyncio.run(main())


def test_all_resources_failing_for_another_reason_raises_that_failure(sandbox: Sandbox) -> None:
    sandbox.set_faults("/v2/*", p500=1.0)
    with vt.Client(sandbox.settings(), retry=vt.RetryPolicy(attempts=1)) as c, pytest.raises(vt.ServerError):
        c.inventory.snapshot(["account", "instances", "regions"], progress=False)


def test_partial_failure_warns_and_public_catalogues_alone_do_not_raise(sandbox: Sandbox) -> None:
    sandbox.set_faults("/v2/instances*", p500=1.0)
    with vt.Client(sandbox.settings(), retry=vt.RetryPolicy(attempts=1)) as c:
        with pytest.warns(InventoryWarning, match=r"1 of 2 resource\(s\) failed \(instances\)"):
            snap = c.inventory.snapshot(["account", "instances"], progress=False)
        assert not snap.ok and "account" in snap.frames
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pub = vt.Client(api_url=sandbox.api_url, api_key=None).inventory.snapshot(["regions"], progress=False)
    assert pub.ok and len(pub["regions"]) > 0


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vultr_toolkit.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _env(**kw: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VULTR")}
    env.update(kw)
    return env


def test_report_exits_1_when_a_section_could_not_be_produced(sandbox: Sandbox, tmp_path: Path) -> None:
    env = _env(VULTR_API_URL=sandbox.api_url, VULTR_API_KEY=WRONG_KEY,
               VULTR_POSTGRES_URL="postgresql://u@127.0.0.1:1/db")  # a closed loopback port: PostgreSQL down
    out = tmp_path / "r.html"
    proc = _cli(["report", "--out", str(out), "--health-checks", "3", "--interval", "0.1"], tmp_path, env)
    assert proc.returncode == 1, proc.stderr
    assert "inventory: could not be produced" in proc.stderr
    assert re.search(r"down at the last check: [a-z, ]*postgres", proc.stderr)
    assert out.exists()  # what could be gathered is still written
    assert WRONG_KEY not in proc.stdout + proc.stderr


def test_report_with_an_unknown_extension_is_a_usage_error(tmp_path: Path) -> None:
    proc = _cli(["report", "--sandbox", "--out", str(tmp_path / "x.pdf")], tmp_path, _env())
    assert proc.returncode == 2 and "unknown report format '.pdf'" in proc.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_sandbox_flag_says_that_emulator_timings_are_scaled(tmp_path: Path) -> None:
    proc = _cli(["bench", "--sandbox", "--concurrency", "1", "--requests", "2", "--max-tokens", "4"], tmp_path,
                _env())
    assert proc.returncode == 0, proc.stderr
    assert "4x faster than real time" in proc.stderr
