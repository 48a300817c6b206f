"""Metric definitions on hand-built raw records (the pure half of the engine)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from vultr_toolkit.bench.metrics import analyse_request, itl_samples, normalise_slo, percentile_stats

MS = 1_000_000
SENT = 10_000 * MS


def frame(delta: dict[str, Any] | None = None, *, finish: str | None = None, usage: dict[str, int] | None = None,
          choices: bool = True) -> bytes:
    obj: dict[str, Any] = {"id": "x", "object": "chat.completion.chunk"}
    obj["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []
    if usage is not None:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def raw(frames: list[tuple[int, bytes]], *, status: int = 200, failure: str | None = None, end_ms: int | None = None,
        body: bytes = b"") -> dict[str, Any]:
    stamps = [SENT + ms * MS for ms, _ in frames]
    end = SENT + (end_ms if end_ms is not None else (frames[-1][0] if frames else 0)) * MS
    return {"sent_ns": SENT, "end_ns": end, "status": status, "failure": failure, "message": "",
            "stamps": stamps, "reads": [b for _, b in frames], "body": body, "retry_after": None}


def test_role_preamble_is_not_the_first_token_and_reasoning_is() -> None:
    row, chunks = analyse_request(raw([
        (1, frame({"role": "assistant", "content": ""})),
        (50, frame({"reasoning": " hmm"})),
        (70, frame({"content": " Hello"})),
        (90, frame({"content": " world"})),
        (90, frame({}, finish="length")),
        (91, frame(choices=False, usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})),
        (91, DONE),
    ]))
    assert row["status"] == "ok" and row["error_kind"] is None
    assert row["ttft_s"] == pytest.approx(0.050)   # reasoning counts, the role frame does not
    assert row["ttfc_s"] == pytest.approx(0.070)   # first answer content
    assert row["e2e_s"] == pytest.approx(0.090)    # last token, not [DONE]
    assert row["output_tokens"] == 3 and row["tokens_source"] == "usage"
    assert row["tpot_s"] == pytest.approx((0.090 - 0.050) / 2)
    assert row["prompt_tokens"] == 5
    assert chunks["kind"] == ["role", "reasoning", "content", "content", "finish", "usage", "done"]


def test_usage_total_is_spread_over_multi_token_chunks_by_characters() -> None:
    row, chunks = analyse_request(raw([
        (10, frame({"content": " aaaa bbbb cccc"})),
        (20, frame({"content": " dddd"})),
        (20, frame({}, finish="length")),
        (20, frame(choices=False, usage={"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5})),
        (20, DONE),
    ]))
    assert chunks["tokens"][:2] == [3, 1]
    assert row["output_tokens"] == 4 and row["chunks"] == 2
    # first chunk carries 3 tokens: TPOT = (e2e - ttft) / (4 - 1)
    assert row["tpot_s"] == pytest.approx(0.010 / 3)


def test_missing_usage_falls_back_to_chunk_counting() -> None:
    row, _ = analyse_request(raw([
        (10, frame({"content": " aaaa bbbb"})),
        (20, frame({"content": " cccc dddd"})),
        (20, frame({}, finish="length")),
        (20, DONE),
    ]))
    assert row["status"] == "ok"
    assert row["tokens_source"] == "chunks"
    assert row["output_tokens"] == 2   # a lower bound: one per chunk, which is what tokens_source says


def test_cumulative_usage_in_every_chunk_gives_exact_per_chunk_tokens() -> None:
    _, chunks = analyse_request(raw([
        (10, frame({"content": " a"}, usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})),
        (20, frame({"content": " b"}, usage={"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6})),
        (20, frame({}, finish="stop")),
        (20, DONE),
    ]))
    assert chunks["tokens"][:2] == [2, 3]


def test_in_band_error_after_200_is_an_error_never_a_success() -> None:
    row, _ = analyse_request(raw([
        (10, frame({"content": " a"})),
        (20, b'data: {"error":{"code":502,"message":"The model failed"}}\n\n'),
    ]))
    assert row["status"] == "error"
    assert row["error_kind"] == "in_band_error"
    assert row["error"] == "The model failed"
    assert row["tpot_s"] is None   # failed requests stay out of latency statistics


def test_stream_without_finish_or_done_is_truncated() -> None:
    row, _ = analyse_request(raw([(10, frame({"content": " a"})), (20, frame({"content": " b"}))]))
    assert row["error_kind"] == "truncated"
    assert row["e2e_s"] == pytest.approx(0.020)


def test_http_errors_are_classified_with_the_api_message() -> None:
    body = json.dumps({"error": {"code": 429, "message": "Rate limit exceeded"}}).encode()
    row, chunks = analyse_request(raw([], status=429, body=body, end_ms=3))
    assert row["error_kind"] == "http_429" and row["error"] == "Rate limit exceeded"
    assert chunks["index"] == []
    row, _ = analyse_request(raw([], status=504, body=b"<html>gateway</html>", end_ms=3))
    assert row["error_kind"] == "http_5xx"
    row, _ = analyse_request(raw([], status=401, body=b'{"message":"No API key provided"}', end_ms=3))
    assert row["error_kind"] == "http_4xx" and row["error"] == "No API key provided"


def test_engine_failures_keep_their_kind() -> None:
    row, _ = analyse_request(raw([(10, frame({"content": " a"}))], failure="stalled", end_ms=500))
    assert row["error_kind"] == "stalled"
    assert row["e2e_s"] == pytest.approx(0.5)


def test_itl_samples_are_token_weighted() -> None:
    chunks = pd.DataFrame({
        "request_id": [1, 1, 1, 2, 2],
        "received_ns": [0, 30 * MS, 40 * MS, 0, 10 * MS],
        "tokens": [2, 3, 1, 1, 1],
    })
    s = itl_samples(chunks)
    # request 1: first chunk 2 tokens -> one 0; 3 tokens in 30 ms -> 3 x 10 ms; 1 token in 10 ms -> 10 ms
    # request 2: one gap of 10 ms
    assert sorted(s.round(6).tolist()) == [0.0, 0.01, 0.01, 0.01, 0.01, 0.01]
    assert len(s) == (6 - 1) + (2 - 1)


def test_percentiles_and_slo_units() -> None:
    stats = percentile_stats(pd.Series([1.0, 2.0, 3.0, None], dtype="Float64"), "x_s")
    assert stats["x_s_mean"] == pytest.approx(2.0)
    assert stats["x_s_p50"] == pytest.approx(2.0)
    assert normalise_slo({"ttft_ms": 500, "e2e_s": 3}) == {"ttft_s": 0.5, "e2e_s": 3.0}
    with pytest.raises(ValueError, match="unknown objective"):
        normalise_slo({"latency": 1})
