"""Inference half of the sandbox: an emulator of the Vultr Serverless Inference API (OpenAI-compatible).

The sandbox server constructs it and mounts its routes on the shared aiohttp application::

    emu = InferenceEmulator(seed=seed, **options)
    emu.add_routes(app)          # /v1/models, /v1/chat/completions, /v1/emulator/...

What it emulates (Vultr's inference gateway as it answers today, which has moved past its 2023 documents):

* ``GET /v1/models`` — public; OpenRouter-style *Model Documents* (schema 2.4) with pricing as decimal strings
  per token, input/output modalities, context length and reasoning descriptors.
* ``POST /v1/chat/completions`` — non-streaming and SSE streaming. A stream starts with a role-only frame
  (``{"role":"assistant","content":""}``, sent at once, so a client that counts it as the first token gets a
  wrong TTFT), then ``delta.reasoning`` chunks for reasoning models, then ``delta.content`` chunks of
  ``tokens_per_chunk`` tokens, a finish frame, a usage chunk *only* when ``stream_options.include_usage`` is
  sent (per-chunk cumulative usage with vLLM's ``continuous_usage_stats``), and ``data: [DONE]``.
* Timing per model: TTFT, a log-normal inter-token interval, tokens per chunk, and a batching model in which the
  per-token time grows with the number of streams active on that model:
  ``itl = itl_s * (1 + batch_slowdown * (active - 1)) * jitter``. Every frame is paced against an absolute
  deadline (request start + cumulative intervals, so lateness never accumulates) and its send time is stamped
  with :func:`time.monotonic_ns` right before the write — the same CLOCK_MONOTONIC a client in any process on
  this machine reads (event-loop timers have ~1 ms granularity, so a frame can leave up to ~1 ms *early*;
  ``lateness_ms`` records that too). :meth:`InferenceEmulator.chunk_log` returns those stamps and the
  emulator's own lateness.
* ``seed``: the same request seed and messages give the same text.
* ``stop`` (string or list) ends the output before the first stop string, ``finish_reason`` "stop".
* Prefill: with ``prefill_tok_s`` > 0 a model's TTFT is ``ttft_s * jitter + prompt_tokens / prefill_tok_s``
  (times ``time_scale``), so a test knows it exactly.
* ``POST /v1/embeddings`` — for models with ``output="embedding"``: ``input`` str or list, deterministic unit
  vectors of ``embedding_dim`` (a hash of seed and text), ``usage.prompt_tokens``; latency is
  ``ttft_s + sum(prompt_tokens) / prefill_tok_s``. Each model document lists the ``endpoints`` it serves.
* Auth: chat needs ``Authorization: Bearer <api_key>``; without one the answer is Vultr's
  ``401 {"message": "No API key provided"}``; other errors use the OpenRouter envelope
  ``{"error": {"code", "message", "type", "metadata": {"error_type"}}}``.
* Faults (chosen per request by the ``X-Emulator-Fault`` header, else the ``fault_cycle`` list, else the ``faults``
  probabilities): ``http_429`` (with ``Retry-After``), ``http_502``, ``http_504``, ``in_band_error`` (an SSE
  error event after HTTP 200), ``cut`` (the connection drops mid-stream), ``stall`` (the stream stops sending
  until the client gives up).

Options (constructor keywords, or later :meth:`InferenceEmulator.configure`): ``models`` (id -> overrides of
:class:`ModelProfile` fields; a new id adds a model), ``time_scale`` (multiplies every delay; tests use ~0.05),
``faults``, ``fault_cycle``, ``fault_after_chunks`` (token chunks sent before an in-band error, cut or stall),
``retry_after_s``, ``stall_s``, ``usage`` (``"auto"`` honours include_usage, ``"never"`` drops the usage chunk,
``"always"`` sends it unasked), ``log_chunks`` and ``log_limit``.

Run it alone (own process, e.g. for ``benchmarks/bench_harness.py``)::

    python -m vultr_toolkit.sandbox.inference --port 0 --options '{"time_scale": 1}'
    # prints "READY http://127.0.0.1:<port>/v1 <api_key>" once it listens

Example:

>>> emu = InferenceEmulator(seed=0, time_scale=0.1, fault_cycle=["none", "http_429"])
>>> emu.model_ids()
['qwen3.8-27b', 'deepseek-v4.1-flash', 'glm-5.3-flash', 'bge-reranker-v2-m3']
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import web

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FAULT_KINDS", "InferenceEmulator", "ModelProfile", "main"]

FAULT_KINDS = ("none", "http_429", "http_502", "http_504", "in_band_error", "cut", "stall")

# Five characters each (leading space included) so that a client distributing usage tokens over chunks by
# character count gets the emulator's exact per-chunk token counts.
_CONTENT_WORDS = (" lore", " ipsu", " dolo", " sitm", " amet", " cons", " adip", " elit", " sedd", " eius",
                  " temp", " inci", " labo", " magn", " aliq", " veni")
_REASONING_WORDS = (" thin", " hmmm", " step", " cons", " ider", " next", " plan", " chec")


@dataclasses.dataclass
class ModelProfile:
    """How one emulated model behaves. Times are seconds before ``time_scale``; prices are USD per token."""

    id: str
    name: str = ""
    ttft_s: float = 0.05
    ttft_cv: float = 0.1            # log-normal sigma of TTFT jitter (0 = exact)
    itl_s: float = 0.02
    itl_cv: float = 0.1             # log-normal sigma of the inter-token jitter (0 = exact)
    tokens_per_chunk: int = 1
    reasoning_tokens: int = 0       # > 0: a reasoning model that thinks this many tokens first
    batch_slowdown: float = 0.002   # per extra active stream on this model
    context_length: int = 131072
    prompt_usd: str = "0.0000002"
    completion_usd: str = "0.0000006"
    output: str = "text"            # "text" = chat model; "embedding" serves /v1/embeddings; others refuse both
    prefill_tok_s: float = 0.0      # > 0: TTFT grows by prompt_tokens / prefill_tok_s (0 = prompt length is free)
    embedding_dim: int = 8          # length of each /v1/embeddings vector (embedding models only)

    def document(self) -> dict[str, Any]:
        """The OpenRouter 'Model Document' (schema 2.4) that Vultr's ``/v1/models`` returns."""
        doc: dict[str, Any] = {
            "schema_version": "2.4",
            "id": self.id,
            "name": self.name or self.id,
            "created": 1767225600,
            "description": f"Emulated model {self.id} (vultr_toolkit sandbox)",
            "datacenters": [{"country_code": "US", "region": "ewr"}],
            "hugging_face_id": f"emulator/{self.id}",
            "quantization": "fp8",
            "input_modalities": [{
                "type": "text",
                "supported_inputs": {"max_context_length": {"value": self.context_length, "unit": "token"}},
                "pricing": [{"type": "prompt", "unit": "token", "cost_usd": self.prompt_usd}],
            }],
            "output_modalities": [{
                "type": self.output,
                "streaming": self.output == "text",
                "endpoints": (["/v1/chat/completions"] if self.output == "text"
                              else ["/v1/embeddings"] if self.output == "embedding" else []),
                "max_length": {"value": min(self.context_length, 32768), "unit": "token"},
                "supported_parameters": {
                    "temperature": {"type": "range", "min": 0, "max": 2},
                    "top_p": {"type": "range", "min": 0, "max": 1},
                    "max_tokens": {"type": "range", "min": 1, "max": 32768},
                },
                "pricing": [{"type": "completion", "unit": "token", "cost_usd": self.completion_usd}],
            }],
            "pricing": [{"type": "request", "unit": "request", "cost_usd": "0"}],
            "is_ready": True,
        }
        if self.reasoning_tokens > 0:
            doc["reasoning"] = {"mandatory": True, "default_effort": "medium", "default_enabled": True,
                                "supported_efforts": ["high", "medium", "low"], "supports_max_tokens": True}
        return doc


