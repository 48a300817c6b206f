"""The sandbox's inference emulator over loopback HTTP: documents, auth, SSE framing, timing model, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest

import vultr_toolkit as vt
from vultr_toolkit.sandbox.inference import InferenceEmulator

FAST = {"time_scale": 0.05}


@pytest.fixture(scope="module")
def sb() -> Iterator[vt.Sandbox]:
    with vt.Sandbox(seed=0, inference=FAST) as sandbox:
        yield sandbox


@pytest.fixture
def emu(sb: vt.Sandbox) -> Iterator[InferenceEmulator]:
    assert sb.inference is not None
    yield sb.inference
    sb.inference.configure(faults={}, fault_cycle=None, usage="auto", fault_after_chunks=2, stall_s=3600.0,
                           retry_after_s=1.0, **FAST)


@pytest.fixture
def http(sb: vt.Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sb.inference_url, timeout=10.0,
                       headers={"Authorization": f"Bearer {sb.inference_api_key}"}) as client:
        yield client


def _body(model: str = "qwen3.8-27b", **kw: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 6, **kw}


def _stream(http: httpx2.Client, body: dict[str, Any], **headers: str) -> list[str]:
    with http.stream("POST", "/chat/completions", json={**body, "stream": True}, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return [line[6:] for line in r.iter_lines() if line.startswith("data: ")]


def test_models_is_public_with_openrouter_documents(sb: vt.Sandbox) -> None:
    r = httpx2.get(f"{sb.inference_url}/models")          # no key
    assert r.status_code == 200
    docs = {d["id"]: d for d in r.json()["data"]}
    qwen = docs["qwen3.8-27b"]
    assert qwen["schema_version"] == "2.4"
    price = qwen["output_modalities"][0]["pricing"][0]
    assert isinstance(price["cost_usd"], str) and Decimal(price["cost_usd"]) * 10**6 == Decimal("0.6")
    assert qwen["input_modalities"][0]["supported_inputs"]["max_context_length"]["value"] == 131072
    assert "reasoning" in docs["deepseek-v4.1-flash"]
    assert docs["bge-reranker-v2-m3"]["output_modalities"][0]["type"] == "rerank"


def test_chat_needs_a_key(sb: vt.Sandbox) -> None:
    r = httpx2.post(f"{sb.inference_url}/chat/completions", json=_body())
    assert r.status_code == 401 and r.json() == {"message": "No API key provided"}
    r = httpx2.post(f"{sb.inference_url}/chat/completions", json=_body(),
                    headers={"Authorization": "Bearer sk-CANARY-wrong-key"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_bad_requests_use_the_error_envelope(http: httpx2.Client) -> None:
    r = http.post("/chat/completions", json=_body("nope"))
    assert r.status_code == 404 and r.json()["error"]["metadata"]["error_type"] == "model_not_found"
    assert http.post("/chat/completions", json=_body("bge-reranker-v2-m3")).status_code == 400
    assert http.post("/chat/completions", json=_body(max_tokens=0)).status_code == 400


def test_non_streaming_answer(http: httpx2.Client) -> None:
    data = http.post("/chat/completions", json=_body("deepseek-v4.1-flash", max_tokens=10)).json()
    msg = data["choices"][0]["message"]
    assert msg["role"] == "assistant" and msg["content"] and msg["reasoning"]
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 10


def test_stream_framing(http: httpx2.Client) -> None:
    events = _stream(http, _body("deepseek-v4.1-flash", max_tokens=12))
    first = json.loads(events[0])
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}   # role-only preamble
    deltas = [json.loads(e)["choices"][0]["delta"] for e in events[1:-2]]
    assert [d for d in deltas if "reasoning" in d] and [d for d in deltas if "content" in d]
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "length"
    assert events[-1] == "[DONE]"
    assert not any("usage" in json.loads(e) for e in events[:-1])   # usage only when asked for


def test_usage_chunk_only_with_include_usage_and_multi_token_chunks(http: httpx2.Client) -> None:
    events = _stream(http, _body("glm-5.3-flash", max_tokens=7, stream_options={"include_usage": True}))
    usage = json.loads(events[-2])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 7
    contents = [json.loads(e)["choices"][0]["delta"].get("content") for e in events[1:-3]]
    assert [len(c.split()) for c in contents] == [3, 3, 1]          # tokens per chunk >= 1


@pytest.mark.parametrize("bad", [True, [], "include_usage", 1])
def test_stream_options_that_is_not_an_object_is_a_400(http: httpx2.Client, bad: object) -> None:
    # Found by the chat-body fuzzer: a bool or list here was a 500 (the emulator called .get() on it).
    r = http.post("/chat/completions", json=_body(stream=True, stream_options=bad))
    assert r.status_code == 400
    assert "stream_options" in r.json()["error"]["message"]


def test_continuous_usage_stats(http: httpx2.Client) -> None:
    events = _stream(http, _body(stream_options={"include_usage": True, "continuous_usage_stats": True}))
    cumulative = [json.loads(e)["usage"]["completion_tokens"] for e in events[1:7]]
    assert cumulative == [1, 2, 3, 4, 5, 6]


def test_usage_never_drops_the_usage_chunk(http: httpx2.Client, emu: InferenceEmulator) -> None:
    emu.configure(usage="never")
    events = _stream(http, _body(stream_options={"include_usage": True}))
    assert not any("usage" in json.loads(e) for e in events[:-1])


def test_chunk_log_stamps_every_frame_against_deadlines(http: httpx2.Client, emu: InferenceEmulator) -> None:
    emu.clear_chunk_log()
    events = _stream(http, _body(max_tokens=5))
    rid = json.loads(events[0])["id"]
    log = emu.chunk_log()
    mine = log[log["request_id"] == rid]
    assert mine["index"].tolist() == list(range(len(events)))        # role, 5 tokens, finish, [DONE]
    assert mine["tokens"].tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    assert (mine["sent_ns"].diff().dropna() >= 0).all()
    # paced against its deadline; event-loop timers have ~1 ms granularity, so a frame may go out a little early
    assert (mine["lateness_ms"] > -1.5).all()
    assert (mine["due_ns"].diff().dropna() >= 0).all()
    r = http.get("/emulator/chunks", params={"clear": "1"})
    assert r.status_code == 200 and rid.endswith(str(r.json()["request"][-1]))
    assert len(emu.chunk_log()) == 0


def test_batching_slows_tokens_as_streams_grow(sb: vt.Sandbox, emu: InferenceEmulator) -> None:
    # Deadlines come from the model, not from measured time: compare the scheduled per-token interval of one
    # stream alone with that of 8 concurrent streams.
    emu.configure(models={"batchy": {"itl_s": 0.04, "itl_cv": 0.0, "ttft_cv": 0.0, "batch_slowdown": 0.25}})

    def mean_interval(concurrency: int) -> float:
        emu.clear_chunk_log()
        vt.bench.run(sb, model="batchy", concurrency=concurrency, requests=concurrency, max_tokens=6,
                     progress=False)
        log = emu.chunk_log()
        tok = log[log["tokens"] > 0].sort_values(["request_id", "index"])
        return float(tok.groupby("request_id")["due_ns"].diff().dropna().mean())

    alone, crowded = mean_interval(1), mean_interval(8)
    assert alone == pytest.approx(0.04 * 0.05 * 1e9, rel=0.01)
    assert crowded > 2.0 * alone                      # 1 + 0.25 x 7 = 2.75x while all 8 are active


@pytest.mark.parametrize(("fault", "status", "retry_after"), [("http_429", 429, "1"), ("http_502", 502, None),
                                                               ("http_504", 504, None)])
def test_status_faults(http: httpx2.Client, fault: str, status: int, retry_after: str | None) -> None:
    r = http.post("/chat/completions", json=_body(), headers={"X-Emulator-Fault": fault})
    assert r.status_code == status
    assert r.json()["error"]["code"] == status
    assert r.headers.get("Retry-After") == retry_after


def test_in_band_error_after_200(http: httpx2.Client) -> None:
    events = _stream(http, _body(max_tokens=10), **{"X-Emulator-Fault": "in_band_error"})
    assert len(events) == 1 + 2 + 1                     # role, fault_after_chunks=2 tokens, error
    assert json.loads(events[-1])["error"]["code"] == 502
    assert "[DONE]" not in events


def test_cut_drops_the_connection_mid_stream(http: httpx2.Client) -> None:
    with pytest.raises(httpx2.RemoteProtocolError):
        _stream(http, _body(max_tokens=10), **{"X-Emulator-Fault": "cut"})


def test_stall_sends_nothing_more(sb: vt.Sandbox) -> None:
    with httpx2.Client(base_url=sb.inference_url, timeout=httpx2.Timeout(5.0, read=0.3),
                       headers={"Authorization": f"Bearer {sb.inference_api_key}",
                                "X-Emulator-Fault": "stall"}) as client:
        got: list[str] = []
        with pytest.raises(httpx2.ReadTimeout), client.stream(
                "POST", "/chat/completions", json=_body(max_tokens=10, stream=True)) as r:
            got.extend(line for line in r.iter_lines() if line.startswith("data: "))
        assert len(got) == 3                            # role + fault_after_chunks=2 tokens, then silence


def test_fault_cycle_and_unknown_options(emu: InferenceEmulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        emu.configure(fault_cycle=["explode"])
    with pytest.raises(ValueError, match="unknown InferenceEmulator option"):
        emu.configure(speed=3)


def test_standalone_process_entry_point() -> None:
    # benchmarks/bench_harness.py runs the emulator in its own process through this entry point
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "vultr_toolkit.sandbox.inference", "--port", "0", "--options",
                             json.dumps({"time_scale": 0.05, "fault_cycle": ["http_502"]})],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, url, key = proc.stdout.readline().split()
        assert ready == "READY" and url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert httpx2.get(f"{url}/models").json()["data"][0]["id"] == "qwen3.8-27b"
        r = httpx2.post(f"{url}/chat/completions", json=_body(), headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 502                     # --options reached the emulator
    finally:
        proc.terminate()
        proc.wait(10)
