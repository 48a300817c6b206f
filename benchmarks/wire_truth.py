"""Wire truth for the benchmark clients: reported TTFT/ITL checked against packets on the loopback (issue 18, item 1).

The inference emulator (exact timing: TTFT 50 ms, ITL 20 ms, no jitter, ``batch_slowdown`` 0, one token per
chunk) runs in its own process pinned to core 0; each client cell runs in a fresh process pinned to core 1 (so
its CPU time and peak RSS are its own). During every cell ``tcpdump -i lo -j host --time-stamp-precision=nano``
captures the emulator's port only; ``_pcap_streams.wire_requests`` rebuilds per request the POST time (first
segment of the request), the role-only frame and every content frame (retransmissions and chunked encoding
handled). Per client and concurrency it reports

* **TTFT error** = the client's reported p50/p99 − the same percentile of its own run's packets
  (first content frame − POST), and the **ITL p99 error** likewise (gaps between content frames);
* the emulator's **intake** on the wire (role-only frame − POST: its accept queue + handler start);
* for the toolkit and the vLLM-style client, paired per request by completion id: **stamp → POST** (how long
  after the client's TTFT start stamp the request actually reached the wire) and **connect → POST**;
* client CPU µs per content chunk, peak RSS, token counts reported vs on the wire; load average per cell.

Clients, interleaved within every repetition (order reversed on odd ones): ``toolkit`` (``vt.bench.run``),
``vllm_style`` (``benchmarks/_vllm_style_client.py``) and ``inference_perf`` (PyPI, in its own Python 3.12 venv
under ``.bench-venvs/``, created on first run; see ``INFERENCE_PERF_NOTE``). Needs root for tcpdump (installed
with apt-get when missing). Writes ``benchmarks/results/wire_truth.json``
and ``.md``. Full run ~6 minutes; ``--quick`` is a ~1-minute smoke run (1 repetition, 1/16/64 streams)::

    sudo .venv/bin/python benchmarks/wire_truth.py            # or: --quick, --levels 1 16 64 256 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _pcap_streams import WireRequest, wire_requests
from bench_harness import MODEL, emulator

RESULTS = Path(__file__).parent / "results"
CLIENTS = ("toolkit", "vllm_style", "inference_perf")
ROUNDS_AT_1 = 6  # one user: enough back-to-back requests for a p99 that is not just the max
ROOT = Path(__file__).resolve().parent.parent
IP_VENV = ROOT / ".bench-venvs" / "inference-perf"
IP_TOKENIZER = ROOT / ".bench-venvs" / "tokenizer"
INFERENCE_PERF_NOTE = (
    "inference-perf 0.7.0 from PyPI in its own Python 3.12 venv (.bench-venvs/inference-perf), `mock` data, "
    "`ignore_eos: true`, one worker with `worker_max_concurrency` ≥ N, a concurrent stage of N users. "
    "Its mock generator sends a fixed "
    "max_tokens of 30 (OpenAIModelServerClient.max_completion_tokens; not configurable for mock data), so its "
    "streams are 30 tokens, not the others' length. It needs a tokenizer to count tokens; Hugging Face is not "
    "reachable here, so a local whitespace WordLevel tokenizer is built (.bench-venvs/tokenizer). Its figures are "
    "its own summary report's percentiles; its CPU and peak RSS are those of its whole process tree INCLUDING "
    "start-up (imports of transformers etc.), so its CPU/chunk is an upper bound.")


# --- one client cell, run in its own process ------------------------------------------------------------------
def _client_toolkit(url: str, key: str, streams: int, rounds: int, tokens: int) -> dict[str, Any]:
    import vultr_toolkit as vt

    settings = vt.Settings(inference_url=url, inference_api_key=key)
    cpu0 = time.process_time()
    res = vt.bench.run(settings, model=MODEL, concurrency=streams, requests=streams * rounds, max_tokens=tokens,
                       progress=False, stall_timeout_s=60)
    cpu = time.process_time() - cpu0
    req = res.requests
    ch = res.chunks
    ch = ch[ch["kind"] == "content"].sort_values(["request_id", "index"])
    itl = (ch.groupby("request_id")["received_ns"].diff().dropna().astype("int64") / 1e9).tolist()
    first = ch.groupby("request_id")["received_ns"].first()
    ids: dict[Any, Any] = dict(zip(req["request_id"], req["response_id"], strict=True))
    return {"ttft_s": req["ttft_s"].dropna().astype(float).tolist(), "itl_s": itl,
            "output_tokens": int(req["output_tokens"].fillna(0).sum()), "content_chunks": len(ch),
            "errors": int((req["status"] != "ok").sum()), "cpu_s": cpu,
            "pairs": {str(r): int(s) for r, s in zip(req["response_id"], req["sent_ns"], strict=True)
                      if isinstance(r, str) and s is not None},
            "first_read": {str(ids[i]): int(t) for i, t in first.items() if isinstance(ids.get(i), str)}}


def _client_vllm(url: str, key: str, streams: int, rounds: int, tokens: int) -> dict[str, Any]:
    import asyncio

    import _vllm_style_client

    cpu0 = time.process_time()
    out = asyncio.run(_vllm_style_client.run(url, key, MODEL, streams, rounds, tokens))
    cpu = time.process_time() - cpu0
    return {"ttft_s": [r["ttft_s"] for r in out], "itl_s": [x for r in out for x in r["itl_s"]],
            "output_tokens": sum(r["output_tokens"] for r in out),
            "content_chunks": sum(len(r["itl_s"]) + 1 for r in out if r["ttft_s"]),
            "errors": sum(r["status"] != 200 for r in out), "cpu_s": cpu,
            "pairs": {r["response_id"]: r["start_ns"] for r in out if r["response_id"]},
            "first_read": {r["response_id"]: r["start_ns"] + round(r["ttft_s"] * 1e9) for r in out
                           if r["response_id"] and r["ttft_s"]}}


def ensure_inference_perf() -> bool:
    """Create the inference-perf venv (Python 3.12 from pyenv) and the local tokenizer if missing."""
    exe = IP_VENV / "bin" / "inference-perf"
    if not exe.exists():
        py = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python"))
        if not py:
            print("  inference-perf skipped: no Python 3.12 under ~/.pyenv/versions", file=sys.stderr)
            return False
        subprocess.run([str(py[-1]), "-m", "venv", str(IP_VENV)], check=True)
        subprocess.run([str(IP_VENV / "bin" / "pip"), "install", "-q", "inference-perf>=0.7"], check=True)
    if not (IP_TOKENIZER / "tokenizer.json").exists():
        code = ("from tokenizers import Tokenizer, models, pre_tokenizers\n"
                "from transformers import PreTrainedTokenizerFast\n"
                "t = Tokenizer(models.WordLevel({'<unk>': 0}, unk_token='<unk>'))\n"
                "t.pre_tokenizer = pre_tokenizers.Whitespace()\n"
                "PreTrainedTokenizerFast(tokenizer_object=t, unk_token='<unk>', model_max_length=10**6)"
                f".save_pretrained({str(IP_TOKENIZER)!r})\n")
        subprocess.run([str(IP_VENV / "bin" / "python"), "-c", code], check=True, stderr=subprocess.DEVNULL)
    return True


def _client_inference_perf(url: str, key: str, streams: int, rounds: int, tokens: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {"api": {"type": "chat", "streaming": True}, "data": {"type": "mock"},
               # its worker caps in-flight requests at 100 by default: raise it, or 256 users would be 100
               "load": {"type": "concurrent", "num_workers": 1, "worker_max_concurrency": max(100, streams),
                        "stages": [{"num_requests": streams * rounds, "concurrency_level": streams}]},
               "server": {"type": "vllm", "model_name": MODEL, "base_url": url.rsplit("/v1", 1)[0],
                          "ignore_eos": True, "api_key": key},
               "tokenizer": {"pretrained_model_name_or_path": str(IP_TOKENIZER)},
               "storage": {"local_storage": {"path": tmp}},
               "report": {"request_lifecycle": {"summary": True, "per_stage": False, "per_request": True}}}
        (Path(tmp) / "config.json").write_text(json.dumps(cfg))   # YAML is a superset of JSON
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([str(IP_VENV / "bin" / "inference-perf"), "--config_file", str(Path(tmp) / "config.json")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = json.loads((Path(tmp) / "summary_lifecycle_metrics.json").read_text())
        per_req = json.loads((Path(tmp) / "per_request_lifecycle_metrics.json").read_text())
    lat = summary["successes"]["latency"]
    pairs = {}
    out_tokens = 0
    for r in per_req:
        rid = json.loads(r["response"].split("data: ", 2)[1].split("\n", 1)[0]).get("id", "")
        pairs[rid] = int(float(r["start_time"]) * 1e9)   # its start stamp, time.perf_counter (CLOCK_MONOTONIC)
        out_tokens += int(((r.get("info") or {}).get("response_metrics") or {}).get("output_tokens") or 0)
    n = len(per_req)
    return {"ttft_s": [], "itl_s": [], "errors": int(summary.get("failures", {}).get("count", 0) or 0),
            "reported_ms": {"ttft_p50_ms": 1e3 * lat["time_to_first_token"]["median"],
                            "ttft_p99_ms": 1e3 * lat["time_to_first_token"]["p99"],
                            "itl_p99_ms": 1e3 * lat["inter_token_latency"]["p99"]},
            "output_tokens": out_tokens, "content_chunks": max(1, out_tokens or n),
            "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "child_peak_rss_mb": after.ru_maxrss / 1024, "pairs": pairs}


def client_main(kind: str, url: str, key: str, streams: int, rounds: int, tokens: int) -> None:
    fn = {"toolkit": _client_toolkit, "vllm_style": _client_vllm, "inference_perf": _client_inference_perf}[kind]
    out = fn(url, key, streams, rounds, tokens)
    # pcap stamps are CLOCK_REALTIME, client stamps CLOCK_MONOTONIC: the offset lets requests be paired in time
    out["realtime_minus_monotonic_ns"] = time.time_ns() - time.monotonic_ns()
    out["peak_rss_mb"] = out.pop("child_peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


# --- capture ------------------------------------------------------------------------------------------------
def ensure_tcpdump() -> str:
    path = shutil.which("tcpdump")
    if path:
        return path
    if os.geteuid() != 0:
        raise SystemExit("tcpdump is missing and this is not root: apt-get install tcpdump, then run as root")
    subprocess.run(["apt-get", "install", "-y", "tcpdump"], check=True, stdout=subprocess.DEVNULL)
    path = shutil.which("tcpdump")
    if not path:
        raise SystemExit("apt-get install tcpdump did not provide a tcpdump binary")
    return path


class Capture:
    """``tcpdump`` on ``lo`` for one port, kernel (host) timestamps in nanoseconds."""

    def __init__(self, tcpdump: str, port: int, path: Path) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [tcpdump, "-i", "lo", "-j", "host", "--time-stamp-precision=nano", "--immediate-mode", "-U", "-B", "65536",
             "-s", "0",
             "-w", str(path), "tcp", "port", str(port)], stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()       # "listening on lo ..." once the filter is installed
        if "listening" not in line:
            raise RuntimeError(f"tcpdump did not start: {line.strip()}")
        self.stats = ""

    def stop(self) -> str:
        time.sleep(0.2)                           # let the last segments reach the capture buffer
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        self.stats = " ".join(err.split())
        return self.stats


# --- statistics ---------------------------------------------------------------------------------------------
def _pct(xs: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(xs, q)) if len(xs) else float("nan")


def cell_stats(client: dict[str, Any], wire: list[WireRequest]) -> dict[str, Any]:
    ok = [r for r in wire if r.status == 200 and r.content_ns]
    w_ttft = [r.ttft_ns / 1e6 for r in ok if r.ttft_ns is not None]
    w_itl = [x / 1e6 for r in ok for x in r.itl_ns]
    w_intake = [r.intake_ns / 1e6 for r in ok if r.intake_ns is not None]
    c_ttft = [x * 1e3 for x in client["ttft_s"] if x]
    c_itl = [x * 1e3 for x in client["itl_s"]]
    off = client["realtime_minus_monotonic_ns"]
    by_id = {r.response_id: r for r in ok}
    stamp_to_post = [(by_id[rid].post_ns - (s + off)) / 1e6 for rid, s in client["pairs"].items() if rid in by_id]
    # the other half of a TTFT error: first content frame on the wire -> the client's stamp for it
    read_lag = [(s + off - by_id[rid].content_ns[0]) / 1e6 for rid, s in client.get("first_read", {}).items()
                if rid in by_id]
    connect_to_post = [(r.post_ns - r.connect_ns) / 1e6 for r in ok if r.connect_ns is not None]
    row = {
        "requests_wire": len(wire), "requests_ok_wire": len(ok), "client_errors": client["errors"],
        "tokens_reported": client["output_tokens"], "content_frames_wire": sum(len(r.content_ns) for r in ok),
        "ttft_p50_ms": _pct(c_ttft, 50), "ttft_p99_ms": _pct(c_ttft, 99),
        "wire_ttft_p50_ms": _pct(w_ttft, 50), "wire_ttft_p99_ms": _pct(w_ttft, 99),
        "itl_p99_ms": _pct(c_itl, 99), "wire_itl_p99_ms": _pct(w_itl, 99),
        "intake_p50_ms": _pct(w_intake, 50), "intake_p99_ms": _pct(w_intake, 99),
        "stamp_to_post_p50_ms": _pct(stamp_to_post, 50), "stamp_to_post_p99_ms": _pct(stamp_to_post, 99),
        "first_read_lag_p50_ms": _pct(read_lag, 50), "first_read_lag_p99_ms": _pct(read_lag, 99),
        "connect_to_post_p50_ms": _pct(connect_to_post, 50), "connect_to_post_p99_ms": _pct(connect_to_post, 99),
        "cpu_us_per_chunk": 1e6 * client["cpu_s"] / max(1, client["content_chunks"]),
        "peak_rss_mb": client["peak_rss_mb"],
    }
    row.update(client.get("reported_ms", {}))   # inference-perf: its own summary percentiles
    row["ttft_err_p50_ms"] = row["ttft_p50_ms"] - row["wire_ttft_p50_ms"]
    row["ttft_err_p99_ms"] = row["ttft_p99_ms"] - row["wire_ttft_p99_ms"]
    row["itl_err_p99_ms"] = row["itl_p99_ms"] - row["wire_itl_p99_ms"]
    return row


def run_cell(tcpdump: str, kind: str, url: str, key: str, streams: int, rounds: int, tokens: int,
             tmp: Path) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    pcap = tmp / f"{kind}-{streams}.pcap"
    cap = Capture(tcpdump, port, pcap)
    load = os.getloadavg()[0]
    try:
        proc = subprocess.run([sys.executable, __file__, "--client-run", kind, "--url", url, "--key", key,
                               "--streams", str(streams), "--rounds", str(rounds), "--tokens", str(tokens)],
                              stdout=subprocess.PIPE, text=True, check=True, env={**os.environ})
    finally:
        stats = cap.stop()
    client = json.loads(proc.stdout.strip().splitlines()[-1])
    row = {"client": kind, "streams": streams, "load_1min": round(load, 2), "tcpdump": stats,
           **cell_stats(client, wire_requests(pcap, port))}
    pcap.unlink()
    print(f"  {kind:<11} {streams:>4} streams  TTFT err p50 {row['ttft_err_p50_ms']:+.2f} p99 "
          f"{row['ttft_err_p99_ms']:+.2f} ms  ITL err p99 {row['itl_err_p99_ms']:+.2f}  intake p50/p99 "
          f"{row['intake_p50_ms']:.1f}/{row['intake_p99_ms']:.1f}  stamp→POST p50/p99 "
          f"{row['stamp_to_post_p50_ms']:.2f}/{row['stamp_to_post_p99_ms']:.2f}  "
          f"{row['cpu_us_per_chunk']:.0f} µs/chunk  {row['peak_rss_mb']:.0f} MB  load {load:.2f}", flush=True)
    return row


def median_rows(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import pandas as pd

    df = pd.DataFrame(raw)
    num = [c for c in df.columns if c not in ("client", "streams", "repeat") and pd.api.types.is_numeric_dtype(df[c])]
    med = df.groupby(["client", "streams"], sort=False)[num].median().reset_index()
    med["repeats"] = df.groupby(["client", "streams"], sort=False).size().to_numpy()
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in med.to_dict("records")]


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Wire truth: reported TTFT/ITL vs loopback packets (benchmarks/wire_truth.py)", "",
        f"Run {out['started_at']}, {out['runtime_s']} s, {out['host']['cpus']} CPUs, Python {out['host']['python']}; "
        f"emulator on core {out['settings']['server_core']}, client on core {out['settings']['client_core']}; "
        f"TTFT 50 ms, ITL 20 ms, no jitter, {out['settings']['tokens']} tokens, {out['settings']['rounds']} "
        "request(s) per user, users in phase. Error = reported percentile − the same percentile of the run's own "
        f"packets. Median of {out['settings']['repeat']} interleaved repetitions. Load average (1 min) per cell "
        f"{out['load_min_max']} — **{out['label']}**.", "",
        "| client | streams | TTFT err p50 / p99 (ms) | ITL err p99 (ms) | wire TTFT p50 / p99 | intake p50 / p99 "
        "| stamp→POST p50 / p99 | 1st content wire→read p50 / p99 | connect→POST p50 / p99 | CPU µs/chunk "
        "| peak RSS MB | tokens reported / wire "
        "| load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["cells"]:
        lines.append(
            f"| {r['client']} | {r['streams']} | {r['ttft_err_p50_ms']:.2f} / {r['ttft_err_p99_ms']:.2f} | "
            f"{r['itl_err_p99_ms']:.2f} | {r['wire_ttft_p50_ms']:.1f} / {r['wire_ttft_p99_ms']:.1f} | "
            f"{r['intake_p50_ms']:.1f} / {r['intake_p99_ms']:.1f} | {r['stamp_to_post_p50_ms']:.2f} / "
            f"{r['stamp_to_post_p99_ms']:.2f} | {r['first_read_lag_p50_ms']:.2f} / {r['first_read_lag_p99_ms']:.2f} "
            f"| {r['connect_to_post_p50_ms']:.2f} / {r['connect_to_post_p99_ms']:.2f} "
            f"| {r['cpu_us_per_chunk']:.0f} | {r['peak_rss_mb']:.0f} | {r['tokens_reported']:.0f} / "
            f"{r['content_frames_wire']:.0f} | {r['load_1min']:.2f} |")
    lines += ["", "*intake* = role-only frame − POST on the wire (the emulator's accept queue and handler start); "
              "*stamp→POST* = first request segment on the wire − the client's own TTFT start stamp, paired by "
              "completion id; *1st content wire→read* = the client's stamp of its first content frame − that "
              "frame's last "
              "segment on the wire (toolkit and vllm_style; paired likewise); a TTFT error is stamp→POST + this; "
              "*connect→POST* = request segment − SYN of its connection (first request on a "
              "connection only).", "", "inference-perf: " + out["inference_perf"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repetition, 1/16/64 streams")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--client-run", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2, help=f"requests per user (1 stream: {ROUNDS_AT_1})")
    args = parser.parse_args()
    if args.client_run:
        client_main(args.client_run, args.url, args.key, args.streams, args.rounds, args.tokens)
        return
    if args.quick:
        args.repeat, args.levels = 1, [lv for lv in args.levels if lv <= 64]
    tcpdump = ensure_tcpdump()
    clients = CLIENTS if ensure_inference_perf() else CLIENTS[:2]
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    started = time.time()
    raw: list[dict[str, Any]] = []
    with emulator(server_core) as (url, key), tempfile.TemporaryDirectory() as tmp:
        if client_core is not None:
            os.sched_setaffinity(0, {client_core})   # client subprocesses (and tcpdump) inherit core 1
        print(f"emulator at {url} (core {server_core}); clients on core {client_core}")
        for rep in range(args.repeat):
            for streams in args.levels:
                order = clients if rep % 2 == 0 else clients[::-1]
                for kind in order:
                    rounds = ROUNDS_AT_1 if streams == 1 else (1 if args.quick else args.rounds)
                    raw.append({**run_cell(tcpdump, kind, url, key, streams, rounds, args.tokens, Path(tmp)),
                                "repeat": rep})
    loads = [r["load_1min"] for r in raw]
    out = {
        "what": "client-reported TTFT/ITL minus wire truth from tcpdump on lo (issue 18 item 1)",
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"ttft_ms": 50, "itl_ms": 20, "tokens": args.tokens, "rounds": 1 if args.quick else args.rounds,
                     "rounds_at_1_stream": ROUNDS_AT_1, "repeat": args.repeat, "levels": args.levels,
                     "server_core": server_core, "client_core": client_core, "quick": args.quick},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "runtime_s": round(time.time() - started, 1),
        "load_min_max": [min(loads), max(loads)],
        "label": ("shared, busy machine: p99 cells are noisy" if max(loads) >= 1.0 else "quiet machine"),
        "inference_perf": INFERENCE_PERF_NOTE,
        "cells": median_rows(raw),
        "repeats": raw,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "wire_truth.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "wire_truth.md").write_text(markdown(out))
    print(markdown(out))


if __name__ == "__main__":
    main()
