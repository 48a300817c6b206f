"""A minimal streaming client of the kind ``vllm bench serve`` uses, as a baseline for the wire-truth benchmark.

As vllm/benchmarks/lib/endpoint_request_func.py: one ``ClientSession`` with ``TCPConnector(limit=0)``, the start
stamp taken right before ``session.post``, ``iter_any()`` into its own buffer, ``json.loads`` per SSE message and a
``perf_counter`` stamp after parsing; closed loop, every user starting together, default asyncio loop. One
deliberate difference: TTFT is taken at the first frame with non-empty content (vLLM counts the role-only frame,
which would make every TTFT ~50 ms short against this emulator and hide the comparison).

    >>> results = asyncio.run(run(url, key, "m", streams=16, rounds=2, tokens=64))   # doctest: +SKIP
    >>> results[0]["ttft_s"], len(results[0]["itl_s"])                                 # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp


async def _request(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                   body: dict[str, Any]) -> dict[str, Any]:
    ttft = 0.0
    itl: list[float] = []
    tokens = 0
    rid = ""
    start_ns = time.monotonic_ns()   # not in vLLM: lets the benchmark pair this stamp with the POST on the wire
    st = time.perf_counter()
    most_recent = st
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
                if payload == "[DONE]":
                    continue
                data = json.loads(payload)
                timestamp = time.perf_counter()
                rid = rid or data.get("id", "")
                if usage := data.get("usage"):
                    tokens = usage.get("completion_tokens", tokens)
                choices = data.get("choices") or []
                if choices and choices[0].get("delta", {}).get("content"):
                    if ttft == 0.0:
                        ttft = timestamp - st
                    else:
                        itl.append(timestamp - most_recent)
                    most_recent = timestamp
    return {"ttft_s": ttft, "itl_s": itl, "output_tokens": tokens, "status": resp.status,
            "response_id": rid, "start_ns": start_ns}


async def run(url: str, key: str, model: str, streams: int, rounds: int, tokens: int) -> list[dict[str, Any]]:
    """``streams`` users, each sending ``rounds`` streaming requests back to back; one result dict per request."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": tokens, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    out: list[dict[str, Any]] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=6 * 3600)) as s:
        async def user() -> None:
            for _ in range(rounds):
                out.append(await _request(s, f"{url}/chat/completions", headers, body))

        await asyncio.gather(*(user() for _ in range(streams)))
    return out
