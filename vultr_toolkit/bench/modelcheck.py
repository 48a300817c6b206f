"""Check a benchmark's ``model=`` / ``max_tokens=`` against the endpoint's ``/models`` documents.

Without it a non-chat model (a reranker, an embedder) or a ``max_tokens`` beyond the model's limit produced a
run of 100 % errors and no exception. Pure: takes the documents :func:`.engine.fetch_models` returned (None
when the endpoint has no ``/models``: nothing can be checked, nothing is).

Example::

    >>> docs = [{"id": "chat-a", "output_modalities": [{"type": "text", "max_length": {"value": 64}}]}]
    >>> check_model("chat-a", 32, docs)
    {'prompt_usd_per_token': None, 'completion_usd_per_token': None}
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ConfigError

__all__ = ["chat_model_ids", "check_model", "max_completion_tokens"]


def _outputs(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    v = doc.get("output_modalities")
    return [m for m in v if isinstance(m, dict)] if isinstance(v, list) else []


def is_chat(doc: Mapping[str, Any]) -> bool:
    """Text output = a chat model (the same rule as ``models_frame``'s ``is_chat``)."""
    return any(m.get("type") == "text" for m in _outputs(doc))


def chat_model_ids(docs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Ids of the chat models among ``docs``, in endpoint order."""
    return [str(d.get("id")) for d in docs if is_chat(d)]


def _number(v: Any) -> int | None:
    if isinstance(v, dict):
        v = v.get("value")
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) and v > 0 else None


def max_completion_tokens(doc: Mapping[str, Any]) -> int | None:
    """The documented output limit: the smallest of ``max_length`` and ``supported_parameters.max_tokens.max``
    of the text output (None when the document states neither)."""
    limits = []
    for m in _outputs(doc):
        if m.get("type") != "text":
            continue
        limits.append(_number(m.get("max_length")))
        params = m.get("supported_parameters")
        mt = params.get("max_tokens") if isinstance(params, dict) else None
        limits.append(_number(mt.get("max")) if isinstance(mt, dict) else None)
    known = [x for x in limits if x is not None]
    return min(known) if known else None


def _listing(ids: list[str]) -> str:
    return ", ".join(ids[:12]) + (" …" if len(ids) > 12 else "") if ids else "(none)"


def check_model(model: str, max_tokens: int, docs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Raise ConfigError when ``model`` is unknown, not a chat model, or ``max_tokens`` exceeds its limit;
    return its pricing (USD per token, may be empty). ``docs=None`` (no ``/models``) checks nothing."""
    if docs is None:
        return {}
    ids = [str(d.get("id")) for d in docs]
    chat = chat_model_ids(docs)
    if model not in ids:
        close = difflib.get_close_matches(model, ids, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise ConfigError(f"model={model!r} is not served by this endpoint; {hint}"
                          f"chat models available: {_listing(chat)}")
    doc = docs[ids.index(model)]
    if not is_chat(doc):
        raise ConfigError(f"model={model!r} is not a chat model (it cannot be benchmarked with chat completions); "
                          f"chat models available: {_listing(chat)}")
    limit = max_completion_tokens(doc)
    if limit is not None and max_tokens > limit:
        raise ConfigError(f"max_tokens={max_tokens} exceeds the documented maximum of {limit} completion tokens "
                          f"of model={model!r}; use max_tokens <= {limit}")
    from ..api.inference import model_pricing

    return model_pricing(doc)
