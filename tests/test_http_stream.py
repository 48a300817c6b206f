"""The streaming entry point of the HTTP core against the sandbox's inference half (real SSE over loopback):
retried only while opening, never after the first chunk reached the caller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import AsyncHTTPCore, HTTPCore, RetryPolicy
from vultr_toolkit.sandbox import Sandbox

POLICY = RetryPolicy(attempts=3, multiplier_s=0.01, budget_min_retries_per_s=10)
BODY = {"model": "qwen3.8-27b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "stream": True}


@pytest.fixture
def sb(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox(inference={"time_scale": 0.02, "retry_after_s": 0})


@pytest.fixture
def core(sb: Sandbox) -> Iterator[HTTPCore]:
    with HTTPCore(sb.inference_url, api_key=sb.inference_api_key, policy=POLICY, name="inference") as c:
        yield c


def chat_requests(sb: Sandbox, *, at_least: int = 0) -> int:
    """Requests the server logged for chat. A row is written when the handler ends, which for a stalled stream
    is when the server notices the client left: ``at_least`` waits (bounded) for that row."""
    for _ in range(100):
        log = sb.requests_log()
        n = int((log["path"] == "/v1/chat/completions").sum())
        if n >= at_least:
            return n
        time.sleep(0.05)
    return n


def test_stream_yields_sse_lines(sb: Sandbox, core: HTTPCore) -> None:
    with core.stream("POST", "/chat/completions", json=BODY) as s:
        assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
        lines = list(s.iter_lines())
    data = [ln for ln in lines if ln.startswith("data: ")]
    assert data[-1] == "data: [DONE]" and len(data) >= 3
    assert chat_requests(sb) == 1


def test_opening_is_retried_on_429_and_chunks_arrive_once(sb: Sandbox, core: HTTPCore) -> None:
    assert sb.inference is not None
    sb.inference.configure(fault_cycle=["http_429", "none"])
    with core.stream("POST", "/chat/completions", json=BODY) as s:
        data = [ln for ln in s.iter_lines() if ln.startswith("data: ")]
    assert chat_requests(sb) == 2
    assert data.count("data: [DONE]") == 1
    assert core.stats()["retries"] == 1


def test_opening_error_is_typed_and_post_not_retried_after_502(sb: Sandbox, core: HTTPCore) -> None:
    with pytest.raises(vt.ServerError) as ei, core.stream("POST", "/chat/completions", json=BODY,
                                                         headers={"X-Emulator-Fault": "http_502"}):
        pass
    assert ei.value.status == 502 and ei.value.api_message
    assert chat_requests(sb) == 1


def test_cut_stream_raises_truncated_and_is_never_retried(sb: Sandbox, core: HTTPCore) -> None:
    got: list[str] = []
    with pytest.raises(vt.StreamTruncatedError), core.stream(
            "POST", "/chat/completions", json=BODY, headers={"X-Emulator-Fault": "cut"}) as s:
        for line in s.iter_lines():
            got.append(line)
    assert any(ln.startswith("data: {") for ln in got)  # chunks reached the caller before the cut
    assert chat_requests(sb) == 1


def test_stalled_stream_raises_stalled(sb: Sandbox, core: HTTPCore) -> None:
    with pytest.raises(vt.StreamStalledError), core.stream(
            "POST", "/chat/completions", json=BODY, headers={"X-Emulator-Fault": "stall"}, timeout_s=0.5) as s:
        for _ in s.iter_bytes():
            pass
    assert chat_requests(sb, at_least=1) == 1


def test_async_stream_same_contract(sb: Sandbox) -> None:
    async def main() -> tuple[list[str], type[BaseException] | None]:
        async with AsyncHTTPCore(sb.inference_url, api_key=sb.inference_api_key, policy=POLICY) as c:
            async with c.stream("POST", "/chat/completions", json=BODY) as s:
                lines = [ln async for ln in s.aiter_lines()]
            try:
                async with c.stream("POST", "/chat/completions", json=BODY,
                                    headers={"X-Emulator-Fault": "cut"}) as s:
                    async for _ in s.aiter_bytes():
                        pass
            except vt.StreamTruncatedError as e:
                return lines, type(e)
        return lines, None

    lines, err = asyncio.run(main())
    assert "data: [DONE]" in lines and err is vt.StreamTruncatedError
    assert chat_requests(sb) == 2
