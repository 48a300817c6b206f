"""Fuzz the pure SSE parser: any bytes, split anywhere, give typed chunks — never an exception.

The parser sits under ``client.inference.stream`` and the benchmark engine; a crash there loses a benchmark row
or surfaces as an untyped error in a notebook, so every input must come back as data (``ChatChunk``).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vultr_toolkit.api.sse import ChatChunk, SSEDecoder, Usage, events_with_stamps, parse_chunk

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = {"content", "reasoning", "role", "finish", "usage", "error", "done", "empty"}

# JSON as Python's json module reads it: NaN/Infinity and huge numbers included (servers do send them).
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)
chunk_keys = st.sampled_from(["choices", "usage", "error", "id", "model", "delta", "message", "content",
                              "reasoning", "reasoning_content", "role", "finish_reason", "prompt_tokens",
                              "completion_tokens", "total_tokens", "index", "message"])
chunk_like = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(chunk_keys, inner, max_size=4)), max_leaves=10)

sse_lines = st.lists(st.one_of(
    st.sampled_from([b"data: ", b"data:", b"event: error", b": ping", b"", b"\r", b"data: [DONE]", b"id: 3",
                     b"retry: 10", b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}"]),
    st.binary(max_size=20),
), max_size=12)


def _check(chunk: ChatChunk) -> None:
    assert isinstance(chunk, ChatChunk)
    assert chunk.kind in KINDS
    assert isinstance(chunk.content, str) and isinstance(chunk.reasoning, str)
    assert isinstance(chunk.error_message, str)
    if chunk.usage is not None:
        for n in (chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens):
            assert n is None or type(n) is int


@FUZZ
@given(value=chunk_like)
@example(value={"usage": {"prompt_tokens": float("inf"), "total_tokens": 10**400}})
@example(value={"usage": {"completion_tokens": float("nan"), "total_tokens": 1e300}})
@example(value={"choices": [{"delta": {"content": 5, "role": ["x"]}, "finish_reason": {}}]})
def test_any_json_payload_parses_to_a_typed_chunk(value: Any) -> None:
    _check(parse_chunk(json.dumps(value)))


@FUZZ
@given(text=st.text(max_size=60))
def test_any_text_payload_parses_to_a_typed_chunk(text: str) -> None:
    chunk = parse_chunk(text)
    _check(chunk)
    if text.strip() != "[DONE]":
        # Not JSON, or JSON that is not an object, is reported in band, never raised.
        try:
            is_object = isinstance(json.loads(text), dict)
        except ValueError:
            is_object = False
        assert is_object or chunk.kind == "error"


@FUZZ
@given(lines=sse_lines, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
       newline=st.sampled_from([b"\n", b"\r\n"]))
def test_decoder_is_independent_of_how_reads_are_split(lines: list[bytes], cuts: list[int], newline: bytes) -> None:
    stream = newline.join(lines) + newline
    whole = SSEDecoder()
    expected = whole.feed(stream) + whole.flush()

    points = sorted({c % (len(stream) + 1) for c in cuts})
    reads = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    split = SSEDecoder()
    got: list[str] = []
    for r in reads:
        got.extend(split.feed(r))
    got.extend(split.flush())
    assert got == expected
    assert all(isinstance(e, str) for e in got)
    assert not split.pending()  # flush leaves nothing behind
    for event in got:
        _check(parse_chunk(event))

    events, _pending = events_with_stamps(list(range(len(reads))), reads)
    assert [data for _, data in events] == expected[: len(events)]


@FUZZ
@given(usage=st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens"]), json_values))
def test_usage_numbers_are_ints_or_none(usage: dict[str, Any]) -> None:
    u = Usage.from_json(usage)
    assert u is not None
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        v = getattr(u, key)
        assert v is None or type(v) is int
