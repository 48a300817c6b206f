"""Client of the Vultr Serverless Inference API (OpenAI-compatible): ``chat``, ``stream`` and ``models``.

Built on the HTTP core of :mod:`vultr_toolkit._http` (retries per the foundation policy — a POST is retried only
when it surely was not processed, and a stream never after it opened — rate limiting, typed errors). The SSE
parsing is the pure :mod:`vultr_toolkit.api.sse`, shared with the benchmark engine.

Options of the original TypeScript ``callVultrInference`` map one to one:

=====================  ==========================
callVultrInference     here
=====================  ==========================
model                  ``model=``
messages               ``messages`` (a str is one user message)
timeoutMs              ``timeout_s=`` (seconds)
temperature            ``temperature=``
maxTokens              ``max_tokens=``
topP                   ``top_p=``
frequencyPenalty       ``frequency_penalty=``
presencePenalty        ``presence_penalty=``
stream                 ``chat(..., stream=True)`` (consumes the SSE stream, also measures ``ttft_s``) or
                       ``stream(...)`` (an iterator of typed chunks)
=====================  ==========================

Example::

    client = vt.Client(sb.settings())
    r = client.inference.chat("Say hi", model="qwen3.8-27b", max_tokens=16)
    r.text, r.finish_reason, r.usage.completion_tokens, r.latency_s
    for chunk in client.inference.stream("Count to 3", model="qwen3.8-27b", max_tokens=8):
        print(chunk.content, end="")
    client.inference.models()      # DataFrame: id, context_length, modalities, $ per 1M tokens
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from .._errors import (
    APIResponseError,
    ConfigError,
    InBandStreamError,
    StreamStalledError,
    StreamTruncatedError,
)
from .sse import ChatChunk, SSEDecoder, SSELineTooLong, Usage, parse_chunk

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .._settings import Settings

__all__ = [
    "AsyncInferenceAPI",
    "ChatChunk",
    "ChatResult",
    "InferenceAPI",
    "Usage",
    "build_chat_body",
    "model_pricing",
    "models_frame",
]

_PATH = "/chat/completions"

MODEL_COLUMNS: dict[str, str] = {
    "id": "string",
    "name": "string",
    "context_length": "Int64",
    "input_modalities": "string",
    "output_modalities": "string",
    "is_chat": "boolean",
    "reasoning": "boolean",
    "streaming": "boolean",
    "usd_per_1m_prompt": "Float64",
    "usd_per_1m_completion": "Float64",
    "is_ready": "boolean",
}


# --- pure helpers ---------------------------------------------------------------------------------------------
def _base_price(entries: Any, kind: str) -> Decimal | None:
    """The base price of ``kind`` (the entry without a UTC window), in USD per unit."""
    if not isinstance(entries, list):
        return None
    for e in entries:
        if isinstance(e, dict) and e.get("type") == kind and not any(k in e for k in ("utc_start", "utc_end",
                                                                                      "utc_days")):
            try:
                return Decimal(str(e.get("cost_usd")))
            except (InvalidOperation, ValueError):
                return None
    return None


def _modalities(doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    v = doc.get(key)
    return [m for m in v if isinstance(m, dict)] if isinstance(v, list) else []


def model_pricing(doc: Mapping[str, Any]) -> dict[str, float | None]:
    """USD per token of a Model Document's text prompt and completion (None when not priced per token).

    >>> model_pricing({"input_modalities": [{"type": "text", "pricing": [
    ...     {"type": "prompt", "unit": "token", "cost_usd": "0.0000002"}]}]})["prompt_usd_per_token"]
    2e-07
    """
    prompt = completion = None
    for m in _modalities(doc, "input_modalities"):
        if m.get("type") == "text":
            prompt = _base_price(m.get("pricing"), "prompt")
    for m in _modalities(doc, "output_modalities"):
        if m.get("type") == "text":
            p = m.get("pricing")
            if isinstance(p, list) and all(isinstance(e, dict) and e.get("unit", "token") == "token" for e in p):
                completion = _base_price(p, "completion")
    return {"prompt_usd_per_token": float(prompt) if prompt is not None else None,
            "completion_usd_per_token": float(completion) if completion is not None else None}


def models_frame(docs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``/v1/models`` documents -> one row per model, same columns and dtypes for 0, 1 or N models.

    ``usd_per_1m_*`` are the base prices (no time window) times 10⁶; ``is_chat`` means text output
    (the catalogue's rule for choosing chat models).
    """
    import pandas as pd

    rows = []
    for d in docs:
        ins, outs = _modalities(d, "input_modalities"), _modalities(d, "output_modalities")
        ctx = None
        for m in ins:
            v = (m.get("supported_inputs") or {}).get("max_context_length")
            if isinstance(v, dict) and isinstance(v.get("value"), int | float):
                ctx = int(v["value"])
            elif isinstance(v, int | float):
                ctx = int(v)
        if ctx is None and isinstance(d.get("context_length"), int | float):
            ctx = int(d["context_length"])  # OpenAI/OpenRouter-style flat field
        price = model_pricing(d)
        out_types = [str(m.get("type")) for m in outs]
        rows.append({
            "id": str(d.get("id", "")),
            "name": d.get("name"),
            "context_length": ctx,
            "input_modalities": ",".join(str(m.get("type")) for m in ins) or None,
            "output_modalities": ",".join(out_types) or None,
            "is_chat": "text" in out_types,
            "reasoning": isinstance(d.get("reasoning"), dict),
            "streaming": any(bool(m.get("streaming")) for m in outs if m.get("type") == "text"),
            "usd_per_1m_prompt": (price["prompt_usd_per_token"] * 1e6
                                  if price["prompt_usd_per_token"] is not None else None),
            "usd_per_1m_completion": (price["completion_usd_per_token"] * 1e6
                                      if price["completion_usd_per_token"] is not None else None),
            "is_ready": bool(d.get("is_ready", True)),
        })
    return pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=t) for c, t in MODEL_COLUMNS.items()})


