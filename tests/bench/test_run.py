"""vt.bench.run / arun end to end against the sandbox's inference emulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import cast

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.bench.result import CHUNK_COLUMNS, REQUEST_COLUMNS
from vultr_toolkit.sandbox.inference import InferenceEmulator

CANARY = "sk-CANARY-bench-7f3a9c"


def _chat_posts(sb: vt.Sandbox) -> int:
    log = sb.requests_log()
    return int(((log["method"] == "POST") & (log["path"] == "/v1/chat/completions")).sum())


def test_closed_loop_rows_chunks_and_summary(sandbox: vt.Sandbox) -> None:
    res = vt.bench.run(sandbox, model="qwen3.8-27b", concurrency=[1, 3], requests=6, warmup=2, max_tokens=12,
                       progress=False, label="base")
    req = res.requests
    assert len(req) == 2 + 6 + 6                       # every request sent has exactly one row
    assert req["request_id"].is_unique
    assert (req["phase"] == "warmup").sum() == 2
    assert set(req["status"]) == {"ok"}
    assert {c: str(t) for c, t in req.dtypes.items()} == {c: str(pd.Series(dtype=t).dtype)
                                                           for c, t in REQUEST_COLUMNS.items()}
    assert list(res.chunks.columns) == list(CHUNK_COLUMNS)
    # the chunks are the raw truth: per-request token sums equal output_tokens (= max_tokens here)
    sums = res.chunks.groupby("request_id")["tokens"].sum()
    assert (sums.loc[req["request_id"]].to_numpy() == req["output_tokens"].to_numpy()).all()
    assert (req["output_tokens"] == 12).all() and (req["tokens_source"] == "usage").all()
    assert (req["ttft_s"] > 0).all() and (req["e2e_s"] > req["ttft_s"]).all()
    assert req["response_id"].str.startswith("chatcmpl-emu-").all()   # joins with the emulator's chunk log

    s = res.summary()
    assert s["level"].tolist() == [1.0, 3.0]
    assert s["requests"].tolist() == [6, 6] and s["errors"].tolist() == [0, 0]
    assert (s["output_tokens"] == 72).all()
    # pricing from /v1/models: (1 prompt-ish tokens x 0.2 + 12 x 0.6 $/M) / 12 > completion price alone
    assert (s["usd_per_1m_output"] >= 0.6).all()
    assert res.meta["pricing"]["completion_usd_per_token"] == pytest.approx(6e-7)
    for col in ("ttft_s_p50", "tpot_s_p99", "itl_s_p95", "e2e_s_mean", "output_tokens_per_s", "client_cpu_pct"):
        assert s[col].notna().all(), col


def test_reasoning_counts_for_ttft_but_not_ttfc(sandbox: vt.Sandbox) -> None:
    res = vt.bench.run(sandbox, model="deepseek-v4.1-flash", concurrency=2, requests=4, max_tokens=16,
                       progress=False)
    req = res.requests
    assert (req["ttfc_s"] > req["ttft_s"]).all()
    kinds = res.chunks["kind"].astype(str)
    assert (kinds == "reasoning").sum() == 4 * 8 and (kinds == "role").sum() == 4


def test_bad_arguments_fail_before_any_request(sandbox: vt.Sandbox) -> None:
    before = _chat_posts(sandbox)
    with pytest.raises(vt.ConfigError, match="max_tokens"):
        vt.bench.run(sandbox, model="qwen3.8-27b", max_tokens=0, progress=False)
    with pytest.raises(vt.ConfigError, match="not both"):
        vt.bench.run(sandbox, model="qwen3.8-27b", max_tokens=8, concurrency=[1], rate=2.0, progress=False)
    with pytest.raises(vt.ConfigError, match=r"no-such-model.*available: qwen3\.8-27b"):
        vt.bench.run(sandbox, model="no-such-model", max_tokens=8, concurrency=1, requests=2, progress=False)
    with pytest.raises(vt.ConfigError, match="workers"):
        vt.bench.run(sandbox, model="qwen3.8-27b", max_tokens=8, workers=0, progress=False)
    assert _chat_posts(sandbox) == before


def test_faults_every_request_one_row_and_classified(sandbox: vt.Sandbox, emu: InferenceEmulator) -> None:
    emu.configure(fault_cycle=["none", "http_429", "http_502", "http_504", "in_band_error", "cut", "stall"],
                  retry_after_s=0.01)
    before = emu.chat_requests
    res = vt.bench.run(sandbox, model="qwen3.8-27b", concurrency=7, requests=14, max_tokens=10,
                       stall_timeout_s=0.5, progress=False)
    req = res.requests
    assert len(req) == 14 == emu.chat_requests - before
    counts = req["error_kind"].astype("string").fillna("ok").value_counts().to_dict()
    assert counts == {"ok": 2, "http_429": 2, "http_5xx": 4, "in_band_error": 2, "truncated": 2, "stalled": 2}
    stalled = req[req["error_kind"] == "stalled"]
    # a stalled stream ends at its timeout, not when the server gives up (stall_s = 3600 s)
    assert (stalled["e2e_s"] >= 0.5).all() and (stalled["e2e_s"] < 30).all()
    assert req.loc[req["error_kind"] == "http_429", "error"].str.contains("Retry-After").all()
    s = res.summary()
    assert s.loc[0, "errors_http_5xx"] == 4 and s.loc[0, "errors_stalled"] == 2 and s.loc[0, "ok"] == 2
    # failed requests are out of the latency statistics: only the 2 successes are in ttft
    ok = req[req["status"] == "ok"]
    assert s.loc[0, "ttft_s_mean"] == pytest.approx(float(ok["ttft_s"].mean()))


def test_missing_usage_falls_back_to_chunks(sandbox: vt.Sandbox, emu: InferenceEmulator) -> None:
    emu.configure(usage="never")
    res = vt.bench.run(sandbox, model="glm-5.3-flash", concurrency=2, requests=4, max_tokens=9, progress=False)
    req = res.requests
    assert (req["status"] == "ok").all()
    assert (req["tokens_source"] == "chunks").all()
    assert (req["output_tokens"] == 3).all()   # 9 tokens in 3 chunks of 3: counted as chunks, as labelled


def test_tokenizer_counts_when_usage_is_missing(sandbox: vt.Sandbox, emu: InferenceEmulator) -> None:
    emu.configure(usage="never")
    res = vt.bench.run(sandbox, model="glm-5.3-flash", concurrency=2, requests=2, max_tokens=9, progress=False,
                       tokenizer=lambda text: len(text.split()))
    req = res.requests
    assert (req["tokens_source"] == "tokenizer").all() and (req["output_tokens"] == 9).all()


def test_request_timeout_is_timeout(sandbox: vt.Sandbox, emu: InferenceEmulator) -> None:
    emu.configure(models={"slow-model": {"itl_s": 1.0, "itl_cv": 0.0}})   # 50 ms/token at time_scale 0.05
    res = vt.bench.run(sandbox, model="slow-model", concurrency=2, requests=2, max_tokens=100, timeout_s=0.3,
                       progress=False)
    assert res.requests["error_kind"].astype(str).tolist() == ["timeout", "timeout"]


def test_open_loop_with_cap_records_queueing(sandbox: vt.Sandbox) -> None:
    res = vt.bench.run(sandbox, model="qwen3.8-27b", rate=400.0, requests=12, max_concurrency=2, max_tokens=8,
                       seed=3, progress=False)
    req = res.requests
    assert len(req) == 12 and (req["status"] == "ok").all()
    assert req["client_queue_ms"].max() > 1.0       # 2 slots cannot keep up with 400 req/s: the wait is shown
    s = res.summary()
    assert s.loc[0, "target_rate"] == 400.0 and str(s.loc[0, "mode"]) == "rate"
    again = vt.bench.run(sandbox, model="qwen3.8-27b", rate=400.0, requests=12, max_tokens=8, seed=3,
                         progress=False)
    # same seed, same precomputed schedule
    offs = [(r["scheduled_at"] - r["scheduled_at"].min()).dt.total_seconds().to_numpy()
            for r in (req, again.requests)]
    assert offs[0] == pytest.approx(offs[1], abs=2e-6)   # microsecond timestamps


def test_duration_mode_stops_sending_at_the_deadline(sandbox: vt.Sandbox) -> None:
    res = vt.bench.run(sandbox, model="qwen3.8-27b", concurrency=2, duration_s=0.3, max_tokens=8, progress=False)
    req = res.requests
    assert len(req) >= 2
    started = cast(pd.Timestamp, res.levels.loc[0, "started_at"])
    assert ((req["sent_at"] - started).dt.total_seconds() <= 0.3 + 0.05).all()


def test_sync_run_works_inside_a_running_event_loop(sandbox: vt.Sandbox) -> None:
    async def notebook_cell() -> vt.bench.BenchmarkResult:
        return vt.bench.run(sandbox, model="qwen3.8-27b", concurrency=1, requests=2, max_tokens=4, progress=True)

    res = asyncio.run(notebook_cell())
    assert len(res.requests) == 2 and (res.requests["status"] == "ok").all()


def test_arun(sandbox: vt.Sandbox) -> None:
    res = asyncio.run(vt.bench.arun(sandbox.settings(), model="qwen3.8-27b", concurrency=[2], requests=4,
                                    max_tokens=4, progress=True))
    assert len(res.requests) == 4 and (res.requests["status"] == "ok").all()


@pytest.mark.slow
def test_worker_processes_merge_their_records(sandbox: vt.Sandbox) -> None:
    # level 1 has a single user: the worker without users must not be handed requests it cannot send
    res = vt.bench.run(vt.Client(sandbox.settings()), model="qwen3.8-27b", concurrency=[1, 4], requests=4,
                       warmup=2, max_tokens=6, workers=2, progress=False)
    req = res.requests
    assert len(req) == 2 + 4 + 4 and req["request_id"].is_unique
    assert req.groupby("level")["request_id"].count().tolist() == [6, 4]
    assert set(req.loc[req["level"] == 4.0, "worker"].tolist()) == {0, 1}
    assert (req["status"] == "ok").all()
    assert res.levels["workers"].tolist() == [2, 2]
    assert res.chunks["request_id"].isin(req["request_id"]).all()


def test_no_secret_in_results(sandbox: vt.Sandbox) -> None:
    settings = sandbox.settings(inference_api_key=CANARY)
    res = vt.bench.run(settings, model="qwen3.8-27b", concurrency=1, requests=2, max_tokens=4, progress=False)
    assert res.requests["error_kind"].astype(str).tolist() == ["http_4xx", "http_4xx"]   # wrong key: 401
    meta, frames = res.to_frames()
    blob = json.dumps(meta) + repr(res) + "".join(f.astype(str).to_csv() for f in frames.values())
    assert CANARY not in blob


def test_client_stamps_join_the_emulator_send_stamps(sandbox: vt.Sandbox, emu: InferenceEmulator) -> None:
    # The harness's own timing error is measurable: every received frame matches one server-side send stamp
    # on the same monotonic clock, and no frame is received before it was sent.
    emu.clear_chunk_log()
    res = vt.bench.run(sandbox, model="glm-5.3-flash", concurrency=3, requests=6, max_tokens=10, progress=False)
    server = emu.chunk_log()
    ids = res.requests.set_index("request_id")["response_id"]
    client = res.chunks.assign(request_id=res.chunks["request_id"].map(ids).astype(str))
    joined = client.merge(server, on=["request_id", "index"], how="inner", suffixes=("", "_server"))
    assert len(joined) == len(client) == len(server)
    assert (joined["tokens"] == joined["tokens_server"]).all()      # usage spread by characters is exact here
    error_ns = joined["received_ns"].astype("int64") - joined["sent_ns"]
    assert (error_ns > 0).all()
