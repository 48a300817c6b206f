"""Soak test: background health monitoring + repeated inventory snapshots + benchmarks, against a faulty sandbox.

Everything runs on loopback against :class:`vultr_toolkit.Sandbox` with 20 % of requests failing (429/5xx/resets on
``/v2``, 429/5xx on ``/v1``), bounded in time (``--duration``) and in count (``--max-cycles``). It reports:

* **RSS growth** — resident memory of the soak process (the sandbox runs in a child process, so its logs do not
  count) at the end, everything still alive, vs. a baseline taken after a warm-up (imports, first snapshots and
  benchmarks, caches filled), as a fraction of the baseline;
* **lost samples** — health samples the monitor produced but the store does not hold (plus writer drops),
  snapshots saved but not listed, benchmark requests planned but missing from ``result.requests``;
* **unhandled exceptions** — ``threading.excepthook``, ``sys.excepthook``, event-loop exception-handler calls
  (counted from the ``asyncio`` logger, which both asyncio and uvloop's default handlers use), sandbox route
  crashes (500s from the emulator's own bugs), and untyped exceptions escaping a toolkit call;
* **rate-limit windows exceeded** — from the sandbox's request log: rolling 1-s windows on ``/v2`` holding more
  arrivals than the sandbox's limit (30/s, Vultr's), and requests the sandbox refused for rate (``rate_limited``).

Targets: RSS growth < 10 %, 0 lost, 0 unhandled, 0 windows over the limit. Writes ``<out>/<name>.json`` and
``<out>/<name>.md``; exits 1 when a count target is missed (RSS growth is reported, and only fails with
``--strict-rss``, because a short run on a noisy machine measures allocator warm-up more than leaks).

Example::

    .venv/bin/python scripts/soak.py --duration 600            # the committed 10-minute run
    .venv/bin/python scripts/soak.py --duration 60 --out-dir /tmp/soak
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import psutil  # type: ignore[import-untyped]  # no stubs installed; only memory_info() is used

REPO = Path(__file__).resolve().parents[1]
SANDBOX_RATE_LIMIT = 30.0  # the sandbox's (and Vultr's) requests/s per IP on /v2
MODEL = "qwen3.8-27b"


class _Counters:
    """Every way an exception can escape unnoticed, counted (and the first few kept for the report)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []
        self._lock = threading.Lock()

    def add(self, kind: str, text: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            if len(self.examples) < 10:
                self.examples.append(f"{kind}: {text[:300]}")


class _CountingHandler(logging.Handler):
    def __init__(self, counters: _Counters, kind: str) -> None:
        super().__init__(logging.ERROR)
        self.counters, self.kind = counters, kind

    def emit(self, record: logging.LogRecord) -> None:
        self.counters.add(self.kind, f"{record.name}: {record.getMessage()}")


def _install_hooks(counters: _Counters) -> None:
    previous_thread_hook = threading.excepthook
    previous_sys_hook = sys.excepthook

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        counters.add("thread", f"{args.exc_type.__name__} in {getattr(args.thread, 'name', '?')}: {args.exc_value}")
        previous_thread_hook(args)

    def sys_hook(tp: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        counters.add("sys", f"{tp.__name__}: {value}")
        previous_sys_hook(tp, value, tb)

    threading.excepthook = thread_hook
    sys.excepthook = sys_hook
    # The default loop exception handler (asyncio's and uvloop's) reports through the "asyncio" logger at ERROR.
    logging.getLogger("asyncio").addHandler(_CountingHandler(counters, "event_loop"))


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _windows_over(t_mono: np.ndarray, limit: float) -> tuple[int, int]:
    """(rolling 1-s windows starting at an arrival holding more than ``limit`` arrivals, the busiest count)."""
    if len(t_mono) == 0:
        return 0, 0
    t = np.sort(t_mono)
    ends = np.searchsorted(t, t + 1.0, side="left")
    counts = ends - np.arange(len(t))
    return int((counts > limit).sum()), int(counts.max())


def _sandbox_child(conn: Any, seed: int, fault_rate: float) -> None:
    """The sandbox in its own process, so the soak's RSS is the toolkit's alone (the emulator keeps logs)."""
    from vultr_toolkit.sandbox import Sandbox

    counters = _Counters()
    logging.getLogger("vultr_toolkit.sandbox").addHandler(_CountingHandler(counters, "sandbox_route"))
    per = fault_rate / 4  # split over 429, 500/502/503 (and resets on /v2)
    sb = Sandbox(seed=seed, rate_limit=SANDBOX_RATE_LIMIT, inference={"time_scale": 0.1, "log_chunks": False})
    sb.start()
    sb.set_faults("/v2/*", p429=per, p500=per / 2, p502=per / 2, p503=per, reset=per, retry_after_s=1, seed=seed)
    sb.set_faults("/v1/*", p429=per, p500=per, p502=per, p503=per, retry_after_s=1, seed=seed + 1)
    conn.send({"api_url": sb.api_url, "api_key": sb.api_key, "inference_url": sb.inference_url,
               "inference_api_key": sb.inference_api_key})
    conn.recv()  # the soak is over
    log = sb.requests_log()
    sb.stop()
    v2 = log[log["path"].astype(str).str.startswith("/v2")]
    conn.send({"total": len(log), "v2": len(v2), "v2_t_mono": v2["t_mono"].astype(float).tolist(),
               "faults": {str(k): int(v) for k, v in log["fault"].value_counts().items() if v},
               "route_errors": dict(counters.counts), "examples": counters.examples})
    conn.close()


def run_soak(duration_s: float, *, max_cycles: int = 10_000, fault_rate: float = 0.2, interval_s: float = 1.0,
             bench_requests: int = 12, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Run the soak and return the report dict (also what ``main`` writes as JSON)."""
    import vultr_toolkit as vt
    from vultr_toolkit._errors import VultrToolkitError

    counters = _Counters()
    _install_hooks(counters)
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    deadline = t0 + duration_s
    work = Path(tempfile.mkdtemp(prefix="vtk-soak-"))
    store_url = f"sqlite:///{work / 'soak.sqlite'}"

    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe()
    child = ctx.Process(target=_sandbox_child, args=(child_conn, seed, fault_rate), name="soak-sandbox", daemon=True)
    child.start()
    if not parent_conn.poll(120):
        child.kill()
        raise RuntimeError("the sandbox process did not start within 120 s")
    settings = vt.Settings(_env_file=None, **parent_conn.recv())

    rss: list[tuple[float, int]] = [(0.0, _rss())]
    stop_sampler = threading.Event()

    def sampler() -> None:
        while not stop_sampler.wait(2.0):
            rss.append((time.monotonic() - t0, _rss()))

    threading.Thread(target=sampler, name="soak-rss", daemon=True).start()

    store = vt.store.HistoryStore(store_url)
    client = vt.Client(settings)
    monitor = vt.HealthMonitor(settings, store=store, flush_interval_s=2.0, monitor_id="soak")
    monitor.run(interval_s=interval_s, background=True)

    snapshots: list[str] = []
    snapshot_errors = 0
    error_kinds: Counter[str] = Counter()
    bench_planned = bench_rows = bench_failed_rows = bench_runs = 0
    raised: Counter[str] = Counter()
    baseline: tuple[float, int] | None = None
    cycles = 0
    warmup_until = t0 + max(5.0, 0.1 * duration_s)
    try:
        while time.monotonic() < deadline and cycles < max_cycles:
            cycles += 1
            try:
                snap = client.inventory.snapshot(progress=False)
                snapshot_errors += len(snap.errors)
                for resource, kind in zip(snap.errors["resource"].astype(str), snap.errors["error_kind"].astype(str),
                                          strict=True):
                    error_kinds[f"{resource}:{kind}"] += 1
                snapshots.append(snap.save(store))
            except VultrToolkitError as e:
                raised[f"snapshot:{type(e).__name__}"] += 1
            except Exception as e:  # untyped: counted as unhandled
                counters.add("untyped", f"snapshot: {type(e).__name__}: {e}")
            if time.monotonic() >= deadline:
                break
            try:
                res = vt.bench.run(client, model=MODEL, concurrency=[3], requests=bench_requests, max_tokens=12,
                                   progress=False, stall_timeout_s=10.0, timeout_s=30.0, seed=cycles)
                bench_runs += 1
                bench_planned += bench_requests
                rows = res.requests[res.requests["phase"] == "measure"]
                bench_rows += len(rows)
                bench_failed_rows += int((rows["status"] == "error").sum())
                res.save(store)
            except VultrToolkitError as e:
                raised[f"bench:{type(e).__name__}"] += 1
            except Exception as e:
                counters.add("untyped", f"bench: {type(e).__name__}: {e}")
            if baseline is None and time.monotonic() >= warmup_until:
                gc.collect()
                baseline = (time.monotonic() - t0, _rss())
            if progress:
                print(f"[{time.monotonic() - t0:6.0f}s] cycle {cycles}: {len(snapshots)} snapshots, "
                      f"{bench_runs} benchmarks, rss {_rss() / 2**20:.0f} MiB", file=sys.stderr, flush=True)
    finally:
        # Steady-state memory, measured while everything is still alive: what a long-running kernel holds.
        gc.collect()
        final = (time.monotonic() - t0, _rss())
        stop_sampler.set()
        monitor.stop()
        mon_stats = monitor.close()
        client.close()
        parent_conn.send("stop")
        served = parent_conn.recv() if parent_conn.poll(60) else {}
        child.join(30)

    # ---- lost samples ---------------------------------------------------------------------------------------
    history = store.health_history(monitor_ids=["soak"])
    stored_samples = len(history)
    produced = int(mon_stats.get("written", 0)) + int(mon_stats.get("dropped", 0)) + int(mon_stats.get("unflushed", 0))
    listed = set(store.inventory_snapshots()["snapshot_id"].astype(str)) if snapshots else set()
    lost = {
        "health_samples": max(0, produced - stored_samples) + int(mon_stats.get("dropped", 0))
        + int(mon_stats.get("unflushed", 0)),
        "snapshots": sum(1 for s in snapshots if s not in listed),
        "benchmark_requests": max(0, bench_planned - bench_rows),
    }
    store.close()

    # ---- rate limit ------------------------------------------------------------------------------------------
    over, busiest = _windows_over(np.asarray(served.get("v2_t_mono", []), dtype=float), SANDBOX_RATE_LIMIT)
    faults = served.get("faults", {})
    for kind, n in served.get("route_errors", {}).items():
        counters.counts[kind] += n
    counters.examples.extend(served.get("examples", []))
    if not served:
        counters.add("sandbox_process", "the sandbox process did not report its request log")

    base = baseline or rss[min(len(rss) - 1, 1)]
    growth = (final[1] - base[1]) / base[1]
    unhandled = dict(counters.counts)
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(final[0], 1),
        "cycles": cycles,
        "fault_rate": fault_rate,
        "requests": {"total": served.get("total", 0), "v2": served.get("v2", 0),
                     "v1": served.get("total", 0) - served.get("v2", 0), "by_fault": faults},
        "health": {"ticks": int(mon_stats.get("ticks", 0)), "produced": produced, "stored": stored_samples,
                   "flush_failures": int(mon_stats.get("flush_failures", 0))},
        "snapshots": {"saved": len(snapshots), "resource_errors": snapshot_errors,
                      "resource_errors_by_kind": dict(error_kinds.most_common())},
        "benchmark": {"runs": bench_runs, "planned_requests": bench_planned, "rows": bench_rows,
                      "failed_rows": bench_failed_rows},
        "raised_typed": dict(raised),
        "rss": {"start_mib": round(rss[0][1] / 2**20, 1), "baseline_mib": round(base[1] / 2**20, 1),
                "baseline_at_s": round(base[0], 1), "final_mib": round(final[1] / 2**20, 1),
                "peak_mib": round(max(r for _, r in rss) / 2**20, 1), "growth": round(growth, 4),
                "series_mib": [[round(t, 1), round(r / 2**20, 1)] for t, r in rss[:: max(1, len(rss) // 60)]]},
        "lost": lost,
        "lost_total": sum(lost.values()),
        "unhandled": unhandled,
        "unhandled_total": sum(unhandled.values()),
        "unhandled_examples": counters.examples,
        "rate_limit": {"limit_per_s": SANDBOX_RATE_LIMIT, "windows_over_limit": over, "busiest_window": busiest,
                       "rate_limited_by_sandbox": int(faults.get("rate_limited", 0))},
        "targets": {"rss_growth_lt": 0.10, "lost": 0, "unhandled": 0, "windows_over_limit": 0},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "vultr_toolkit": vt.__version__},
    }
    report["met"] = {
        "rss_growth": growth < 0.10,
        "lost": report["lost_total"] == 0,
        "unhandled": report["unhandled_total"] == 0,
        "windows_over_limit": over == 0 and report["rate_limit"]["rate_limited_by_sandbox"] == 0,
    }
    return report


def markdown(r: dict[str, Any]) -> str:
    """The short Markdown table committed next to the JSON."""
    ok = {True: "yes", False: "**NO**"}
    rows = [
        ("RSS growth (final vs. baseline after warm-up)",
         f"{r['rss']['growth']:+.1%} ({r['rss']['baseline_mib']} → {r['rss']['final_mib']} MiB, peak "
         f"{r['rss']['peak_mib']})", "< 10 %", ok[r["met"]["rss_growth"]]),
        ("lost samples (health / snapshots / bench requests)",
         f"{r['lost_total']} ({r['lost']['health_samples']} / {r['lost']['snapshots']} / "
         f"{r['lost']['benchmark_requests']})", "0", ok[r["met"]["lost"]]),
        ("unhandled exceptions", f"{r['unhandled_total']} {r['unhandled'] or ''}".strip(), "0",
         ok[r["met"]["unhandled"]]),
        ("1-s windows over the /v2 limit (busiest window)",
         f"{r['rate_limit']['windows_over_limit']} ({r['rate_limit']['busiest_window']}/"
         f"{r['rate_limit']['limit_per_s']:.0f}); refused for rate: {r['rate_limit']['rate_limited_by_sandbox']}",
         "0", ok[r["met"]["windows_over_limit"]]),
    ]
    lines = [
        f"# Soak ({r['duration_s']:.0f} s, {r['fault_rate']:.0%} faults, started {r['started_at']})",
        "",
        f"{r['cycles']} cycles: {r['snapshots']['saved']} inventory snapshots saved "
        f"({r['snapshots']['resource_errors']} resource errors after retries), {r['benchmark']['runs']} benchmarks "
        f"({r['benchmark']['rows']} request rows, {r['benchmark']['failed_rows']} failed under faults), "
        f"{r['health']['ticks']} health ticks ({r['health']['stored']} samples stored). "
        f"{r['requests']['total']} HTTP requests; faults served: {r['requests']['by_fault']}. "
        f"Typed errors raised: {r['raised_typed'] or 'none'}.",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"Machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, vultr_toolkit "
        f"{r['machine']['vultr_toolkit']}. Generated by `scripts/soak.py`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600.0, help="seconds to run (default 600)")
    p.add_argument("--max-cycles", type=int, default=10_000, help="stop after this many snapshot+bench cycles")
    p.add_argument("--fault-rate", type=float, default=0.2, help="fraction of requests failing (default 0.2)")
    p.add_argument("--interval", type=float, default=1.0, help="health monitor interval in seconds")
    p.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--name", default="soak", help="output file stem (default soak)")
    p.add_argument("--strict-rss", action="store_true", help="also fail when RSS growth >= 10 %%")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if not 0 < args.duration <= 3600 or not 0 <= args.fault_rate <= 0.8:
        p.error("--duration must be in (0, 3600] and --fault-rate in [0, 0.8]")
    report = run_soak(args.duration, max_cycles=args.max_cycles, fault_rate=args.fault_rate,
                      interval_s=args.interval, progress=not args.quiet)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    (args.out_dir / f"{args.name}.md").write_text(md)
    print(md)
    met = report["met"]
    ok = met["lost"] and met["unhandled"] and met["windows_over_limit"] and (met["rss_growth"] or not args.strict_rss)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
