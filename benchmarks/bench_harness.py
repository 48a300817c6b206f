"""How accurate is the benchmark harness's own clock? (issue 5, performance section)

The inference emulator runs in its OWN process (``python -m vultr_toolkit.sandbox.inference``), pinned to one
core; the client runs in this process, pinned to the other. The emulator stamps every SSE frame with
``time.monotonic_ns()`` right before writing it; the clients stamp arrivals on the same CLOCK_MONOTONIC.
**Timing error = client arrival stamp − server send stamp**, matched per (completion id, frame index).

Measured side by side in one run:

* ``toolkit`` — ``vt.bench.run`` (aiohttp on uvloop, one stamp per network read, parsing after the level);
* ``vllm_style`` — a minimal aiohttp streaming client of the kind ``vllm bench serve`` uses: one
  ``ClientSession``, ``TCPConnector(limit=0)``, ``iter_any()`` with its own buffer, ``json.loads`` per message
  and a timestamp taken after parsing, on the default asyncio loop.

Part 1: 1, 64 and 256 concurrent streams, 20 ms per token, 128 tokens, streams in phase (the worst case: every
stream's token k is due at the same instant). Part 2: the highest chunk rate each client sustains with its
schedule lag (p99 timing error) under 10 ms, sweeping the number of 20 ms streams.

Writes ``benchmarks/results/bench_harness.json`` and ``.md``. Takes ~2–3 minutes. Not part of the test suite.

    .venv/bin/python benchmarks/bench_harness.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pandas as pd

import vultr_toolkit as vt

RESULTS = Path(__file__).parent / "results"
MODEL = "harness"
TOKENS = 128
ITL_S = 0.020
TTFT_S = 0.050
EMULATOR_OPTIONS = {
    "time_scale": 1.0,
    "log_limit": 20_000_000,
    "models": {MODEL: {"ttft_s": TTFT_S, "ttft_cv": 0.0, "itl_s": ITL_S, "itl_cv": 0.0, "batch_slowdown": 0.0,
                       "tokens_per_chunk": 1}},
}


# --- the emulator in its own process -------------------------------------------------------------------------
@contextlib.contextmanager
def emulator(core: int | None) -> Iterator[tuple[str, str]]:
    cmd = [sys.executable, "-m", "vultr_toolkit.sandbox.inference", "--port", "0", "--options",
           json.dumps(EMULATOR_OPTIONS)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"emulator did not start: {line}")
        if core is not None:
            os.sched_setaffinity(proc.pid, {core})
        yield line[1], line[2]
    finally:
        proc.terminate()
        proc.wait(10)


def server_log(url: str, key: str) -> pd.DataFrame:
    """The emulator's send stamps since the last call (and clear them)."""
    async def get() -> dict[str, list[int]]:
        async with aiohttp.ClientSession() as s, s.get(f"{url}/emulator/chunks", params={"clear": "1"},
                                                      headers={"Authorization": f"Bearer {key}"}) as r:
            data: dict[str, list[int]] = await r.json()
            return data

    log = asyncio.run(get())
    df = pd.DataFrame(log)
    df["response_id"] = "chatcmpl-emu-" + df["request"].astype(str)
    return df


# --- the vLLM-style baseline client --------------------------------------------------------------------------
async def _vllm_request(session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, Any],
                        out: list[tuple[str, int, int]]) -> None:
    # As vllm/benchmarks/lib/endpoint_request_func.py: iter_any + own buffer, parse each message, then stamp.
    index = 0
    rid = ""
    async with session.post(url, json=body, headers=headers) as resp:
        buf = ""
        async for chunk_bytes in resp.content.iter_any():
            buf += chunk_bytes.decode("utf-8")
            while "\n\n" in buf:
                message, buf = buf.split("\n\n", 1)
                message = message.strip()
                if not message.startswith("data: "):
                    continue
                payload = message[len("data: "):]
                if payload != "[DONE]":
                    data = json.loads(payload)
                    rid = rid or data.get("id", "")
                out.append((rid, index, time.monotonic_ns()))
                index += 1


