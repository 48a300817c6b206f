"""Pure Server-Sent-Events and ``chat.completion.chunk`` parsing, shared by ``client.inference`` and the benchmark.

No I/O here: the transports (httpx2 in ``client.inference``, aiohttp in the benchmark engine) hand over bytes,
and these functions turn them into typed :class:`ChatChunk` objects. Keeping the parser pure lets the benchmark
stamp bytes on arrival and parse them later, off the hot path.

Tolerated, because OpenAI-compatible servers differ (Vultr's gateway, vLLM, llama.cpp, OpenRouter):
``\\r\\n`` line ends, comment / keep-alive lines (``: ping``), multi-line ``data:`` fields, ``event: error``,
a missing ``[DONE]``, usage in the last chunk, in every chunk (vLLM's ``continuous_usage_stats``) or not at all,
reasoning text in ``delta.reasoning`` (Vultr/OpenRouter) or ``delta.reasoning_content`` (vLLM/DeepSeek).

Example::

    >>> dec = SSEDecoder()
    >>> events = dec.feed(b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\\n\\ndata: [DONE]\\n\\n')
    >>> [parse_chunk(e).content for e in events]
    ['Hi', '']
    >>> parse_chunk(events[1]).done
    True
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "MAX_LINE_BYTES",
    "ChatChunk",
    "SSEDecoder",
    "SSELineTooLong",
    "Usage",
    "events_with_stamps",
    "parse_chunk",
]

# Longest SSE line a decoder buffers. A real line is one JSON chunk of a few hundred bytes; 1 MiB leaves room
# for huge tool-call deltas while a server sending 10 MB without a newline cannot grow the client's memory.
MAX_LINE_BYTES = 1 << 20


class SSELineTooLong(ValueError):
    """An SSE line grew past the decoder's ``max_line_bytes`` without a newline (a protocol error; callers
    turn it into their typed error)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as the server reports it (``usage`` object)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    @classmethod
    def from_json(cls, obj: Any) -> Usage | None:
        """Build from a ``usage`` JSON object; None when absent or not an object."""
        if not isinstance(obj, dict):
            return None

        def num(key: str) -> int | None:
            v = obj.get(key)
            # json.loads accepts NaN/Infinity, and int() of those raises: treat them as "not reported".
            if isinstance(v, bool) or not isinstance(v, int | float):
                return None
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return int(v)

        return cls(num("prompt_tokens"), num("completion_tokens"), num("total_tokens"))


@dataclasses.dataclass(frozen=True, slots=True)
class ChatChunk:
    """One SSE ``data:`` message of a chat completion stream, typed.

    ``kind`` says what it carries: ``"content"``, ``"reasoning"`` (thinking tokens only), ``"role"`` (the
    role-only preamble), ``"finish"`` (empty delta with a finish_reason), ``"usage"`` (``choices: []`` and a
    usage object), ``"error"`` (an in-band error event), ``"done"`` (``[DONE]``) or ``"empty"``.
    """

    content: str = ""
    reasoning: str = ""
    role: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    error: dict[str, Any] | None = None
    done: bool = False
    id: str | None = None
    model: str | None = None
    raw: str = dataclasses.field(default="", repr=False)
    # True when ``error`` is ours (the data was not JSON / not an object), not the server's in-band error:
    # the benchmark counts it as a protocol error instead of blaming the model server.
    malformed: bool = False

    @property
    def has_token(self) -> bool:
        """True when the chunk carries generated text (answer or reasoning): what TTFT waits for."""
        return bool(self.content or self.reasoning)

    @property
    def kind(self) -> str:
        if self.error is not None:
            return "error"
        if self.done:
            return "done"
        if self.content:
            return "content"
        if self.reasoning:
            return "reasoning"
        if self.finish_reason is not None:
            return "finish"
        if self.role is not None:
            return "role"
        if self.usage is not None:
            return "usage"
        return "empty"

    @property
    def error_message(self) -> str:
        """The in-band error's message ('' when this is not an error chunk)."""
        if self.error is None:
            return ""
        msg = self.error.get("message")
        return str(msg) if msg is not None else json.dumps(self.error)[:200]


_DONE = ChatChunk(done=True, raw="[DONE]")


