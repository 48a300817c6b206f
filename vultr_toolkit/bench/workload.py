"""What a benchmark sends and when: prompts, request bodies, load levels and open-loop send times.

Everything here is pure and seeded, so a run is reproducible and the engine's hot path only reads
precomputed bytes and numbers.

* **Closed loop** (``concurrency=[1, 8, 32]``): N users, each sending its next request as soon as its previous
  one ends. The level is the number of users.
* **Open loop** (``rate=5.0`` req/s, or a list): send times are drawn up front as cumulative gamma
  inter-arrival gaps with shape ``burstiness`` (1 = Poisson) and mean ``1/rate`` — the fix vLLM adopted after
  its sleep-after-send drift (vllm-project/vllm#21108). ``max_concurrency`` caps in-flight requests; the wait for
  a slot is recorded as ``client_queue_ms``, never hidden.

Example::

    >>> plan = build_plan(model="m", max_tokens=8, concurrency=[1, 4], requests=8, seed=0)
    >>> [lv.level for lv in plan.levels], plan.levels[1].requests
    ([1.0, 4.0], 8)
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._errors import ConfigError
from .._validate import as_float, as_int, float_list, int_list
from .datasets import is_dataset, load_dataset
from .lengths import LengthSpec, parse_lengths

__all__ = ["Level", "Plan", "arrival_offsets_s", "build_bodies", "build_plan", "synthetic_prompt"]

_WORDS = ("data", "model", "token", "cloud", "vector", "query", "cache", "stream", "region", "latency",
          "server", "python", "frame", "metric", "budget", "answer")


def synthetic_prompt(tokens: int, rng: np.random.Generator) -> str:
    """A prompt of about ``tokens`` tokens (one common English word ≈ one token for most tokenizers).

    >>> len(synthetic_prompt(5, np.random.default_rng(0)).split())
    5
    """
    idx = rng.integers(0, len(_WORDS), size=max(1, tokens))
    return " ".join(_WORDS[i] for i in idx)


@dataclasses.dataclass(frozen=True)
class Level:
    """One load point: ``mode`` is ``"concurrency"`` (closed loop) or ``"rate"`` (open loop)."""

    mode: str
    level: float
    requests: int | None          # requests to send at this level (None: run for duration_s)
    duration_s: float | None
    max_concurrency: int | None = None
    burstiness: float = 1.0

    @property
    def users(self) -> int:
        return int(self.level) if self.mode == "concurrency" else 0


# Request fields the engine owns: a body option may not override them (the run's own arguments set them).
RESERVED_BODY_KEYS = frozenset({"model", "messages", "prompt", "input", "stream", "stream_options", "max_tokens",
                                "max_completion_tokens"})
# Headers the transport or the settings own; Authorization comes from settings.inference_api_key (redacted),
# never from a plain dict that lands in notebooks.
RESERVED_HEADERS = frozenset({"authorization", "content-type", "content-length", "host", "transfer-encoding",
                              "connection", "accept"})
# Distinct request bodies kept in memory: every request gets its own prompt up to this many (so a server's
# prefix cache only hits where shared_prefix asks for it), then the pool repeats. Bounded by bytes as well.
POOL_MAX = 16_384
POOL_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated benchmark: model, bodies to cycle through, levels, warm-up and seed.

    ``input_targets`` / ``output_targets`` hold the requested lengths of the body pool (request ``i`` uses
    entry ``i mod len(bodies)``); ``max_tokens`` is the largest output target (the bound the model check and
    the overlong-stream check use).
    """

    model: str
    bodies: tuple[bytes, ...]
    levels: tuple[Level, ...]
    warmup: int
    seed: int
    max_tokens: int
    input_tokens: int | None
    timeout_s: float | None
    stall_timeout_s: float
    tokenizer: Callable[[str], int] | None = None
    input_targets: tuple[int, ...] | None = None
    output_targets: tuple[int, ...] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body_meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def body(self, i: int) -> bytes:
        return self.bodies[i % len(self.bodies)]

    def targets(self, i: int) -> tuple[int | None, int]:
        """(requested input tokens or None for user prompts, requested output tokens) of request ``i``."""
        j = i % len(self.bodies)
        out = self.output_targets[j] if self.output_targets is not None else self.max_tokens
        return (self.input_targets[j] if self.input_targets is not None else None), out


