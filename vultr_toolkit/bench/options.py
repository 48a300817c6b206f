"""The options of one benchmark, spelled once: :func:`~vultr_toolkit.bench.run`, :func:`~.arun` and the CLI all
take ``**options: Unpack[BenchOptions]``, so the sync and async entry points cannot drift apart.

``BenchOptions`` is the typed list (mypy checks every call); :data:`DEFAULTS` holds the defaults;
:func:`check_options` fills them in and refuses an unknown keyword with a suggestion (``max_token=`` →
"did you mean max_tokens?"), and :func:`signature` gives ``run`` / ``arun`` a real ``inspect.Signature``, so
Jupyter's ``run?`` and keyword completion list every option.

Example::

    >>> opts = check_options({"model": "m", "max_tokens": 8})
    >>> opts["concurrency"], opts["seed"]
    (None, 0)
    >>> check_options({"model": "m", "max_token": 8})
    Traceback (most recent call last):
    ...
    vultr_toolkit.ConfigError: unknown benchmark option max_token=; did you mean max_tokens?
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Required, TypedDict

from .._errors import ConfigError

__all__ = ["DEFAULTS", "BenchOptions", "check_options", "signature"]


class BenchOptions(TypedDict, total=False):
    """Every keyword of ``vt.bench.run`` / ``arun`` (see ``run``'s docstring for what each does)."""

    model: Required[str]
    prompts: Any
    input_tokens: Any
    max_tokens: int | None
    output_tokens: Any
    exact_output_tokens: bool
    extra_body: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    temperature: float | None
    top_p: float | None
    sampling_seed: int | None
    stop: str | Sequence[str] | None
    concurrency: int | Sequence[int] | None
    rate: float | Sequence[float] | None
    burstiness: float
    max_concurrency: int | None
    requests: int | None
    duration_s: float | None
    warmup: int
    seed: int
    workers: int | None
    slo: Mapping[str, float] | None
    progress: bool
    timeout_s: float | None
    stall_timeout_s: float | None
    label: str | None
    tokenizer: Callable[[str], int] | None
    dataset_sample: int | None
    dataset_replace: bool
    cluster: Any


# model has no default: it is Required above and in the signature.
DEFAULTS: dict[str, Any] = {
    "prompts": None, "input_tokens": None, "max_tokens": None, "output_tokens": None,
    "exact_output_tokens": False, "extra_body": None, "headers": None, "temperature": None, "top_p": None,
    "sampling_seed": None, "stop": None, "concurrency": None, "rate": None, "burstiness": 1.0,
    "max_concurrency": None, "requests": None, "duration_s": None, "warmup": 0, "seed": 0, "workers": None,
    "slo": None, "progress": True, "timeout_s": None, "stall_timeout_s": None, "label": None, "tokenizer": None,
    "dataset_sample": None, "dataset_replace": False,
    "cluster": None,
}
assert set(DEFAULTS) | {"model"} == set(BenchOptions.__annotations__), "BenchOptions and DEFAULTS must agree"


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with every default filled in; ConfigError for an unknown or missing keyword."""
    known = BenchOptions.__annotations__
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else f"; options are {', '.join(known)}"
            raise ConfigError(f"unknown benchmark option {key}={hint}")
    if "model" not in options:
        raise ConfigError("model: give the model id to benchmark, e.g. model='qwen3.8-27b' "
                          "(see client.inference.models())")
    return {**DEFAULTS, **options}


def signature(first: inspect.Parameter) -> inspect.Signature:
    """``(first, *, model, prompts=None, …)``: the signature ``run`` / ``arun`` present to IPython and help()."""
    params = [first, inspect.Parameter("model", inspect.Parameter.KEYWORD_ONLY, annotation="str")]
    for name, default in DEFAULTS.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=str(BenchOptions.__annotations__[name])))
    return inspect.Signature(params)
