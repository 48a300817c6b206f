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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._errors import ConfigError
from .._validate import as_float, as_int, float_list, int_list

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


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated benchmark: model, bodies to cycle through, levels, warm-up and seed."""

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

    def body(self, i: int) -> bytes:
        return self.bodies[i % len(self.bodies)]


def _messages(prompt: Any) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, dict):
        return [prompt]
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        return list(prompt)
    raise ConfigError(f"prompts: each prompt must be a string or a list of chat messages, got {type(prompt).__name__}")


def build_bodies(model: str, prompts: Sequence[Any] | None, input_tokens: int | None, max_tokens: int,
                 seed: int, extra: dict[str, Any] | None = None, count: int = 64) -> tuple[bytes, ...]:
    """Encode the JSON request bodies once (streaming, usage requested, fixed output length asked for)."""
    rng = np.random.default_rng(seed)
    if prompts is not None:
        if isinstance(prompts, str):
            prompts = [prompts]
        if len(prompts) == 0:
            raise ConfigError("prompts: give at least one prompt (or None for synthetic prompts)")
        msgs = [_messages(p) for p in prompts]
    else:
        n_in = input_tokens if input_tokens is not None else 32
        msgs = [[{"role": "user", "content": synthetic_prompt(n_in, rng)}] for _ in range(count)]
    bodies = []
    for m in msgs:
        body: dict[str, Any] = {
            "model": model,
            "messages": m,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            **(extra or {}),
        }
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return tuple(bodies)


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
    max_tokens: int,
    prompts: Sequence[Any] | None = None,
    input_tokens: int | None = None,
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
    extra_body: dict[str, Any] | None = None,
    tokenizer: Callable[[str], int] | None = None,
) -> Plan:
    """Validate the arguments of :func:`vultr_toolkit.bench.run` and build the plan (raises ConfigError)."""
    if not isinstance(model, str) or not model:
        raise ConfigError("model: give the model id to benchmark, e.g. model='qwen3.8-27b' "
                          "(see client.inference.models())")
    # Values from a DataFrame / np.arange arrive as NumPy numbers: accept them as Python values (._validate).
    max_tokens = as_int("max_tokens", max_tokens, minimum=1, hint=" (the output length to ask for)")
    if input_tokens is not None:
        input_tokens = as_int("input_tokens", input_tokens, minimum=1)
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
    bodies = build_bodies(model, prompts, input_tokens, max_tokens, seed, extra_body)
    if tokenizer is not None and not callable(tokenizer):
        raise ConfigError("tokenizer must be a callable str -> number of tokens, e.g. lambda s: len(enc.encode(s))")
    return Plan(model, bodies, tuple(levels), warmup, seed, max_tokens, input_tokens, timeout_s, stall_timeout_s,
                tokenizer)
