"""Field report (issue 12) items 10, 11, 15: hostile inference endpoints on 127.0.0.1.

Each server is a real aiohttp app on a loopback port, running in its own thread; the benchmark and the streaming
client talk to it over HTTP. Bounds are "did not hang" / "did not blow up", never timing assertions.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp import web

import vultr_toolkit as vt
from tests.hardening.canary import INFERENCE_KEY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _frame(text: str) -> bytes:
    doc = {"id": "chatcmpl-x", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    """Start an aiohttp server answering POST /v1/chat/completions with ``handler``; yields its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    def start(handler: Handler) -> str:
        async def up() -> int:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", handler)
            runner = web.AppRunner(app, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            return int(runner.addresses[0][1])

        port = asyncio.run_coroutine_threadsafe(up(), loop).result(10)
        return f"http://127.0.0.1:{port}/v1"

    yield start

    async def down() -> None:
        for r in runners:
            await r.cleanup()

    asyncio.run_coroutine_threadsafe(down(), loop).result(20)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


async def _sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    return resp


async def _pings(request: web.Request) -> web.StreamResponse:
    """(a) a server that only sends keep-alive comments, for a minute."""
    resp = await _sse(request)
    for _ in range(300):
        await resp.write(b": ping\n\n")
        await asyncio.sleep(0.2)
    return resp


async def _long_line(request: web.Request) -> web.StreamResponse:
    """(b) a 10 MB line that never ends."""
    resp = await _sse(request)
    await resp.write(b'data: {"choices":[{"index":0,"delta":{"content":"')
    block = b"x" * 65536
    for _ in range(160):
        await resp.write(block)
    await resp.write(b'"}}]}\n\n')
    return resp


async def _huge_body(request: web.Request) -> web.StreamResponse:
    """(b) one token, then 100 MB of well-formed comment lines."""
    resp = await _sse(request)
    await resp.write(_frame("hi"))
    block = (b": " + b"p" * 1021 + b"\n") * 1024  # 1 MiB of 1 KiB comment lines
    for _ in range(100):
        await resp.write(block)
    return resp


async def _endless_tokens(request: web.Request) -> web.StreamResponse:
    """(b) far more tokens than max_tokens (704,000 in the report), never a finish_reason."""
    resp = await _sse(request)
    frame = _frame("tok")
    for _ in range(704_000 // 100):
        await resp.write(frame * 100)
    return resp


async def _echo_key(request: web.Request) -> web.StreamResponse:
    """(c) a 401 whose body echoes the Authorization header's key, once bare and once with its scheme."""
    auth = request.headers.get("Authorization", "")
    key = auth.removeprefix("Bearer ")
    body = {"error": {"message": f"invalid api key {key} (header was {auth!r})"}}
    return web.json_response(body, status=401)


def _settings(url: str) -> vt.Settings:
    return vt.Settings(inference_url=url, inference_api_key=INFERENCE_KEY)


def _bench(url: str, **kw: object) -> vt.bench.BenchmarkResult:
    args: dict[str, object] = dict(model="m", concurrency=1, requests=1, max_tokens=20, progress=False)
    args.update(kw)
    return vt.bench.run(_settings(url), **args)  # type: ignore[arg-type]


def test_ping_only_stream_is_stalled_not_held(serve: Callable[[Handler], str]) -> None:
    url = serve(_pings)
    t0 = time.monotonic()
    res = _bench(url, stall_timeout_s=1.0)
    assert time.monotonic() - t0 < 20          # did not hang: it used to run until the server gave up (60 s)
    row = res.requests.iloc[0]
    assert row["error_kind"] == "stalled"
    assert "comment" in row["error"]


def test_ten_mb_line_is_a_protocol_error(serve: Callable[[Handler], str]) -> None:
    res = _bench(serve(_long_line))
    row = res.requests.iloc[0]
    assert row["error_kind"] == "protocol_error"   # was in_band_error: blamed the model server
    assert "line" in row["error"]


def test_huge_bodies_are_capped(serve: Callable[[Handler], str]) -> None:
    url = serve(_huge_body)
    tracemalloc.start()
    try:
        res = _bench(url, concurrency=3, requests=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20                  # three 100 MB streams took the client to 1.23 GB
    assert list(res.requests["error_kind"]) == ["protocol_error"] * 3
    assert res.requests["error"].str.contains("bytes").all()


def test_far_more_tokens_than_max_tokens_is_overlong(serve: Callable[[Handler], str]) -> None:
    t0 = time.monotonic()
    res = _bench(serve(_endless_tokens), max_tokens=20)
    assert time.monotonic() - t0 < 30          # stopped reading, did not swallow 704,000 tokens
    row = res.requests.iloc[0]
    assert row["status"] == "error" and row["error_kind"] == "overlong_stream"
    assert res.summary().loc[0, "errors_overlong_stream"] == 1


def test_echoed_key_in_401_is_redacted(serve: Callable[[Handler], str]) -> None:
    res = _bench(serve(_echo_key))
    row = res.requests.iloc[0]
    assert row["error_kind"] == "http_4xx"
    assert "invalid api key" in row["error"]
    assert INFERENCE_KEY not in row["error"] and "CANARY" not in row["error"]
    assert "CANARY" not in res.requests.to_csv()


def test_client_stream_ping_only_raises_stalled(serve: Callable[[Handler], str]) -> None:
    url = serve(_pings)
    t0 = time.monotonic()
    with vt.Client(_settings(url)) as client, pytest.raises(vt.StreamStalledError, match="keep-alive"):
        list(client.inference.stream("hi", model="m", max_tokens=8, timeout_s=1.0))
    assert time.monotonic() - t0 < 20


def test_client_stream_ten_mb_line_is_a_response_error(serve: Callable[[Handler], str]) -> None:
    with vt.Client(_settings(serve(_long_line))) as client, pytest.raises(vt.APIResponseError, match="line"):
        list(client.inference.stream("hi", model="m", max_tokens=8))


def test_async_client_stream_ping_only_raises_stalled(serve: Callable[[Handler], str]) -> None:
    url = serve(_pings)

    async def go() -> None:
        async with vt.AsyncClient(_settings(url)) as client:
            async for _ in client.inference.stream("hi", model="m", max_tokens=8, timeout_s=1.0):
                pass

    with pytest.raises(vt.StreamStalledError):
        asyncio.run(go())