DEFAULT_MODELS: tuple[ModelProfile, ...] = (
    ModelProfile("qwen3.8-27b", name="Qwen 3.8 27B (emulated)"),
    ModelProfile("deepseek-v4.1-flash", name="DeepSeek V4.1 Flash (emulated)", reasoning_tokens=8,
                 ttft_s=0.08, itl_s=0.015, prompt_usd="0.00000027", completion_usd="0.0000011"),
    ModelProfile("glm-5.3-flash", name="GLM 5.3 Flash (emulated, multi-token chunks)", tokens_per_chunk=3,
                 itl_s=0.01, prompt_usd="0.0000001", completion_usd="0.0000004"),
    ModelProfile("bge-reranker-v2-m3", name="BGE reranker v2 m3 (emulated)", output="rerank",
                 context_length=8192, prompt_usd="0.00000001", completion_usd="0"),
)

_DEFAULT_OPTIONS: dict[str, Any] = {
    "time_scale": 1.0,
    "faults": {},
    "fault_cycle": None,
    "fault_after_chunks": 2,
    "retry_after_s": 1.0,
    "stall_s": 3600.0,
    "usage": "auto",
    "log_chunks": True,
    "log_limit": 5_000_000,
    "default_max_tokens": 512,   # Vultr's documented default when the request omits max_tokens
}

