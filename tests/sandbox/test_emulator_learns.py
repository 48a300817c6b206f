"""Emulator fidelity (issue 14 item 8): prefill-dependent TTFT, /v1/embeddings, reset()."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import numpy as np
import pytest

import vultr_toolkit as vt
from vultr_toolkit.sandbox.inference import InferenceEmulator

SCALE = 0.05
MODELS = {
    "prefill-lm": {"ttft_cv": 0.0, "itl_cv": 0.0, "ttft_s": 0.05, "prefill_tok_s": 100.0},
    "emb-small": {"output": "embedding", "embedding_dim": 16, "ttft_s": 0.01},
}


@pytest.fixture(scope="module")
def sb() -> Iterator[vt.Sandbox]:
    with vt.Sandbox(seed=0, inference={"time_scale": SCALE, "models": MODELS}) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb: vt.Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sb.inference_url, timeout=10.0,
                       headers={"Authorization": f"Bearer {sb.inference_api_key}"}) as c:
        yield c


def _chat(client: httpx2.Client, model: str = "qwen3.8-27b", content: str = "x", **kw: Any) -> httpx2.Response:
    return client.post("/chat/completions", json={"model": model, "max_tokens": 1,
                                                  "messages": [{"role": "user", "content": content}], **kw})


def _emb(client: httpx2.Client, model: str, inp: object) -> httpx2.Response:
    return client.post("/embeddings", json={"model": model, "input": inp})


def _ttft_ns(client: httpx2.Client, emu: InferenceEmulator, words: int) -> int:
    """Due time of the first content frame minus the role frame's (the request start), from the chunk log."""
    emu.clear_chunk_log()
    with client.stream("POST", "/chat/completions",
                       json={"model": "prefill-lm", "max_tokens": 2, "stream": True,
                             "messages": [{"role": "user", "content": " ".join(["w"] * words)}]}) as r:
        assert r.status_code == 200
        r.read()
    log = emu.chunk_log(clear=True)
    return int(log["due_ns"].iloc[1] - log["due_ns"].iloc[0])


def test_ttft_grows_with_prompt_length_at_the_prefill_rate(client: httpx2.Client, sb: vt.Sandbox) -> None:
    assert sb.inference is not None
    for words in (1, 200):
        expected = (0.05 + words / 100.0) * SCALE * 1e9
        assert abs(_ttft_ns(client, sb.inference, words) - expected) <= 2   # integer-ns rounding only


def test_embeddings_are_deterministic_unit_vectors_with_usage(client: httpx2.Client) -> None:
    one = _emb(client, "emb-small", ["hello world", "x"]).json()
    again = _emb(client, "emb-small", "hello world").json()
    assert [d["index"] for d in one["data"]] == [0, 1]
    assert len(one["data"][0]["embedding"]) == 16
    assert np.linalg.norm(one["data"][0]["embedding"]) == pytest.approx(1.0)
    assert one["data"][0]["embedding"] == again["data"][0]["embedding"]          # same text -> same vector
    assert one["data"][0]["embedding"] != one["data"][1]["embedding"]
    assert one["usage"]["prompt_tokens"] == 3 and again["usage"]["prompt_tokens"] == 2


def test_embeddings_refuse_chat_models_and_bad_input(client: httpx2.Client) -> None:
    r = _emb(client, "qwen3.8-27b", "hi")
    assert r.status_code == 400 and "not an embedding model" in r.json()["error"]["message"]
    r = _emb(client, "emb-small", [])
    assert r.status_code == 400 and "'input' must be" in r.json()["error"]["message"]
    assert _emb(client, "nope", "hi").status_code == 404


def test_models_listing_says_which_endpoint_each_model_serves(sb: vt.Sandbox) -> None:
    docs = {d["id"]: d for d in httpx2.get(f"{sb.inference_url}/models").json()["data"]}
    assert docs["emb-small"]["output_modalities"][0]["endpoints"] == ["/v1/embeddings"]
    assert docs["qwen3.8-27b"]["output_modalities"][0]["endpoints"] == ["/v1/chat/completions"]


def test_reset_forgets_requests_and_restarts_the_fault_cycle(client: httpx2.Client, sb: vt.Sandbox) -> None:
    emu = sb.inference
    assert emu is not None
    assert _chat(client).status_code == 200
    emu.configure(fault_cycle=["none", "http_502"])
    assert _chat(client).status_code == 200
    emu.reset()
    assert emu.chat_requests == 0 and emu.chunk_log().empty
    try:
        # after reset the cycle starts at its first entry again: "none" succeeds, then "http_502"
        assert [_chat(client).status_code for _ in range(3)] == [200, 502, 200]
    finally:
        emu.configure(fault_cycle=None)


@pytest.mark.parametrize("stop", [" amet", [" zzzz", " amet"]])
def test_stop_truncates_before_the_stop_string_with_finish_reason_stop(client: httpx2.Client,
                                                                        stop: object) -> None:
    out = _chat(client, max_tokens=200, stop=stop).json()
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert " amet" not in choice["message"]["content"]
    assert out["usage"]["completion_tokens"] == len(choice["message"]["content"]) // 5 < 200
    streamed = client.post("/chat/completions", json={"model": "qwen3.8-27b", "max_tokens": 200, "stop": stop,
                                                      "stream": True, "messages": [{"role": "user",
                                                                                    "content": "x"}]}).text
    assert '"finish_reason":"stop"' in streamed and " amet" not in streamed


def test_a_stop_string_that_never_occurs_leaves_finish_reason_length(client: httpx2.Client) -> None:
    out = _chat(client, max_tokens=5, stop="never-there").json()
    assert out["choices"][0]["finish_reason"] == "length" and out["usage"]["completion_tokens"] == 5


def test_same_seed_and_prompt_give_the_same_text(client: httpx2.Client) -> None:
    def text(seed: int | None, content: str = "x") -> str:
        kw: dict[str, Any] = {} if seed is None else {"seed": seed}
        return str(_chat(client, content=content, max_tokens=12, **kw).json()["choices"][0]["message"]["content"])

    assert text(7) == text(7)
    assert text(7) != text(8)
    assert text(7) != text(7, content="another prompt")
    assert text(None) != text(None)          # unseeded requests differ (per-request draws)