def _messages(prompt: Any) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, dict):
        return [prompt]
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return list(prompt)
    raise ConfigError(f"prompts: each prompt must be a string or a list of chat messages, got {type(prompt).__name__}")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class _WordText:
    """One seeded text of random common words; a prompt of ``n`` tokens is a window of ``n`` words at a random
    word offset. Slicing one bytes object is what keeps planning 100,000 requests well under a second."""

    def __init__(self, words: int, rng: np.random.Generator) -> None:
        idx = rng.integers(0, len(_WORDS), size=max(1, words))
        encoded = [w.encode() for w in _WORDS]
        lengths = np.array([len(w) + 1 for w in encoded], dtype=np.int64)[idx]
        self.starts = np.concatenate([[0], np.cumsum(lengths)])   # byte offset of word k; +1 for the space
        self.text = b" ".join(encoded[i] for i in idx)
        self.words = len(idx)

    def window(self, offset: int, n: int) -> bytes:
        return self.text[self.starts[offset]:self.starts[offset + n] - 1]


def build_bodies(model: str, prompts: Sequence[Any] | None, input_tokens: int | None, max_tokens: int,
                 seed: int, extra: dict[str, Any] | None = None, count: int = 64) -> tuple[bytes, ...]:
    """Encode the JSON request bodies once (streaming, usage requested, fixed output length asked for).

    >>> json.loads(build_bodies("m", None, 3, 8, seed=0, count=2)[1])["max_tokens"]
    8
    """
    n_in = input_tokens if input_tokens is not None else 32
    inputs = None if prompts is not None else np.full(count, n_in, dtype=np.int64)
    n = count if prompts is None else max(1, len(_prompt_list(prompts)))
    return _encode(model, prompts, inputs, np.full(n, max_tokens, dtype=np.int64), seed, extra or {}, False)


def _prompt_list(prompts: Any) -> list[Any]:
    if isinstance(prompts, str):
        return [prompts]
    if hasattr(prompts, "columns") and hasattr(prompts, "iloc"):
        # A DataFrame iterates as its column names: every request would send the word "prompt".
        col = next((c for c in ("messages", "prompt") if c in prompts.columns), None)
        if col is None:
            raise ConfigError("prompts: a DataFrame needs a 'prompt' (text) or 'messages' (chat messages) column; "
                              f"it has {', '.join(map(str, prompts.columns)) or 'none'}")
        prompts = prompts[col].tolist()
    out = list(prompts)
    if not out:
        raise ConfigError("prompts: give at least one prompt (or None for synthetic prompts)")
    return out


def _encode(model: str, prompts: Sequence[Any] | None, inputs: np.ndarray | None, outputs: np.ndarray,
            seed: int, extra: dict[str, Any], exact: bool) -> tuple[bytes, ...]:
    """The pool of request bodies: entry ``j`` asks for ``outputs[j]`` tokens with prompt ``j`` (synthetic of
    ``inputs[j]`` words, or the user's prompt ``j mod P``). Built by concatenating pre-encoded pieces, so the
    JSON of a 2,000-token prompt is written once, never re-serialised per request."""
    head = b'{"model":' + _dumps(model) + b',"messages":'
    tail = b',"stream":true,"stream_options":{"include_usage":true}' + (
        (b"," + _dumps(extra)[1:-1]) if extra else b"") + b"}"
    n = len(outputs)
    if prompts is not None:
        encoded = [_dumps(_messages(p)) for p in _prompt_list(prompts)]
        msgs = [encoded[j % len(encoded)] for j in range(n)]
    else:
        assert inputs is not None
        rng = np.random.default_rng(seed)
        text = _WordText(int(inputs.max()) * 2 + 64, rng)
        offsets = rng.integers(0, text.words - inputs + 1)
        user_head, user_tail = b'[{"role":"user","content":"', b'"}]'
        msgs = [user_head + text.window(int(o), int(k)) + user_tail for o, k in zip(offsets, inputs, strict=True)]
    if exact:
        mid = [b',"max_tokens":%d,"min_tokens":%d,"ignore_eos":true' % (k, k) for k in outputs.tolist()]
    else:
        mid = [b',"max_tokens":%d' % k for k in outputs.tolist()]
    return tuple(head + m + x + tail for m, x in zip(msgs, mid, strict=True))


