"""client.inference against the sandbox's emulator: chat, stream (sync and async), models, options, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import vultr_toolkit as vt
from vultr_toolkit.api.inference import ChatChunk, ChatResult, build_chat_body, models_frame
from vultr_toolkit.sandbox.inference import InferenceEmulator

FAST = {"time_scale": 0.05}
CANARY = "sk-CANARY-inference-51b2e"


@pytest.fixture(scope="module")
def sb() -> Iterator[vt.Sandbox]:
    with vt.Sandbox(seed=0, inference=FAST) as sandbox:
        yield sandbox


@pytest.fixture
def emu(sb: vt.Sandbox) -> Iterator[InferenceEmulator]:
    assert sb.inference is not None
    yield sb.inference
    sb.inference.configure(faults={}, fault_cycle=None, usage="auto", fault_after_chunks=2, retry_after_s=1.0,
                           **FAST)


@pytest.fixture
def client(sb: vt.Sandbox) -> Iterator[vt.Client]:
    c = vt.Client(sb.settings())
    yield c


def test_every_call_vultr_inference_option_maps() -> None:
    body = build_chat_body([{"role": "user", "content": "hi"}], model="m", temperature=0.7, max_tokens=1000,
                           top_p=0.9, frequency_penalty=0.1, presence_penalty=0.2, stop=["\n"], seed=4, stream=True)
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7,
                    "max_tokens": 1000, "top_p": 0.9, "frequency_penalty": 0.1, "presence_penalty": 0.2,
                    "stop": ["\n"], "seed": 4, "stream": True, "stream_options": {"include_usage": True}}
    with pytest.raises(vt.ConfigError, match="max_tokens"):
        build_chat_body("hi", model="m", max_tokens=0)
    with pytest.raises(vt.ConfigError, match="model"):
        build_chat_body("hi", model=None)


def test_chat(client: vt.Client) -> None:
    r = client.inference.chat("Say hi", model="deepseek-v4.1-flash", max_tokens=12, temperature=0.2,
                              timeout_s=5.0)
    assert isinstance(r, ChatResult)
    assert r.text and r.reasoning and r.finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 12
    assert r.latency_s > 0 and r.ttft_s is None


def test_chat_streamed_measures_ttft(client: vt.Client) -> None:
    r = client.inference.chat("Say hi", model="qwen3.8-27b", max_tokens=5, stream=True)
    assert len(r.text.split()) == 5 and r.chunks == 5
    assert r.usage is not None and r.usage.completion_tokens == 5
    assert r.ttft_s is not None and 0 < r.ttft_s <= r.latency_s


def test_stream_yields_typed_chunks(client: vt.Client) -> None:
    chunks = list(client.inference.stream("Count", model="glm-5.3-flash", max_tokens=7))
    assert all(isinstance(c, ChatChunk) for c in chunks)
    kinds = [c.kind for c in chunks]
    assert kinds[0] == "role" and kinds[-2:] == ["finish", "usage"]
    assert "".join(c.content for c in chunks).count(" ") == 7


def test_async_stream_and_chat(sb: vt.Sandbox) -> None:
    async def go() -> tuple[list[ChatChunk], ChatResult]:
        ac = vt.AsyncClient(sb.settings())
        got = [c async for c in ac.inference.stream("hi", model="qwen3.8-27b", max_tokens=3)]
        res = await ac.inference.chat("hi", model="qwen3.8-27b", max_tokens=3)
        await ac.inference.aclose()
        return got, res

    chunks, res = asyncio.run(go())
    assert [c.content for c in chunks if c.content].__len__() == 3
    assert res.usage is not None and res.usage.completion_tokens == 3


def test_models_frame(client: vt.Client) -> None:
    df = client.inference.models()
    assert {"id", "context_length", "input_modalities", "output_modalities", "usd_per_1m_prompt",
            "usd_per_1m_completion"} <= set(df.columns)
    row = df.set_index("id").loc["qwen3.8-27b"]
    assert row["context_length"] == 131072
    assert row["usd_per_1m_completion"] == pytest.approx(0.6)
    assert bool(df.set_index("id").loc["bge-reranker-v2-m3", "is_chat"]) is False
    empty = models_frame([])
    assert list(empty.columns) == list(df.columns) and (empty.dtypes == df.dtypes).all()


def test_in_band_error_raises(client: vt.Client, emu: InferenceEmulator) -> None:
    emu.configure(fault_cycle=["in_band_error"])
    with pytest.raises(vt.InBandStreamError, match="error inside the stream") as e:
        list(client.inference.stream("hi", model="qwen3.8-27b", max_tokens=8))
    assert e.value.kind == "in_band_error"


def test_cut_stream_is_never_retried_after_the_first_chunk(client: vt.Client,
                                                           emu: InferenceEmulator) -> None:
    emu.configure(fault_cycle=["cut"])
    before = emu.chat_requests
    got: list[ChatChunk] = []
    with pytest.raises(vt.StreamTruncatedError):
        got.extend(client.inference.stream("hi", model="qwen3.8-27b", max_tokens=8))
    assert [c.content for c in got if c.content]   # chunks arrived before the cut ...
    assert emu.chat_requests - before == 1                # ... so the request was not sent again


def test_429_before_the_stream_opens_is_retried(client: vt.Client, emu: InferenceEmulator) -> None:
    emu.configure(fault_cycle=["http_429", "none"], retry_after_s=0.01)
    before = emu.chat_requests
    r = client.inference.chat("hi", model="qwen3.8-27b", max_tokens=3)
    assert r.usage is not None and r.usage.completion_tokens == 3
    assert emu.chat_requests - before == 2


def test_errors_are_typed_and_never_show_the_key(sb: vt.Sandbox) -> None:
    bad = vt.Client(sb.settings(inference_api_key=CANARY))
    with pytest.raises(vt.AuthenticationError) as e:
        bad.inference.chat("hi", model="qwen3.8-27b", max_tokens=3)
    assert CANARY not in str(e.value) and CANARY not in repr(e.value)
    assert CANARY not in repr(bad.inference)
    with pytest.raises(vt.NotFoundError):
        vt.Client(sb.settings()).inference.chat("hi", model="no-such-model", max_tokens=3)
