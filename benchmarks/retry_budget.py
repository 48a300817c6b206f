"""Retry-budget benchmark (field report item 14): the old 3-token floor vs Finagle's per-second floor.

Setup: a loopback :class:`vultr_toolkit.Sandbox` per scenario (seeded faults: 503/429/reset/HTML 504 in equal
parts, Retry-After 0.05 s), the default retry policy with a short backoff so a run stays under a minute. The
*old* budget is the pre-fix one (0.2 token per call, a 3-token reserve refilled at one per 6 s, capped at 10),
re-created here; the *new* one is :class:`vultr_toolkit._http.RetryBudget` with its defaults (ratio 0.2,
10 retries/s floor, 10-s window).

Measures, side by side in one run:

1. **Sequential GETs**: 40 ``GET /account`` one after another at 20 % and 30 % faults: fraction that succeed.
2. **Snapshot**: ``client.inventory.snapshot()`` of a small fleet at 20 % and 30 % faults on ``/v2/*``: fraction
   of resources without an error.
3. **Amplification**: 100 calls at 100 % 503: requests the server saw (its request log) per call.

Run: ``.venv/bin/python benchmarks/retry_budget.py`` — writes ``benchmarks/results/retry_budget.json`` and
``benchmarks/results/retry_budget.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vultr_toolkit as vt
from vultr_toolkit._http import RetryBudget, RetryPolicy
from vultr_toolkit.sandbox import Sandbox

OUT = Path(__file__).resolve().parent / "results"
FLEET = {"instances": 300, "bare_metals": 50}


class OldBudget:
    """The pre-fix budget, kept only to measure against: 3-token reserve refilled at 1/6 s, cap 10."""

    def __init__(self, ratio: float = 0.2, reserve: float = 3.0, max_tokens: float = 10.0,
                 refill_per_s: float = 10 / 60) -> None:
        self.ratio, self.reserve, self.max_tokens, self.refill_per_s = ratio, reserve, max_tokens, refill_per_s
        self._tokens, self._stamp, self._lock = reserve, time.monotonic(), threading.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        if self._tokens < self.reserve:
            self._tokens = min(self.reserve, self._tokens + (now - self._stamp) * self.refill_per_s)
        self._stamp = now

    def deposit(self) -> None:
        with self._lock:
            self._refill()
            self._tokens = min(self.max_tokens, self._tokens + self.ratio)

    def try_spend(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens


@dataclass(frozen=True)
class OldPolicy(RetryPolicy):
    """RetryPolicy whose cores get the pre-fix budget."""

    def new_budget(self) -> RetryBudget:
        return OldBudget()  # type: ignore[return-value]  # duck-typed: deposit/try_spend/tokens


def policies() -> dict[str, RetryPolicy]:
    fast = {"multiplier_s": 0.02, "max_backoff_s": 0.2}
    return {"old": OldPolicy(**fast), "new": RetryPolicy(**fast)}  # type: ignore[arg-type]


def mix(rate: float) -> dict[str, float]:
    return {"p503": rate / 4, "p429": rate / 4, "reset": rate / 4, "p504": rate / 4}


def sequential(policy: RetryPolicy, rate: float, seed: int) -> float:
    with Sandbox(seed=seed) as sb:
        sb.set_faults("/v2/account", retry_after_s=0.05, seed=seed, **mix(rate))  # type: ignore[arg-type]
        ok = 0
        with vt.Client(sb.settings(), retry=policy) as c:
            for _ in range(40):
                try:
                    c.management.get("/account")
                    ok += 1
                except vt.APIError:
                    pass
    return ok / 40


def snapshot(policy: RetryPolicy, rate: float, seed: int) -> float:
    with Sandbox(seed=seed, fleet=FLEET) as sb:
        sb.set_faults("/v2/*", retry_after_s=0.05, seed=seed, **mix(rate))  # type: ignore[arg-type]
        with vt.Client(sb.settings(), retry=policy) as c, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            snap = c.inventory.snapshot(progress=False)
    failed = set(snap.errors["resource"].astype(str)) if len(snap.errors) else set()
    total = set(snap.frames) | failed
    return 1 - len(failed) / len(total)


def amplification(policy: RetryPolicy, calls: int = 100) -> float:
    fast = RetryPolicy(multiplier_s=0.0005, max_backoff_s=0.001)
    pol = OldPolicy(multiplier_s=0.0005, max_backoff_s=0.001) if isinstance(policy, OldPolicy) else fast
    with Sandbox(seed=0) as sb:
        sb.set_faults("/v2/account", p503=1.0)
        with vt.Client(sb.settings(rate_limit=25), retry=pol) as c:
            for _ in range(calls):
                with contextlib.suppress(vt.APIError):
                    c.management.get("/account")
        log = sb.requests_log()
    return float((log["path"] == "/v2/account").sum()) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for name, pol in policies().items():
        row: dict[str, Any] = {"budget": name}
        for rate in (0.2, 0.3):
            seeds = range(1, args.seeds + 1)
            row[f"sequential_{int(rate * 100)}"] = round(sum(sequential(pol, rate, s) for s in seeds) / args.seeds, 4)
            row[f"snapshot_{int(rate * 100)}"] = round(sum(snapshot(pol, rate, s) for s in seeds) / args.seeds, 4)
        row["amplification_100"] = round(amplification(pol), 3)
        rows.append(row)
        print(row, flush=True)
    results = {"started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
               "load_avg": os.getloadavg(), "seeds": args.seeds, "fleet": FLEET, "rows": rows}
    if not args.no_write:
        OUT.mkdir(exist_ok=True)
        (OUT / "retry_budget.json").write_text(json.dumps(results, indent=2) + "\n")
        cols = list(rows[0])
        md = ["# Retry budget: old floor vs per-second floor", "",
              f"Run {results['started_at']}, {results['seeds']} seeds, fleet {FLEET}, load {results['load_avg']}.",
              "Columns: fraction of sequential GETs / snapshot resources that completed at 20 % and 30 % mixed",
              "faults; requests per call at 100 % 503.", "",
              "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
        (OUT / "retry_budget.md").write_text("\n".join(md) + "\n")
    new = rows[-1]
    ok = new["sequential_30"] == 1.0 and new["snapshot_30"] == 1.0 and new["amplification_100"] < 3.0
    print("targets met" if ok else "TARGETS MISSED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