async def _vllm_level(url: str, key: str, streams: int, rounds: int, tokens: int) -> tuple[list[tuple[str, int, int]],
                                                                                          float]:
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    out: list[tuple[str, int, int]] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=6 * 3600)) as s:
        async def user() -> None:
            for _ in range(rounds):
                await _vllm_request(s, f"{url}/chat/completions", headers, body, out)

        cpu0 = time.process_time()
        await asyncio.gather(*(user() for _ in range(streams)))
        cpu = time.process_time() - cpu0
    return out, cpu


def run_vllm_style(url: str, key: str, streams: int, rounds: int, tokens: int) -> tuple[pd.DataFrame, float]:
    t0 = time.monotonic()
    out, cpu = asyncio.run(_vllm_level(url, key, streams, rounds, tokens))  # default asyncio loop, as vLLM
    wall = time.monotonic() - t0
    df = pd.DataFrame(out, columns=["response_id", "index", "received_ns"])
    return df, 100.0 * cpu / wall


def run_toolkit(url: str, key: str, streams: int, rounds: int, tokens: int, workers: int = 1
                ) -> tuple[pd.DataFrame, float]:
    settings = vt.Settings(inference_url=url, inference_api_key=key)
    res = vt.bench.run(settings, model=MODEL, concurrency=streams, requests=streams * rounds, max_tokens=tokens,
                       workers=workers, progress=False, stall_timeout_s=60)
    ids = res.requests.set_index("request_id")["response_id"]
    ch = res.chunks[["request_id", "index", "received_ns"]].copy()
    ch["response_id"] = ch["request_id"].map(ids)
    errors = int((res.requests["status"] == "error").sum())
    if errors:
        print(f"  warning: {errors} toolkit requests failed", file=sys.stderr)
    return ch[["response_id", "index", "received_ns"]], float(res.levels["client_cpu_pct"].iloc[0])


def timing_error(client: pd.DataFrame, server: pd.DataFrame, tokens: int) -> dict[str, float]:
    m = client.merge(server[["response_id", "index", "sent_ns", "due_ns", "tokens"]],
                     on=["response_id", "index"], how="inner")
    err_ms = (m["received_ns"].astype("int64") - m["sent_ns"]) / 1e6
    mid = m["index"].between(10, tokens - 10)
    late_ms = (server["sent_ns"] - server["due_ns"]) / 1e6
    return {
        "frames_matched": len(m), "frames_client": len(client), "frames_server": len(server),
        "err_p50_ms": float(np.percentile(err_ms, 50)), "err_p99_ms": float(np.percentile(err_ms, 99)),
        "err_max_ms": float(err_ms.max()),
        "err_mid_p50_ms": float(np.percentile(err_ms[mid], 50)) if mid.any() else float("nan"),
        "err_mid_p99_ms": float(np.percentile(err_ms[mid], 99)) if mid.any() else float("nan"),
        "server_lateness_p99_ms": float(np.percentile(late_ms, 99)),
        # What actually flowed: frames the emulator sent per second of the level's send window. Past ~25k/s the
        # single-core emulator falls behind its schedule (server late), so the nominal rate overstates it.
        "delivered_chunks_per_s": float(len(server) / max(1e-9, (server["sent_ns"].max()
                                                                  - server["sent_ns"].min()) / 1e9)),
    }