def _messages(messages: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = [dict(m) for m in messages]
    if not out or not all("role" in m for m in out):
        raise ConfigError("messages: give a string or a non-empty list of {'role': ..., 'content': ...} dicts")
    return out


def build_chat_body(messages: str | Sequence[Mapping[str, Any]], *, model: str | None, temperature: float | None = None,
                    max_tokens: int | None = None, top_p: float | None = None,
                    frequency_penalty: float | None = None, presence_penalty: float | None = None,
                    stop: str | Sequence[str] | None = None, seed: int | None = None, stream: bool = False,
                    include_usage: bool = True, **extra: Any) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions``; unset options are left out (server defaults apply).

    >>> build_chat_body("hi", model="m", max_tokens=8)
    {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 8}
    """
    if not model:
        raise ConfigError("model: give the model id, e.g. model='qwen3.8-27b' (list them with inference.models())")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or max_tokens <= 0):
        raise ConfigError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    body: dict[str, Any] = {"model": model, "messages": _messages(messages)}
    for key, value in (("temperature", temperature), ("max_tokens", max_tokens), ("top_p", top_p),
                       ("frequency_penalty", frequency_penalty), ("presence_penalty", presence_penalty),
                       ("stop", stop), ("seed", seed)):
        if value is not None:
            body[key] = list(cast(Sequence[str], value)) if key == "stop" and not isinstance(value, str) else value
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return body


@dataclasses.dataclass(frozen=True)
class ChatResult:
    """The outcome of one chat completion.

    ``latency_s`` is the whole call (retries included); ``ttft_s`` the time to the first generated token
    (reasoning included) when the answer was streamed, else None.
    """

    text: str
    reasoning: str
    finish_reason: str | None
    usage: Usage | None
    latency_s: float
    model: str | None = None
    id: str | None = None
    ttft_s: float | None = None
    chunks: int = 0

    def __repr__(self) -> str:
        short = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return (f"ChatResult(text={short!r}, finish_reason={self.finish_reason!r}, "
                f"completion_tokens={self.usage.completion_tokens if self.usage else None}, "
                f"latency_s={self.latency_s:.3f})")


def _result_from_json(data: Mapping[str, Any], latency_s: float, path: str) -> ChatResult:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise APIResponseError(f"POST {path}: the response has no choices", method="POST", path=path)
    msg = choices[0].get("message") or {}
    return ChatResult(
        text=str(msg.get("content") or ""),
        reasoning=str(msg.get("reasoning") or msg.get("reasoning_content") or ""),
        finish_reason=choices[0].get("finish_reason"),
        usage=Usage.from_json(data.get("usage")),
        latency_s=latency_s,
        model=data.get("model"),
        id=data.get("id"),
    )


class _StreamState:
    """Pure stream bookkeeping shared by the sync and async drivers: decode, raise on errors, accumulate.

    ``stall_s``: the transport's read timeout is reset by any byte, so a server sending only ``: ping``
    comments would hold the stream forever; here a stall is no *data* line for ``stall_s`` (checked whenever
    bytes arrive; a silent server still hits the read timeout).
    """

    def __init__(self, path: str, stall_s: float | None = None) -> None:
        self.path = path
        self.decoder = SSEDecoder()
        self.stall_s = stall_s
        self.started = time.monotonic()
        self.last_data = self.started
        self.ttft_s: float | None = None
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.done = False
        self.model: str | None = None
        self.id: str | None = None
        self.chunks = 0

    def _decode(self, data: bytes) -> list[str]:
        seen = self.decoder.data_lines
        try:
            events = self.decoder.feed(data)
        except SSELineTooLong as e:
            raise APIResponseError(f"POST {self.path}: not a usable event stream: {e}", method="POST",
                                   path=self.path) from None
        now = time.monotonic()
        if self.decoder.data_lines != seen:
            self.last_data = now
        elif self.stall_s is not None and now - self.last_data > self.stall_s:
            raise StreamStalledError(f"POST {self.path}: the stream stalled, no data line within {self.stall_s} s "
                                     "(only comment / keep-alive lines arrived)", method="POST", path=self.path)
        return events

    def feed(self, data: bytes) -> list[ChatChunk]:
        out = []
        for ev in self._decode(data):
            ch = parse_chunk(ev)
            if ch.error is not None:
                raise InBandStreamError(f"POST {self.path}: the server reported an error inside the stream: "
                                        f"{ch.error_message}", method="POST", path=self.path,
                                        api_message=ch.error_message)
            if ch.done:
                self.done = True
                continue
            if ch.has_token:
                self.chunks += 1
                if self.ttft_s is None:
                    self.ttft_s = time.monotonic() - self.started
            self.text.append(ch.content)
            self.reasoning.append(ch.reasoning)
            self.finish = ch.finish_reason or self.finish
            self.usage = ch.usage or self.usage
            self.model = self.model or ch.model
            self.id = self.id or ch.id
            out.append(ch)
        return out

    def end(self) -> list[ChatChunk]:
        out = self.feed(b"") + [parse_chunk(e) for e in self.decoder.flush()]
        if not (self.done or self.finish):
            raise StreamTruncatedError(f"POST {self.path}: the stream ended without a finish_reason or [DONE]",
                                       method="POST", path=self.path)
        return [c for c in out if not c.done]

    def result(self) -> ChatResult:
        return ChatResult("".join(self.text), "".join(self.reasoning), self.finish, self.usage,
                          time.monotonic() - self.started, self.model, self.id, self.ttft_s, self.chunks)


class _Base:
    def __init__(self, core: Any, *, default_model: str | None = None) -> None:
        self._core = core
        self.default_model = default_model

    def _state(self, timeout_s: float | None) -> _StreamState:
        """Stream bookkeeping whose stall timeout is this call's ``timeout_s`` or else the core's read timeout."""
        if timeout_s is None:
            t = getattr(self._core, "_client_kw", {}).get("timeout")
            timeout_s = getattr(t, "read", None)
        return _StreamState(_PATH, timeout_s)

    def _body(self, messages: str | Sequence[Mapping[str, Any]], model: str | None, stream: bool,
              kw: dict[str, Any]) -> dict[str, Any]:
        return build_chat_body(messages, model=model or self.default_model, stream=stream, **kw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


class InferenceAPI(_Base):
    """Sync inference client (``client.inference``). ``core`` is an :class:`vultr_toolkit._http.HTTPCore`
    whose base URL is the inference endpoint (``.../v1``)."""

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **core_kw: Any) -> InferenceAPI:
        """Build on a fresh HTTP core from Settings (inference URL and key, timeout, inference retry policy)."""
        from .._http import HTTPCore, RetryPolicy
        from .._settings import Settings as _S

        s = settings or _S()
        core_kw.setdefault("policy", RetryPolicy.for_inference(max(s.timeout_s, 120.0)))
        return cls(HTTPCore(s.inference_url, api_key=s.secret("inference_api_key"), timeout_s=s.timeout_s,
                            name="inference", **core_kw))

    def chat(self, messages: str | Sequence[Mapping[str, Any]], *, model: str | None = None,
             temperature: float | None = None, max_tokens: int | None = None, top_p: float | None = None,
             frequency_penalty: float | None = None, presence_penalty: float | None = None,
             stop: str | Sequence[str] | None = None, seed: int | None = None, timeout_s: float | None = None,
             stream: bool = False, **extra: Any) -> ChatResult:
        """One chat completion -> :class:`ChatResult` (text, reasoning, finish_reason, usage, latency).

        >>> r = client.inference.chat("Say hi", model="qwen3.8-27b", max_tokens=16)
        >>> r.text, r.usage.completion_tokens, r.finish_reason
        ('...', 16, 'length')
        """
        kw = dict(temperature=temperature, max_tokens=max_tokens, top_p=top_p, frequency_penalty=frequency_penalty,
                  presence_penalty=presence_penalty, stop=stop, seed=seed, **extra)
        if stream:
            state = self._state(timeout_s)
            for _ in self._chunks(self._body(messages, model, True, kw), timeout_s, state):
                pass
            return state.result()
        t0 = time.monotonic()
        resp = self._core.request("POST", _PATH, json=self._body(messages, model, False, kw), timeout_s=timeout_s)
        return _result_from_json(resp.data, time.monotonic() - t0, _PATH)

    def stream(self, messages: str | Sequence[Mapping[str, Any]], *, model: str | None = None,
               temperature: float | None = None, max_tokens: int | None = None, top_p: float | None = None,
               frequency_penalty: float | None = None, presence_penalty: float | None = None,
               stop: str | Sequence[str] | None = None, seed: int | None = None, timeout_s: float | None = None,
               **extra: Any) -> Iterator[ChatChunk]:
        """Stream a chat completion: yields typed :class:`ChatChunk` s (role preamble, reasoning, content,
        finish and usage chunks). Raises :class:`InBandStreamError` on an error event and
        :class:`StreamTruncatedError` when the stream ends early; never retried once open.

        >>> "".join(c.content for c in client.inference.stream("hi", model="qwen3.8-27b", max_tokens=8))
        '...'
        """
        kw = dict(temperature=temperature, max_tokens=max_tokens, top_p=top_p, frequency_penalty=frequency_penalty,
                  presence_penalty=presence_penalty, stop=stop, seed=seed, **extra)
        return self._chunks(self._body(messages, model, True, kw), timeout_s, self._state(timeout_s))

    def _chunks(self, body: dict[str, Any], timeout_s: float | None, state: _StreamState) -> Iterator[ChatChunk]:
        with self._core.stream("POST", _PATH, json=body, timeout_s=timeout_s) as s:
            for data in s.iter_bytes():
                yield from state.feed(data)
        yield from state.end()

    def models(self) -> pd.DataFrame:
        """The models the endpoint serves (``GET /models``, public on Vultr) as a DataFrame.

        >>> client.inference.models()[["id", "context_length", "usd_per_1m_completion"]]
                            id  context_length  usd_per_1m_completion
        0          qwen3.8-27b          131072                    0.6
        1  deepseek-v4.1-flash          131072                    1.1
        2        glm-5.3-flash          131072                    0.4
        3   bge-reranker-v2-m3            8192                   <NA>
        """
        data = self._core.request_json("GET", "/models")
        return models_frame(_model_docs(data))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._core.close()


class AsyncInferenceAPI(_Base):
    """Async twin of :class:`InferenceAPI` (``vt.AsyncClient(...).inference``); same methods, awaited."""

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **core_kw: Any) -> AsyncInferenceAPI:
        """Build on a fresh async HTTP core from Settings."""
        from .._http import AsyncHTTPCore, RetryPolicy
        from .._settings import Settings as _S

        s = settings or _S()
        core_kw.setdefault("policy", RetryPolicy.for_inference(max(s.timeout_s, 120.0)))
        core: AsyncHTTPCore = AsyncHTTPCore(s.inference_url, api_key=s.secret("inference_api_key"),
                                            timeout_s=s.timeout_s, name="inference", **core_kw)
        return cls(core)

    async def chat(self, messages: str | Sequence[Mapping[str, Any]], *, model: str | None = None,
                   temperature: float | None = None, max_tokens: int | None = None, top_p: float | None = None,
                   frequency_penalty: float | None = None, presence_penalty: float | None = None,
                   stop: str | Sequence[str] | None = None, seed: int | None = None,
                   timeout_s: float | None = None, stream: bool = False, **extra: Any) -> ChatResult:
        """Async :meth:`InferenceAPI.chat`.

        >>> import asyncio
        >>> async def main():
        ...     async with vt.AsyncClient(sb.settings()) as aclient:
        ...         return await aclient.inference.chat("hi", model="qwen3.8-27b", max_tokens=8)
        >>> asyncio.run(main()).usage.completion_tokens
        8
        """
        kw = dict(temperature=temperature, max_tokens=max_tokens, top_p=top_p, frequency_penalty=frequency_penalty,
                  presence_penalty=presence_penalty, stop=stop, seed=seed, **extra)
        if stream:
            state = self._state(timeout_s)
            async for _ in self._chunks(self._body(messages, model, True, kw), timeout_s, state):
                pass
            return state.result()
        t0 = time.monotonic()
        resp = await self._core.request("POST", _PATH, json=self._body(messages, model, False, kw),
                                        timeout_s=timeout_s)
        return _result_from_json(resp.data, time.monotonic() - t0, _PATH)

    def stream(self, messages: str | Sequence[Mapping[str, Any]], *, model: str | None = None,
               temperature: float | None = None, max_tokens: int | None = None, top_p: float | None = None,
               frequency_penalty: float | None = None, presence_penalty: float | None = None,
               stop: str | Sequence[str] | None = None, seed: int | None = None, timeout_s: float | None = None,
               **extra: Any) -> AsyncIterator[ChatChunk]:
        """Async iterator of typed chunks (``async for c in aclient.inference.stream(...)``)."""
        kw = dict(temperature=temperature, max_tokens=max_tokens, top_p=top_p, frequency_penalty=frequency_penalty,
                  presence_penalty=presence_penalty, stop=stop, seed=seed, **extra)
        return self._chunks(self._body(messages, model, True, kw), timeout_s, self._state(timeout_s))

    async def _chunks(self, body: dict[str, Any], timeout_s: float | None,
                      state: _StreamState) -> AsyncIterator[ChatChunk]:
        async with self._core.stream("POST", _PATH, json=body, timeout_s=timeout_s) as s:
            async for data in s.aiter_bytes():
                for ch in state.feed(data):
                    yield ch
        for ch in state.end():
            yield ch

    async def models(self) -> pd.DataFrame:
        """Async :meth:`InferenceAPI.models`."""
        data = await self._core.request_json("GET", "/models")
        return models_frame(_model_docs(data))

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._core.aclose()


def _model_docs(data: Any) -> list[dict[str, Any]]:
    docs = data.get("data") if isinstance(data, dict) else data
    if not isinstance(docs, list):
        raise APIResponseError("GET /models: expected {'data': [...]}", method="GET", path="/models")
    return [d for d in docs if isinstance(d, dict)]