def parse_chunk(data: str) -> ChatChunk:
    """Parse the payload of one ``data:`` field into a :class:`ChatChunk`.

    Malformed JSON is reported as an error chunk (``error={"message": ...}``) rather than raised, so one bad
    message cannot lose a benchmark row.

    >>> parse_chunk('{"choices":[{"index":0,"delta":{"reasoning":"hm"},"finish_reason":null}]}').kind
    'reasoning'
    >>> parse_chunk('{"error":{"code":502,"message":"The model could not be reached"}}').error_message
    'The model could not be reached'
    """
    text = data.strip()
    if text == "[DONE]":
        return _DONE
    try:
        obj = json.loads(text)
    except ValueError:
        return ChatChunk(error={"message": f"malformed SSE data: {text[:80]!r}"}, raw=data, malformed=True)
    if not isinstance(obj, dict):
        return ChatChunk(error={"message": f"unexpected SSE data: {text[:80]!r}"}, raw=data, malformed=True)
    err = obj.get("error")
    if err is not None:
        return ChatChunk(error=err if isinstance(err, dict) else {"message": str(err)}, raw=data)
    content = reasoning = ""
    role = finish = None
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, dict):
            content = delta.get("content") or ""
            reasoning = delta.get("reasoning") or delta.get("reasoning_content") or ""
            role = delta.get("role")
        finish = choice.get("finish_reason")
    return ChatChunk(
        content=content if isinstance(content, str) else "",
        reasoning=reasoning if isinstance(reasoning, str) else "",
        role=role if isinstance(role, str) else None,
        finish_reason=finish if isinstance(finish, str) else None,
        usage=Usage.from_json(obj.get("usage")),
        id=obj.get("id") if isinstance(obj.get("id"), str) else None,
        model=obj.get("model") if isinstance(obj.get("model"), str) else None,
        raw=data,
    )


class SSEDecoder:
    """Incremental SSE decoder: feed bytes as they arrive, get the ``data`` payloads of complete events.

    An event is complete at its blank line; an ``event: error`` event's data is wrapped as an error object
    when it is not one already. :meth:`pending` tells whether bytes of an unfinished event are left over.
    ``data_lines`` counts the ``data:`` lines seen (comment / keep-alive lines do not count), so a caller can
    tell a live stream from one that only pings. A line longer than ``max_line_bytes`` (None: no limit)
    raises :class:`SSELineTooLong` instead of being buffered.

    >>> d = SSEDecoder()
    >>> d.feed(b"data: a\\r\\n")
    []
    >>> d.feed(b"data: b\\r\\n\\r\\n: keep-alive\\n\\n")
    ['a\\nb']
    """

    __slots__ = ("_buf", "_data", "_event", "data_lines", "max_line_bytes")

    def __init__(self, max_line_bytes: int | None = MAX_LINE_BYTES) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event = ""
        self.data_lines = 0
        self.max_line_bytes = max_line_bytes

    def feed(self, chunk: bytes) -> list[str]:
        buf = self._buf + chunk
        out: list[str] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    data = "\n".join(self._data)
                    if self._event == "error" and not data.lstrip().startswith('{"error"'):
                        data = json.dumps({"error": {"message": data}})
                    out.append(data)
                self._data = []
                self._event = ""
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self.data_lines += 1
                self._data.append(value.decode("utf-8", "replace"))
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        self._buf = buf[start:]
        if self.max_line_bytes is not None and len(self._buf) > self.max_line_bytes:
            self._buf = b""
            raise SSELineTooLong(f"an SSE line exceeded {self.max_line_bytes} bytes without a newline")
        return out

    def pending(self) -> bool:
        """True when an unfinished event (bytes without their blank line) is buffered."""
        return bool(self._buf.strip() or self._data)

    def flush(self) -> list[str]:
        """At end of stream: complete a last event whose blank line never came (lenient, for a missing
        final newline); returns its data, if any."""
        out = self.feed(b"\n\n") if self._buf.strip() or self._data else []
        self._buf = b""
        return out


def events_with_stamps(stamps: Sequence[int], reads: Sequence[bytes]) -> tuple[list[tuple[int, str]], bool]:
    """Split timestamped network reads into ``(stamp, data)`` events.

    Each event gets the stamp of the read that *completed* it — the earliest moment the client could have
    acted on it. Returns the events and whether an unfinished event was left over at the end.

    >>> events_with_stamps([10, 20], [b"data: x\\n", b"\\ndata: y\\n\\n"])
    ([(20, 'x'), (20, 'y')], False)
    """
    dec = SSEDecoder(max_line_bytes=None)  # the engine already bounded what it kept
    out: list[tuple[int, str]] = []
    for stamp, data in zip(stamps, reads, strict=True):
        for ev in dec.feed(data):
            out.append((stamp, ev))
    return out, dec.pending()


def parse_all(events: Iterable[str]) -> list[ChatChunk]:
    """Parse a sequence of ``data`` payloads."""
    return [parse_chunk(e) for e in events]
