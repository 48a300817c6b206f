"""The pure SSE / chat-chunk parser shared by client.inference and the benchmark engine."""

from __future__ import annotations

from vultr_toolkit.api.sse import SSEDecoder, events_with_stamps, parse_chunk


def test_decoder_handles_crlf_comments_multiline_and_split_reads() -> None:
    dec = SSEDecoder()
    out = dec.feed(b": keep-alive\r\n\r\ndata: {\"a\":\r\n")
    assert out == []
    out = dec.feed(b"data: 1}\r\n\r\nda")
    assert out == ['{"a":\n1}']
    assert dec.pending()
    out = dec.feed(b"ta: [DONE]\n\n")
    assert out == ["[DONE]"]
    assert not dec.pending()


def test_event_error_field_becomes_error_chunk() -> None:
    (data,) = SSEDecoder().feed(b"event: error\ndata: overloaded\n\n")
    chunk = parse_chunk(data)
    assert chunk.kind == "error"
    assert chunk.error_message == "overloaded"


def test_chunk_kinds() -> None:
    role = parse_chunk('{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}')
    assert role.kind == "role" and not role.has_token
    reasoning = parse_chunk('{"choices":[{"index":0,"delta":{"reasoning":"hm"}}]}')
    assert reasoning.kind == "reasoning" and reasoning.has_token and reasoning.content == ""
    vllm_style = parse_chunk('{"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}')
    assert vllm_style.reasoning == "hm"
    finish = parse_chunk('{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    assert finish.kind == "finish" and finish.finish_reason == "stop"
    usage = parse_chunk('{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}')
    assert usage.kind == "usage" and usage.usage is not None and usage.usage.completion_tokens == 7
    assert parse_chunk("[DONE]").done
    err = parse_chunk('{"error":{"code":502,"message":"The model could not be reached"}}')
    assert err.kind == "error" and err.error_message == "The model could not be reached"


def test_malformed_json_is_an_error_chunk_not_an_exception() -> None:
    chunk = parse_chunk("{not json")
    assert chunk.kind == "error"
    assert "malformed" in chunk.error_message


def test_events_get_the_stamp_of_the_read_that_completed_them() -> None:
    events, leftover = events_with_stamps([100, 200, 300], [b"data: a\n", b"\ndata: b\n\ndata: c", b"\n\n"])
    assert events == [(200, "a"), (200, "b"), (300, "c")]
    assert not leftover
    _, leftover = events_with_stamps([1], [b"data: partial"])
    assert leftover
