"""Inventory benchmark against the sandbox (issue 3, Performance).

Setup: a sandbox in its own process (like a remote API) with 10,000 instances and 2,000 of every other paged
resource (plus 2,000 databases and their node pools), 20 ms added latency per ``/v2`` request, the client's
default shared limiter (20 requests/s). The machine's load average is recorded: on a shared 2-core box, other
processes inflate every round trip and the ratios with them.

Measures, side by side in one run (ratios are the claims, not absolute timings):

1. **Full snapshot** (``client.inventory.snapshot()``, median of 3 runs): the page requests it makes (from the
   server's request log) against the minimum at ``per_page=500``, and its wall time against the lower bound set
   by the rate limit and the latency: ``max((N - 1) / rate, longest page chain × latency) + latency`` for N
   requests (the limiter never grants more than ``rate`` in any 1-second window, and a cursor chain cannot be
   parallelised). Target ≤ 1.5×.
2. **The official clients' pattern**: one sequential ``per_page=100`` loop over the same routes, same client and
   limiter, same run. Printed as snapshot time / sequential time.
3. **Frame building** from the already-fetched JSON: ``instances_frame`` for the 10,000 instances (median of 7;
   target < 0.5 s), and all frames of the snapshot.

Run: ``.venv/bin/python benchmarks/inventory.py [--instances 10000] [--others 2000] [--latency-ms 20]``
Writes ``benchmarks/results/inventory.json`` and ``benchmarks/results/inventory.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import vultr_toolkit as vt  # noqa: E402
from vultr_toolkit.inventory import frames as F  # noqa: E402
from vultr_toolkit.inventory.frames import ENDPOINTS  # noqa: E402
from vultr_toolkit.sandbox import Sandbox  # noqa: E402
from vultr_toolkit.sandbox.fleet import build_fleet  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def _serve(conn: Any, sizes: dict[str, int], latency_ms: float) -> None:
    """Child process: run the sandbox and answer "clear" / "log" / "stop" over the pipe."""
    with Sandbox(seed=0, fleet=sizes, latency_ms=latency_ms) as sb:
        conn.send(sb.connection_info())
        while True:
            cmd = conn.recv()
            if cmd == "clear":
                sb.clear_requests_log()
                sb.reset_rate_limit()
                conn.send(None)
            elif cmd == "log":
                conn.send(sb.requests_log())
            else:
                break


class RemoteSandbox:
    """The sandbox in its own process, like the real API on another machine: its request stamps are not delayed
    by the client's pandas work holding this process's GIL (which would bunch arrivals in the server log)."""

    def __init__(self, sizes: dict[str, int], latency_ms: float) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, sizes, latency_ms), daemon=True)
        self._proc.start()
        self.info: dict[str, Any] = self._conn.recv()

    def settings(self) -> vt.Settings:
        return vt.Settings(api_url=self.info["api_url"], api_key=self.info["api_key"])

    def clear(self) -> None:
        self._conn.send("clear")
        self._conn.recv()

    def requests_log(self) -> Any:
        self._conn.send("log")
        return self._conn.recv()

    def close(self) -> None:
        self._conn.send("stop")
        self._proc.join(timeout=10)

# Routes a full snapshot reads (ENDPOINTS keys), and which are cursor-paged in the API (the rest answer at once).
SNAPSHOT_ROUTES = ("account", "instances", "bare_metal", "kubernetes_clusters", "load_balancers", "block_storage",
                   "databases", "database_plans", "snapshots", "object_storage", "regions", "plans", "plans_metal",
                   "billing_invoices", "pending_charges", "inference_subscriptions")
SIZED = {"instances": "instances", "bare_metal": "bare_metals", "kubernetes_clusters": "kubernetes_clusters",
         "load_balancers": "load_balancers", "block_storage": "blocks", "snapshots": "snapshots",
         "object_storage": "object_storages", "billing_invoices": "billing_invoices",
         "pending_charges": "pending_charges", "inference_subscriptions": "inference_subscriptions",
         "databases": "databases"}


def fleet_sizes(instances: int, others: int) -> dict[str, int]:
    sizes = {kind: others for kind in SIZED.values()}
    sizes["instances"] = instances
    return sizes


# Routes the API answers in one response (research/vultr-api.md §2, §5.2, §5.13): no cursor to follow.
UNPAGED = {"account", "databases", "database_plans", "pending_charges", "inference_subscriptions"}


def minimum_requests(sizes: dict[str, int], per_page: int) -> int:
    """Fewest requests that read every route: ceil(n / per_page) for cursor-paged routes, 1 for the others."""
    total = 0
    for route in SNAPSHOT_ROUTES:
        kind = SIZED.get(route)
        n = sizes[kind] if kind else 0  # catalogues (plans, regions) fit one page
        total += 1 if route in UNPAGED else max(1, math.ceil(n / per_page))
    return total


def bench_snapshot(sb: RemoteSandbox, client: vt.Client, sizes: dict[str, int], latency_s: float,
                   repeats: int = 3) -> tuple[dict[str, Any], Any]:
    """``repeats`` full snapshots (the median wall time is reported: the machine is shared and noisy)."""
    walls, windows = [], []
    for _ in range(repeats):
        time.sleep(1.1)  # let the limiter's 1-s window empty so every run starts alike
        sb.clear()
        t0 = time.perf_counter()
        snap = client.inventory.snapshot(progress=False, strict=True)
        walls.append(time.perf_counter() - t0)
        log = sb.requests_log()
        windows.append(max_per_window(log["t_mono"].tolist()))
    wall = statistics.median(walls)
    per_path = {str(k): int(v) for k, v in log.groupby("path").size().items()}
    n = len(log)
    rate = client.settings.rate_limit
    chain = max(per_path.values())
    bound = max((n - 1) / rate, chain * latency_s) + latency_s
    return {
        "wall_s": round(wall, 3),
        "wall_s_runs": [round(w, 3) for w in walls],
        "requests": n,
        "minimum_requests": minimum_requests(sizes, 500),
        "requests_by_path": per_path,
        "rate_limit_rps": rate,
        "lower_bound_s": round(bound, 3),
        "ratio_to_lower_bound": round(wall / bound, 3),
        "rows": {k: len(v) for k, v in snap.frames.items()},
        "errors": len(snap.errors),
        "max_requests_in_any_1s_window": max(windows),
    }, snap


def max_per_window(ts: list[float], window: float = 1.0) -> int:
    ts = sorted(ts)
    best, j = 0, 0
    for i, t in enumerate(ts):
        while ts[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def bench_sequential(sb: RemoteSandbox, client: vt.Client) -> dict[str, Any]:
    """The govultr/vultr-cli pattern: one route after another, per_page=100, following the cursor."""
    time.sleep(1.1)
    sb.clear()
    m = client.management
    t0 = time.perf_counter()
    items = 0
    for route in SNAPSHOT_ROUTES:
        ep = ENDPOINTS[route]
        if route == "account":
            m.get(ep.path)
            items += 1
        else:
            items += len(m.paginate(ep.path, ep.key, per_page=100))
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 3), "requests": len(sb.requests_log()), "items": items}


def bench_frames(sizes: dict[str, int], repeats: int = 7) -> dict[str, Any]:
    fleet = build_fleet(0, sizes).resources  # the same JSON the server sent (the fleet is deterministic)
    lin = F.Lineage.now("http://127.0.0.1/v2")
    instances, plans = fleet["instances"], fleet["plans"]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        df = F.instances_frame(instances, plans=plans, lineage=lin)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    F.bare_metal_frame(fleet["bare_metals"], plans_metal=fleet["plans_metal"], lineage=lin)
    F.kubernetes_clusters_frame(fleet["kubernetes_clusters"], plans=plans, lineage=lin)
    F.kubernetes_node_pools_frame(fleet["kubernetes_clusters"], plans=plans, lineage=lin)
    F.load_balancers_frame(fleet["load_balancers"], lineage=lin)
    F.block_storage_frame(fleet["blocks"], lineage=lin)
    F.databases_frame(fleet["databases"], database_plans=fleet["database_plans"], lineage=lin)
    F.snapshots_frame(fleet["snapshots"], lineage=lin)
    F.object_storage_frame(fleet["object_storages"], lineage=lin)
    F.billing_invoices_frame(fleet["billing_invoices"], lineage=lin)
    F.pending_charges_frame(fleet["pending_charges"], lineage=lin)
    F.inference_subscriptions_frame(fleet["inference_subscriptions"], lineage=lin)
    others = time.perf_counter() - t0
    return {"instances": len(df), "instances_frame_median_s": round(statistics.median(times), 4),
            "instances_frame_min_s": round(min(times), 4), "other_frames_s": round(others, 4)}


def markdown(results: dict[str, Any]) -> str:
    s, q, f = results["snapshot"], results["sequential_per_page_100"], results["frames"]
    lines = [
        "# Inventory benchmark",
        "",
        f"{results['started_at']} · Python {results['python']} · {results['cpus']} CPUs · sandbox with "
        f"{results['sizes']['instances']:,} instances and {results['others']:,} of every other paged resource · "
        f"{results['latency_ms']} ms added latency · client limit {s['rate_limit_rps']:g} req/s · load average "
        f"{results['load_avg_1m'][0]:.1f} → {results['load_avg_1m'][1]:.1f} (2 cores)",
        "",
        "| measure | value | target |",
        "|---|---:|---|",
        f"| full snapshot: page requests / minimum at per_page=500 | {s['requests']} / {s['minimum_requests']} "
        "| equal |",
        f"| full snapshot wall time (median of {len(s['wall_s_runs'])}) | {s['wall_s']:.2f} s | |",
        f"| lower bound (rate limit + latency) | {s['lower_bound_s']:.2f} s | |",
        f"| **snapshot / lower bound** | **{s['ratio_to_lower_bound']:.2f}×** | ≤ 1.5× |",
        f"| sequential per_page=100 loop (official clients) | {q['wall_s']:.2f} s, {q['requests']} requests | |",
        f"| **snapshot / sequential loop** | **{results['ratio_to_sequential']:.2f}×** "
        f"({1 / results['ratio_to_sequential']:.1f}× faster) | |",
        f"| max requests in any 1-s window (server log) | {s['max_requests_in_any_1s_window']} | "
        f"≤ {s['rate_limit_rps']:g} |",
        f"| build instances frame, {f['instances']:,} rows (median of 7) | {f['instances_frame_median_s']:.3f} s "
        "| < 0.5 s |",
        f"| build every other frame from the fetched JSON | {f['other_frames_s']:.3f} s | |",
        "",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inventory.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "inventory.md").write_text(markdown(results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--no-write", action="store_true", help="print only; don't update benchmarks/results")
    args = parser.parse_args()
    sizes = fleet_sizes(args.instances, args.others)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    sb = RemoteSandbox(sizes, args.latency_ms)
    try:
        with vt.Client(sb.settings()) as client:
            snapshot, snap = bench_snapshot(sb, client, sizes, args.latency_ms / 1000)
            sequential = bench_sequential(sb, client)
    finally:
        sb.close()
    frames = bench_frames(sizes)
    results = {
        "started_at": started, "python": platform.python_version(), "cpus": os.cpu_count(),
        "sizes": sizes, "others": args.others, "latency_ms": args.latency_ms,
        "snapshot": snapshot, "sequential_per_page_100": sequential,
        "ratio_to_sequential": round(snapshot["wall_s"] / sequential["wall_s"], 3),
        "frames": frames,
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(results, indent=2))
    print(markdown(results))
    if not args.no_write:
        write(results)
    ok = (snapshot["requests"] == snapshot["minimum_requests"] and snapshot["ratio_to_lower_bound"] <= 1.5
          and frames["instances_frame_median_s"] < 0.5 and snapshot["errors"] == 0
          and len(snap["instances"]) == args.instances)
    print("OK" if ok else "TARGET MISSED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