def check_body_options(extra_body: Any, sampling: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``extra_body`` and the sampling arguments; return what is merged into every body.

    >>> check_body_options({"ignore_eos": True}, {"temperature": 0.0, "top_p": None, "seed": None, "stop": None})
    {'temperature': 0.0, 'ignore_eos': True}
    """
    body: dict[str, Any] = {}
    t, p, s, stop = (sampling.get(k) for k in ("temperature", "top_p", "seed", "stop"))
    if t is not None:
        body["temperature"] = as_float("temperature", t, non_negative=True, hint=" (0 = greedy)")
    if p is not None:
        p = as_float("top_p", p, positive=True)
        if p > 1:
            raise ConfigError(f"top_p must be in (0, 1], got {p:g}")
        body["top_p"] = p
    if s is not None:
        body["seed"] = as_int("sampling_seed", s, hint=" (the server's sampling seed)")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list | tuple) or not stops or not all(isinstance(x, str) and x for x in stops):
            raise ConfigError("stop must be a non-empty string or a list of them, e.g. stop=['\\n\\n']")
        body["stop"] = list(stops)
    if extra_body is None:
        return body
    if not isinstance(extra_body, Mapping) or not all(isinstance(k, str) for k in extra_body):
        raise ConfigError("extra_body must be a JSON object (a dict with string keys), e.g. "
                          f"extra_body={{'ignore_eos': True}}; got {type(extra_body).__name__}")
    clash = sorted(RESERVED_BODY_KEYS & set(extra_body))
    if clash:
        raise ConfigError(f"extra_body may not set {', '.join(clash)}: the run sets them "
                          "(model=, prompts=/input_tokens=, max_tokens=/output_tokens=); pass those arguments instead")
    twice = sorted(set(body) & set(extra_body))
    if twice:
        raise ConfigError(f"{', '.join(twice)} given both as an argument and in extra_body: give it once")
    try:
        json.dumps(dict(extra_body), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"extra_body must be JSON-serialisable (plain numbers, strings, lists, dicts): {e}") from None
    return {**body, **extra_body}


def check_headers(headers: Any) -> tuple[tuple[str, str], ...]:
    """Validate ``headers=`` (extra HTTP request headers); the transport's and the key's own are refused.

    >>> check_headers({"X-Team": "ml"})
    (('X-Team', 'ml'),)
    """
    if headers is None:
        return ()
    if not isinstance(headers, Mapping):
        raise ConfigError(f"headers must be a dict of header name -> value, got {type(headers).__name__}")
    out = []
    for k, v in headers.items():
        if not isinstance(k, str) or not isinstance(v, str) or not k or any(c in k + v for c in "\r\n"):
            raise ConfigError(f"headers: {k!r} must map a non-empty string name to a string value without newlines")
        if k.lower() in RESERVED_HEADERS:
            raise ConfigError(f"headers may not set {k}: the toolkit sets it (the key comes from "
                              "settings.inference_api_key, which is kept out of reprs and logs)")
        out.append((k, v))
    return tuple(out)


def arrival_offsets_s(n: int, rate: float, burstiness: float, rng: np.random.Generator) -> np.ndarray:
    """Absolute send offsets (seconds from the level start) of ``n`` open-loop requests.

    Gaps are gamma(shape=burstiness, scale=1/(rate·burstiness)): mean 1/rate; burstiness 1 is Poisson,
    < 1 burstier, > 1 more regular. The first request goes at 0.

    >>> arrival_offsets_s(3, 10.0, 1.0, np.random.default_rng(0))[0]
    np.float64(0.0)
    """
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=max(0, n - 1))
    return np.concatenate([[0.0], np.cumsum(gaps)]) if n > 0 else np.zeros(0)


def build_plan(
    *,
    model: str,
    max_tokens: int | None = None,
    prompts: Any = None,
    input_tokens: Any = None,
    output_tokens: Any = None,
    exact_output_tokens: bool = False,
    concurrency: int | Sequence[int] | None = None,
    rate: float | Sequence[float] | None = None,
    burstiness: float = 1.0,
    max_concurrency: int | None = None,
    requests: int | None = None,
    duration_s: float | None = None,
    warmup: int = 0,
    seed: int = 0,
    timeout_s: float | None = None,
    stall_timeout_s: float = 30.0,
    extra_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    sampling_seed: int | None = None,
    stop: str | Sequence[str] | None = None,
    tokenizer: Callable[[str], int] | None = None,
    dataset_sample: int | None = None,
    dataset_replace: bool = False,
) -> Plan:
    """Validate the arguments of :func:`vultr_toolkit.bench.run` and build the plan (raises ConfigError)."""
    if not isinstance(model, str) or not model:
        raise ConfigError("model: give the model id to benchmark, e.g. model='qwen3.8-27b' "
                          "(see client.inference.models())")
    # Values from a DataFrame / np.arange arrive as NumPy numbers: accept them as Python values (._validate).
    if max_tokens is not None and output_tokens is not None:
        raise ConfigError("give max_tokens or output_tokens, not both: output_tokens (an int, a distribution or "
                          "an array) sets each request's max_tokens")
    if max_tokens is None and output_tokens is None:
        raise ConfigError("max_tokens: give the output length to ask for, e.g. max_tokens=128 "
                          "(or output_tokens= a distribution such as 'normal:mean=256,sd=64,min=16,max=512')")
    if max_tokens is not None:
        max_tokens = as_int("max_tokens", max_tokens, minimum=1, hint=" (the output length to ask for)")
    out_spec = parse_lengths("output_tokens", output_tokens if output_tokens is not None else max_tokens)
    in_spec = parse_lengths("input_tokens", input_tokens) if input_tokens is not None else None
    if not isinstance(exact_output_tokens, bool):
        raise ConfigError("exact_output_tokens must be True or False")
    body_extra = check_body_options(extra_body, {"temperature": temperature, "top_p": top_p,
                                                 "seed": sampling_seed, "stop": stop})
    if exact_output_tokens and ({"min_tokens", "ignore_eos"} & set(body_extra)):
        raise ConfigError("exact_output_tokens=True sets min_tokens and ignore_eos itself: drop them from extra_body")
    header_items = check_headers(headers)
    if prompts is not None and input_tokens is not None:
        raise ConfigError("give prompts or input_tokens, not both (input_tokens builds synthetic prompts)")
    if concurrency is not None and rate is not None:
        raise ConfigError("give concurrency (closed loop: N users) or rate (open loop: requests/s), not both; "
                          "use max_concurrency to cap an open-loop run")
    if requests is not None and duration_s is not None:
        raise ConfigError("give requests (per level) or duration_s (per level), not both")
    if requests is not None:
        requests = as_int("requests", requests, minimum=1, hint=" (requests per level)")
    if duration_s is not None:
        duration_s = as_float("duration_s", duration_s, positive=True)
    warmup = as_int("warmup", warmup, minimum=0, hint=" (warm-up requests)")
    seed = as_int("seed", seed)
    burstiness = as_float("burstiness", burstiness, positive=True, hint=" (1 = Poisson)")
    if max_concurrency is not None:
        max_concurrency = as_int("max_concurrency", max_concurrency, minimum=1)
    if timeout_s is not None:
        timeout_s = as_float("timeout_s", timeout_s, positive=True)
    stall_timeout_s = as_float("stall_timeout_s", stall_timeout_s, positive=True)

    levels: list[Level] = []
    if rate is not None:
        rates = float_list("rate", rate, positive=True, hint=" (requests/s)")
        for r in rates:
            n = requests if requests is not None or duration_s is not None else max(32, math.ceil(10 * r))
            levels.append(Level("rate", r, n, duration_s, max_concurrency, burstiness))
    else:
        if max_concurrency is not None:
            raise ConfigError("max_concurrency caps an open-loop run: use it with rate=..., not with concurrency")
        users = [1] if concurrency is None else int_list("concurrency", concurrency, minimum=1,
                                                          hint=" (number of users)")
        for c in users:
            n = requests if requests is not None or duration_s is not None else max(32, 4 * c)
            levels.append(Level("concurrency", float(c), n, duration_s))
    if tokenizer is not None and not callable(tokenizer):
        raise ConfigError("tokenizer must be a callable str -> number of tokens, e.g. lambda s: len(enc.encode(s))")
    dataset_meta = None
    if is_dataset(prompts):   # a file path or a datasets.Dataset: rows -> a DataFrame (see .datasets)
        prompts, dataset_meta = load_dataset(prompts, sample=dataset_sample, replace=dataset_replace, seed=seed)
    elif dataset_sample is not None or dataset_replace:
        raise ConfigError("dataset_sample / dataset_replace need a dataset: prompts= a file path "
                          "(.jsonl/.json/.csv/.parquet) or a datasets.Dataset")
    user_prompts = _prompt_list(prompts) if prompts is not None else None
    n = _pool_size(levels, warmup, user_prompts, in_spec, out_spec)
    # Separate seeded streams per concern: changing the output distribution does not change the prompts.
    outputs = out_spec.draw(n, np.random.default_rng((seed, 11)))
    inputs = None
    if user_prompts is None:
        inputs = (in_spec or parse_lengths("input_tokens", 32)).draw(n, np.random.default_rng((seed, 13)))
    bodies = _encode(model, user_prompts, inputs, outputs, seed, body_extra, exact_output_tokens)
    body_meta = {"input_tokens": in_spec.to_meta() if in_spec is not None else None,
                 "output_tokens": out_spec.to_meta(), "exact_output_tokens": exact_output_tokens,
                 "extra_body": body_extra or None, "headers": [k for k, _ in header_items] or None,
                 "distinct_bodies": len(bodies), "dataset": dataset_meta,
                 "prompts": len(user_prompts) if user_prompts is not None else None}
    return Plan(model, bodies, tuple(levels), warmup, seed, out_spec.upper,
                in_spec.upper if in_spec is not None and in_spec.dist == "fixed" else None, timeout_s,
                stall_timeout_s, tokenizer,
                tuple(int(x) for x in inputs) if inputs is not None else None,
                tuple(int(x) for x in outputs), header_items, body_meta)


def _pool_size(levels: Sequence[Level], warmup: int, prompts: list[Any] | None, in_spec: LengthSpec | None,
               out_spec: LengthSpec) -> int:
    """How many distinct bodies to encode: one per request when the run's size is known (else 4,096), at least
    one per user prompt and per explicit length, at most POOL_MAX and POOL_BYTES of prompt text."""
    known = all(lv.requests is not None for lv in levels)
    total = warmup + sum(int(lv.requests or 0) for lv in levels) if known else 4096
    varies = out_spec.dist != "fixed" or prompts is None
    n = min(total, POOL_MAX) if varies else 1
    if prompts is not None:
        n = max(n, len(prompts))
    else:
        mean_in = in_spec.mean if in_spec is not None else 32.0
        n = min(n, max(64, int(POOL_BYTES // (mean_in * 7 + 120))))   # ~7 bytes a word, ~120 of JSON frame
    for spec in (in_spec, out_spec):
        if spec is not None and spec.values is not None:
            n = max(n, len(spec.values))
    return max(1, n)