_ERRORS: dict[int, tuple[str, str, str]] = {  # status -> (message, type, metadata.error_type)
    400: ("Bad request", "invalid_request_error", "invalid_request"),
    401: ("Invalid API key", "authentication_error", "invalid_api_key"),
    404: ("Model not found", "invalid_request_error", "model_not_found"),
    429: ("Rate limit exceeded", "rate_limit_error", "rate_limited"),
    502: ("The model could not be reached", "server_error", "model_unreachable"),
    504: ("The model timed out", "server_error", "model_timeout"),
}


def error_envelope(status: int, message: str | None = None) -> dict[str, Any]:
    """The OpenRouter-style error body Vultr Serverless Inference sends (``{"error": {...}}``)."""
    default, etype, meta = _ERRORS.get(status, ("Error", "server_error", "unknown"))
    return {"error": {"code": status, "message": message or default, "type": etype,
                      "metadata": {"error_type": meta}}}


class InferenceEmulator:
    """Emulates ``/v1/models`` and ``/v1/chat/completions`` with per-model timing and faults.

    >>> emu = InferenceEmulator(seed=1, time_scale=0.01)
    >>> emu.api_key
    'sandbox-inference-key'
    """

    api_key = "sandbox-inference-key"

    def __init__(self, seed: int = 0, **options: Any) -> None:
        self.seed = seed
        self.options: dict[str, Any] = dict(_DEFAULT_OPTIONS)
        self._profiles: dict[str, ModelProfile] = {m.id: dataclasses.replace(m) for m in DEFAULT_MODELS}
        self._active: dict[str, int] = {}
        self._requests = 0
        self._cycle_start = 0
        self._fault_rng = np.random.default_rng((seed, 1))
        self._log: dict[str, list[int]] = {k: [] for k in ("request", "index", "tokens", "due_ns", "sent_ns")}
        self.configure(**options)

    # --- configuration ----------------------------------------------------------------------------------------
    def configure(self, **options: Any) -> None:
        """Change options at runtime (also reachable as ``POST /v1/emulator/config``).

        >>> emu = InferenceEmulator()
        >>> emu.configure(fault_cycle=["stall"], models={"qwen3.8-27b": {"itl_s": 0.001}})
        """
        unknown = set(options) - set(_DEFAULT_OPTIONS) - {"models"}
        if unknown:
            raise ValueError(f"unknown InferenceEmulator option(s) {sorted(unknown)}; "
                             f"known: {sorted([*_DEFAULT_OPTIONS, 'models'])}")
        for name, value in (options.get("models") or {}).items():
            base = self._profiles.get(name, ModelProfile(name))
            self._profiles[name] = dataclasses.replace(base, **{**dict(value), "id": name})
        for key, value in options.items():
            if key != "models":
                self.options[key] = value
        if "fault_cycle" in options:
            self._cycle_start = self._requests  # a new cycle starts with its first entry
        for kind in list(self.options["faults"]) + list(self.options["fault_cycle"] or []):
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known: {FAULT_KINDS}")

    def model_ids(self) -> list[str]:
        """Ids of every emulated model, chat and non-chat."""
        return list(self._profiles)

    def profile(self, model: str) -> ModelProfile:
        """The behaviour profile of one model (``KeyError`` if unknown)."""
        return self._profiles[model]

    @property
    def chat_requests(self) -> int:
        """Valid chat requests received so far (counted on arrival, faulted ones included)."""
        return self._requests

    def active_streams(self, model: str | None = None) -> int:
        """Requests currently being answered (for one model, or all)."""
        return sum(self._active.values()) if model is None else self._active.get(model, 0)

    # --- the chunk log ----------------------------------------------------------------------------------------
    def chunk_log(self, *, clear: bool = False) -> pd.DataFrame:
        """Server-side send stamps of every streamed frame: the truth a client's timing is compared against.

        Columns: ``request_id`` (the ``id`` field of the frames), ``index`` (0 = role frame, in send order,
        ``[DONE]`` included), ``tokens`` in the frame, ``due_ns`` (its absolute deadline), ``sent_ns``
        (:func:`time.monotonic_ns` right before the write) and ``lateness_ms`` (sent − due: the emulator's own
        pacing error, which is not the client's fault).
        """
        import pandas as pd

        log = self._log
        df = pd.DataFrame({
            "request_id": pd.Series([f"chatcmpl-emu-{n}" for n in log["request"]], dtype="string"),
            "index": pd.Series(log["index"], dtype="int64"),
            "tokens": pd.Series(log["tokens"], dtype="int64"),
            "due_ns": pd.Series(log["due_ns"], dtype="int64"),
            "sent_ns": pd.Series(log["sent_ns"], dtype="int64"),
        })
        df["lateness_ms"] = (df["sent_ns"] - df["due_ns"]) / 1e6
        if clear:
            self.clear_chunk_log()
        return df

    def clear_chunk_log(self) -> None:
        """Forget every logged frame (the log is capped at ``log_limit`` rows)."""
        for values in self._log.values():
            values.clear()

    # --- routes -----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """Register the emulator's routes under ``/v1`` on an aiohttp application."""
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/emulator/chunks", self._chunks_route)
        app.router.add_post("/v1/emulator/config", self._config_route)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [p.document() for p in self._profiles.values()]})

    def _auth_error(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.strip():
            return web.json_response({"message": "No API key provided"}, status=401)
        if header != f"Bearer {self.api_key}":
            return web.json_response(error_envelope(401), status=401)
        return None

    async def _chunks_route(self, request: web.Request) -> web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        log = {k: list(v) for k, v in self._log.items()}
        if request.query.get("clear") in ("1", "true"):
            self.clear_chunk_log()
        return web.json_response(log)

    async def _config_route(self, request: web.Request) -> web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        try:
            self.configure(**(await request.json()))
        except (ValueError, TypeError) as e:
            return web.json_response(error_envelope(400, str(e)), status=400)
        return web.json_response({"ok": True})

    def _pick_fault(self, request: web.Request, n: int) -> str:
        header = request.headers.get("X-Emulator-Fault")
        if header in FAULT_KINDS:
            return header
        cycle: Sequence[str] | None = self.options["fault_cycle"]
        if cycle:
            return cycle[(n - 1 - self._cycle_start) % len(cycle)]
        faults: dict[str, float] = self.options["faults"]
        if faults:
            u = float(self._fault_rng.random())
            for kind, p in faults.items():
                if u < p:
                    return kind
                u -= p
        return "none"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth_error(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(error_envelope(400, "Request body is not valid JSON"), status=400)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return web.json_response(error_envelope(400, "'messages' must be a non-empty list"), status=400)
        model = body.get("model")
        profile = self._profiles.get(model) if isinstance(model, str) else None
        if profile is None:
            return web.json_response(error_envelope(404, f"Model {model!r} not found; see GET /v1/models"),
                                     status=404)
        if profile.output != "text":
            return web.json_response(error_envelope(400, f"Model {model!r} is not a chat model"), status=400)
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens", self.options["default_max_tokens"]))
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
            return web.json_response(error_envelope(400, "'max_tokens' must be a positive integer"), status=400)
        if max_tokens > profile.context_length:
            # Like the real API; without it a max_tokens of 10**9 made the plan allocate 10**9 tokens (a 500/OOM).
            return web.json_response(error_envelope(400, f"'max_tokens' exceeds the model's context length of "
                                                         f"{profile.context_length} tokens"), status=400)

        if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
            # OpenAI-compatible servers answer 400 here; the emulator used to call .get() on a bool and send a 500.
            return web.json_response(error_envelope(400, "'stream_options' must be an object, e.g. "
                                                         '{"include_usage": true}'), status=400)

        self._requests += 1
        n = self._requests
        fault = self._pick_fault(request, n)
        if fault == "http_429":
            resp = web.json_response(error_envelope(429), status=429)
            resp.headers["Retry-After"] = f"{self.options['retry_after_s']:g}"
            return resp
        if fault in ("http_502", "http_504"):
            status = int(fault[-3:])
            return web.json_response(error_envelope(status), status=status)

        plan = _Plan(profile, max_tokens, body, np.random.default_rng((self.seed, n)), self._text_rng(body))
        self._active[profile.id] = self._active.get(profile.id, 0) + 1
        try:
            if body.get("stream"):
                return await self._stream(request, n, profile, plan, body, fault)
            return await self._complete(request, n, profile, plan, fault)
        finally:
            self._active[profile.id] -= 1

    def _text_rng(self, body: dict[str, Any]) -> np.random.Generator | None:
        """With a request ``seed``, the text depends only on (emulator seed, request seed, prompt), like a
        seeded sampler; without one every request draws fresh text."""
        seed = body.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            return None
        prompt = json.dumps(body.get("messages"), sort_keys=True).encode()
        return np.random.default_rng((self.seed, 2, seed & 0xFFFFFFFF, int.from_bytes(
            hashlib.sha256(prompt).digest()[:4], "big")))

    def reset(self) -> None:
        """Forget requests, the fault-cycle position and the chunk log (options and models stay).

        >>> emu = InferenceEmulator()
        >>> emu.reset(); emu.chat_requests
        0
        """
        self._requests = 0
        self._cycle_start = 0
        self._fault_rng = np.random.default_rng((self.seed, 1))
        self.clear_chunk_log()

    async def _embeddings(self, request: web.Request) -> web.Response:
        """``POST /v1/embeddings``: deterministic unit vectors (a hash of seed and text), usage.prompt_tokens."""
        if (denied := self._auth_error(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(error_envelope(400, "Request body is not valid JSON"), status=400)
        model = body.get("model") if isinstance(body, dict) else None
        profile = self._profiles.get(model) if isinstance(model, str) else None
        if profile is None:
            return web.json_response(error_envelope(404, f"Model {model!r} not found; see GET /v1/models"),
                                     status=404)
        if profile.output != "embedding":
            return web.json_response(error_envelope(400, f"Model {model!r} is not an embedding model"), status=400)
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            return web.json_response(error_envelope(400, "'input' must be a string or a non-empty list of "
                                                         "strings"), status=400)
        self._requests += 1
        tokens = [max(1, len(t.split())) for t in inputs]
        # Time: one TTFT plus prefill of every input, so a batch's latency is analytically known.
        prefill = sum(tokens) / profile.prefill_tok_s if profile.prefill_tok_s > 0 else 0.0
        await asyncio.sleep((profile.ttft_s + prefill) * self.options["time_scale"])
        data = []
        for i, text in enumerate(inputs):
            digest = int.from_bytes(hashlib.sha256(f"{self.seed}\0{text}".encode()).digest()[:8], "big")
            vec = np.random.default_rng(digest).standard_normal(profile.embedding_dim)
            data.append({"object": "embedding", "index": i, "embedding": (vec / np.linalg.norm(vec)).tolist()})
        return web.json_response({"object": "list", "model": profile.id, "data": data,
                                  "usage": {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens)}})

    def _itl_ns(self, profile: ModelProfile, jitter: float) -> int:
        slow = 1.0 + profile.batch_slowdown * max(0, self._active.get(profile.id, 1) - 1)
        return int(profile.itl_s * slow * jitter * self.options["time_scale"] * 1e9)

    async def _complete(self, request: web.Request, n: int, profile: ModelProfile, plan: _Plan,
                        fault: str) -> web.StreamResponse:
        scale = self.options["time_scale"]
        start = time.monotonic_ns()
        due = start + int(plan.ttft_s * scale * 1e9)
        for k in range(1, plan.total):
            due += self._itl_ns(profile, float(plan.itl_jitter[k]))
        if fault == "stall":
            await _stall(request, self.options["stall_s"])
        await _sleep_until(due)
        if fault == "cut":
            _abort(request)
            return web.Response(status=200)
        if fault == "in_band_error":
            return web.json_response(error_envelope(502), status=502)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(plan.content)}
        if plan.reasoning:
            message["reasoning"] = "".join(plan.reasoning)
        return web.json_response({
            "id": f"chatcmpl-emu-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": profile.id,
            "choices": [{"index": 0, "message": message, "finish_reason": plan.finish_reason}],
            "usage": plan.usage(plan.total),
        })

    async def _stream(self, request: web.Request, n: int, profile: ModelProfile, plan: _Plan,
                      body: dict[str, Any], fault: str) -> web.StreamResponse:
        opts = self.options
        scale = opts["time_scale"]
        stream_options = body.get("stream_options") or {}
        usage_mode = opts["usage"]
        want_usage = usage_mode == "always" or (usage_mode == "auto" and bool(stream_options.get("include_usage")))
        continuous = usage_mode != "never" and bool(stream_options.get("continuous_usage_stats"))
        rid = f"chatcmpl-emu-{n}"
        head = (f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{int(time.time())},'
                f'"model":"{profile.id}","choices":[').encode()

        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
        await resp.prepare(request)
        log = self._log if opts["log_chunks"] and len(self._log["sent_ns"]) < opts["log_limit"] else None
        index = 0
        sent_tokens = 0

        async def send(payload: bytes, tokens: int, due_ns: int) -> None:
            nonlocal index
            await _sleep_until(due_ns)
            sent = time.monotonic_ns()
            await resp.write(payload)
            if log is not None:
                log["request"].append(n)
                log["index"].append(index)
                log["tokens"].append(tokens)
                log["due_ns"].append(due_ns)
                log["sent_ns"].append(sent)
            index += 1

        def frame(delta: str, finish: str | None = None, usage_tokens: int | None = None) -> bytes:
            fin = "null" if finish is None else f'"{finish}"'
            tail = "]"
            if continuous and usage_tokens is not None:
                tail += ',"usage":' + json.dumps(plan.usage(usage_tokens), separators=(",", ":"))
            return head + f'{{"index":0,"delta":{delta},"finish_reason":{fin}}}{tail}}}\n\n'.encode()

        start = time.monotonic_ns()
        try:
            await send(frame('{"role":"assistant","content":""}', usage_tokens=0), 0, start)
            due = start + int(plan.ttft_s * scale * 1e9)
            for chunks_sent, (kind, words) in enumerate(plan.chunks()):
                k = len(words)
                # Token i is due at ttft + sum of i intervals; a chunk goes out when its last token is due.
                for j in range(0 if sent_tokens else 1, k):
                    due += self._itl_ns(profile, float(plan.itl_jitter[sent_tokens + j]))
                if chunks_sent == opts["fault_after_chunks"] and fault in ("in_band_error", "cut", "stall"):
                    break
                sent_tokens += k
                await send(frame(f'{{"{kind}":"{"".join(words)}"}}', usage_tokens=sent_tokens), k, due)
            else:
                fault = "none"
            # trailing frames are due with the last token (never before it, even if that one left early)
            now = max(due, time.monotonic_ns())
            if fault == "in_band_error":
                err = json.dumps(error_envelope(502, "The model failed while generating"), separators=(",", ":"))
                await send(b"data: " + err.encode() + b"\n\n", 0, now)
                await resp.write_eof()
                return resp
            if fault == "cut":
                _abort(request)
                return resp
            if fault == "stall":
                await _stall(request, opts["stall_s"])
                return resp
            await send(frame("{}", plan.finish_reason, usage_tokens=sent_tokens), 0, now)
            if want_usage:
                usage = json.dumps(plan.usage(sent_tokens), separators=(",", ":"))
                await send(head + f'],"usage":{usage}}}\n\n'.encode(), 0, now)
            await send(b"data: [DONE]\n\n", 0, now)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            # The client went away (e.g. it timed out a stalled stream): nothing left to answer.
            raise
        return resp



class _Plan:
    """What one request will produce: reasoning and content words, jitter draws, usage."""

    def __init__(self, profile: ModelProfile, max_tokens: int, body: dict[str, Any], rng: np.random.Generator,
                 text_rng: np.random.Generator | None = None):
        self.profile = profile
        n_reason = min(profile.reasoning_tokens, max_tokens // 2) if profile.reasoning_tokens else 0
        self.finish_reason = "length"
        words = (text_rng or rng).integers(0, len(_CONTENT_WORDS), size=max_tokens - n_reason)
        self.content = [_CONTENT_WORDS[i] for i in words]
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else [x for x in stop or [] if isinstance(x, str) and x]
        if stops:
            # Like vLLM: the output ends before the first stop string (not included), finish_reason "stop".
            text = ""
            for i, word in enumerate(self.content):
                text += word
                if any(x in text for x in stops):
                    self.content = self.content[:i]
                    self.finish_reason = "stop"
                    break
        self.reasoning = [_REASONING_WORDS[i] for i in rng.integers(0, len(_REASONING_WORDS), size=n_reason)]
        self.total = n_reason + len(self.content)
        self.ttft_jitter = float(rng.lognormal(0.0, profile.ttft_cv)) if profile.ttft_cv else 1.0
        self.itl_jitter = (rng.lognormal(0.0, profile.itl_cv, size=max_tokens) if profile.itl_cv
                           else np.ones(max_tokens))
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict))
        self.prompt_tokens = max(1, len(text.split()))
        # Prefill is linear in the prompt, so a test knows TTFT exactly: base * jitter + prompt / rate.
        prefill = self.prompt_tokens / profile.prefill_tok_s if profile.prefill_tok_s > 0 else 0.0
        self.ttft_s = profile.ttft_s * self.ttft_jitter + prefill

    def chunks(self) -> list[tuple[str, list[str]]]:
        per = max(1, self.profile.tokens_per_chunk)
        out: list[tuple[str, list[str]]] = []
        for kind, words in (("reasoning", self.reasoning), ("content", self.content)):
            out.extend((kind, words[i:i + per]) for i in range(0, len(words), per))
        return out

    def usage(self, completion: int) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}


async def _sleep_until(due_ns: int) -> None:
    delay = due_ns - time.monotonic_ns()
    if delay > 0:
        await asyncio.sleep(delay / 1e9)


async def _stall(request: web.Request, seconds: float) -> None:
    """Send nothing for ``seconds`` -- but stop as soon as the client hangs up (aiohttp does not cancel
    handlers on disconnect, and a forgotten 1-hour sleep would hold the sandbox open)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


# --- standalone server ----------------------------------------------------------------------------------------
async def _serve(host: str, port: int, seed: int, options: dict[str, Any]) -> None:
    emu = InferenceEmulator(seed=seed, **options)
    app = web.Application()
    emu.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    print(f"READY http://{host}:{bound}/v1 {emu.api_key}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the emulator alone on uvloop: ``python -m vultr_toolkit.sandbox.inference --port 0``."""
    parser = argparse.ArgumentParser(description="vultr_toolkit inference emulator (loopback only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--options", default="{}", help="JSON object of InferenceEmulator options")
    args = parser.parse_args(argv)
    coro = _serve(args.host, args.port, args.seed, json.loads(args.options))
    try:
        import uvloop

        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a core dependency on Linux
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(coro)


if __name__ == "__main__":
    main()