def measure(kind: str, url: str, key: str, streams: int, rounds: int, tokens: int, workers: int = 1
            ) -> dict[str, Any]:
    server_log(url, key)  # clear
    t0 = time.monotonic()
    if kind == "toolkit":
        client, cpu = run_toolkit(url, key, streams, rounds, tokens, workers)
    else:
        client, cpu = run_vllm_style(url, key, streams, rounds, tokens)
    wall = time.monotonic() - t0
    stats = timing_error(client, server_log(url, key), tokens)
    rate = streams / ITL_S
    row = {"client": kind if workers == 1 else f"{kind} (workers={workers})", "streams": streams,
           "chunk_rate_per_s": rate, "client_cpu_pct": cpu, "wall_s": wall, **stats}
    print(f"  {row['client']:<22} streams={streams:>4} ({rate:>6.0f} chunks/s)  error p50 {stats['err_p50_ms']:.3f}"
          f" p99 {stats['err_p99_ms']:.3f} ms  (mid-stream p99 {stats['err_mid_p99_ms']:.3f})  "
          f"server late p99 {stats['server_lateness_p99_ms']:.3f} ms  cpu {cpu:.0f}%", flush=True)
    return row


def median_rows(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (client, streams): the median of every numeric field over the repetitions."""
    df = pd.DataFrame(raw)
    num = [c for c in df.columns if c not in ("client", "streams", "repeat") and pd.api.types.is_numeric_dtype(df[c])]
    med = df.groupby(["client", "streams"], sort=False)[num].median().reset_index()
    med["repeats"] = df.groupby(["client", "streams"], sort=False).size().to_numpy()
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in med.to_dict("records")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds and levels (smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of part 1 (median reported)")
    parser.add_argument("--nice", type=int, default=0,
                        help="scheduling priority for emulator and client (e.g. -10 as root on a shared machine)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin emulator and client to separate cores (better on a shared, busy machine)")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 and not args.no_pin else (None, None)
    if client_core is not None:
        os.sched_setaffinity(0, {client_core})  # threads created from now on inherit it
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # the emulator subprocess inherits it
    rounds = 1 if args.quick else 2
    rows: list[dict[str, Any]] = []
    sweep: list[dict[str, Any]] = []
    started = time.time()
    load_before = os.getloadavg()
    with emulator(server_core) as (url, key):
        print(f"emulator at {url} (core {server_core}); client on core {client_core}")
        print("part 1: timing error at 20 ms/token, 128 tokens")
        # The machine is shared and noisy: repeat, alternating the clients, and report the median repetition.
        raw_rows: list[dict[str, Any]] = []
        for rep in range(1 if args.quick else args.repeat):
            for streams in (1, 64, 256):
                for kind in ("toolkit", "vllm_style"):
                    raw_rows.append({**measure(kind, url, key, streams, rounds, TOKENS), "repeat": rep})
            # the same 256 streams spread over two worker processes
            raw_rows.append({**measure("toolkit", url, key, 256, rounds, TOKENS, workers=2), "repeat": rep})
        rows = median_rows(raw_rows)
        print("part 2: highest chunk rate with p99 timing error < 10 ms (64 tokens per stream)")
        levels = (128, 256, 512) if args.quick else (128, 256, 384, 512, 768)
        for kind in ("toolkit", "vllm_style"):
            for streams in levels:
                r = measure(kind, url, key, streams, 1, 64)
                sweep.append(r)
                if r["err_p99_ms"] >= 10.0:
                    break
    best = {}
    for kind in ("toolkit", "vllm_style"):
        ok = [r["delivered_chunks_per_s"] for r in sweep if r["client"] == kind and r["err_p99_ms"] < 10.0]
        best[kind] = max(ok) if ok else None
    out = {
        "what": "harness timing error = client arrival - server send (CLOCK_MONOTONIC), emulator in its own process",
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"itl_ms": ITL_S * 1e3, "ttft_ms": TTFT_S * 1e3, "tokens": TOKENS, "rounds": rounds,
                     "nice": args.nice,
                     "streams_in_phase": True, "server_core": server_core, "client_core": client_core},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "runtime_s": round(time.time() - started, 1),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "timing_error": rows,
        "timing_error_repeats": raw_rows,
        "chunk_rate_sweep": sweep,
        "max_chunk_rate_under_10ms": best,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_harness.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "bench_harness.md").write_text(markdown(out))
    print(markdown(out))


def markdown(out: dict[str, Any]) -> str:
    st = out["settings"]
    placement = ("processes not pinned (shared machine)" if st["server_core"] is None
                 else f"emulator pinned to core {st['server_core']}, client to core {st['client_core']}")
    if st.get("nice"):
        placement += f", both at nice {st['nice']}"
    p99 = {(r["client"], r["streams"]): r["err_p99_ms"] for r in out["timing_error"]}
    targets = []
    for streams, limit in ((64, 1.0), (256, 5.0)):
        got = p99.get(("toolkit", streams))
        base = p99.get(("vllm_style", streams), float("nan"))
        if got is not None:
            targets.append(f"{streams} streams: p99 {got:.2f} ms vs target ≤ {limit:g} ms "
                           f"({'met' if got <= limit else 'NOT met'}; vLLM-style client {base:.2f} ms)")
    lines = [
        "# Harness timing error (benchmarks/bench_harness.py)",
        "",
        f"Run {out['started_at']}, {out['runtime_s']} s, {out['host']['cpus']} CPUs, Python "
        f"{out['host']['python']}. Emulator in its own process; {placement}; {out['settings']['itl_ms']:.0f} ms/token, "
        f"{out['settings']['tokens']} tokens, streams in phase. Error = client arrival − server send stamp "
        "(same CLOCK_MONOTONIC), over every SSE frame; *mid* = frames 10…118 only. Each row is the median of "
        f"{out['timing_error'][0].get('repeats', 1)} repetitions (clients alternating); load average before/after "
        f"{out['load_average_before_after']}"
        + (" — the 2-core machine was shared with other jobs, so *server late* shows how much of the tail is "
           "machine contention rather than the client." if max(out["load_average_before_after"]) >= 1.0
           else " (a quiet machine). *Server late* = the emulator's own send stamp minus the frame's due time."),
        "",
        "| client | streams | chunks/s | error p50 (ms) | error p99 (ms) | mid p99 (ms) | max (ms) "
        "| server late p99 (ms) | client CPU % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["timing_error"]:
        lines.append(f"| {r['client']} | {r['streams']} | {r['chunk_rate_per_s']:.0f} | {r['err_p50_ms']:.3f} | "
                     f"{r['err_p99_ms']:.3f} | {r['err_mid_p99_ms']:.3f} | {r['err_max_ms']:.1f} | "
                     f"{r['server_lateness_p99_ms']:.3f} | {r['client_cpu_pct']:.0f} |")
    lines += ["", "Targets (issue 5): " + "; ".join(targets) + ".", ""]
    lines += ["", "Chunk-rate sweep (64 tokens per stream, 20 ms/token; stops at the first p99 ≥ 10 ms). *Nominal* is "
              "streams × 50/s; *delivered* is what the emulator actually sent per second (it falls behind its "
              "schedule on its one core at high levels, see *server late*):", "",
              "| client | streams | nominal chunks/s | delivered chunks/s | error p50 (ms) | error p99 (ms) "
              "| server late p99 (ms) | client CPU % |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in out["chunk_rate_sweep"]:
        lines.append(f"| {r['client']} | {r['streams']} | {r['chunk_rate_per_s']:.0f} | "
                     f"{r.get('delivered_chunks_per_s', float('nan')):.0f} | {r['err_p50_ms']:.3f} | "
                     f"{r['err_p99_ms']:.3f} | {r['server_lateness_p99_ms']:.3f} | {r['client_cpu_pct']:.0f} |")
    lines += ["", "Highest delivered chunk rate with p99 timing error < 10 ms: "
              + ", ".join(f"{k}: {v:.0f}/s" if v else f"{k}: none" for k, v in out["max_chunk_rate_under_10ms"].items())
              + " (for the toolkit, bounded above by the sweep's largest level and by the single-core emulator, "
              "not by the client).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
