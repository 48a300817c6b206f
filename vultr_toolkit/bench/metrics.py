"""Benchmark metrics: raw timestamped bytes -> per-request and per-chunk rows -> per-level summary.

Definitions (names collide across tools — GuideLLM, vLLM's ``bench serve`` and AIPerf each mean something slightly
different by "ITL" or "TPOT" — so ours are spelled out; every time is measured on :func:`time.monotonic_ns` from
``sent_at``, the instant just before the request is written):

``ttft_s``
    time to the first chunk that carries generated text, **reasoning included**. The role-only preamble
    (``{"role":"assistant","content":""}``) does not count (vllm-project/vllm#3759).
``ttfc_s``
    time to the first chunk with *answer* content (``delta.content``); ``ttfc_s − ttft_s`` is the thinking time.
``e2e_s``
    success: time to the last token-bearing chunk (the trailing finish, usage and ``[DONE]`` frames excluded,
    as in vLLM's E2EL); failure: time until the client gave up or the stream ended.
``output_tokens`` / ``tokens_source``
    ``"usage"``: the server's ``usage.completion_tokens`` (per chunk from cumulative usage when the server sends
    it in every chunk; otherwise the final total spread over the chunks in proportion to their characters);
    ``"tokenizer"``: no usage arrived and ``run(tokenizer=...)`` counted each chunk's text;
    ``"chunks"``: no usage and no tokenizer, one token per token-bearing chunk (a lower bound for multi-token
    chunks).
``tpot_s``
    request-level time per output token after the first: ``(e2e_s − ttft_s) / (output_tokens − 1)`` — vLLM's
    TPOT, GenAI-Perf/AIPerf's "ITL". Summary percentiles of ``tpot_s`` weight each **request** equally.
``itl_s``
    token-level inter-token latency from ``.chunks``: a chunk carrying *k* tokens *g* seconds after the previous
    token-bearing chunk contributes *k* samples of *g/k*; extra tokens of the first chunk contribute zeros.
    Summary percentiles of ``itl_s`` weight each **token** equally (``itl_mean_s`` per request equals its TPOT).
``schedule_lag_ms``
    how late the client started a request relative to its schedule (open loop: the precomputed send time);
    client-side overhead — the summary warns when its p99 exceeds 10 ms.
``client_queue_ms``
    time a due request waited for a ``max_concurrency`` slot (open loop), reported rather than hidden.

An in-band SSE error is an error, never a success; failed requests are excluded from latency statistics but
counted by ``error_kind`` (``http_429``, ``http_5xx``, ``http_4xx``, ``in_band_error``, ``truncated``,
``timeout``, ``stalled``, ``connection``, ``protocol_error``, ``overlong_stream``):

``stalled``
    no SSE *data* frame within ``stall_timeout_s`` — comment / keep-alive lines (``: ping``) do not count.
``in_band_error``
    the server sent an error event inside the stream (its own JSON ``error``).
``protocol_error``
    the bytes are not a usable SSE stream: a line longer than ``engine.MAX_LINE_BYTES`` (1 MiB), a body over
    ``engine.MAX_BODY_BYTES`` (64 MiB), or ``data:`` that is not a JSON object. The client's fault-finding,
    not the model server's error.
``overlong_stream``
    far more output than asked for: more than ``OVERLONG_FACTOR × max_tokens + OVERLONG_SLACK`` data frames
    (the engine stops reading) or completion tokens.

Error texts are redacted (:func:`vultr_toolkit._redact.redact`): an endpoint echoing the key in its 401 body
does not put it into ``.requests["error"]`` or the history store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._deprecation import renamed
from .._redact import redact
from ..api.sse import events_with_stamps, parse_chunk

__all__ = [
    "ERROR_KINDS",
    "PERCENTILES",
    "analyse_request",
    "itl_samples",
    "percentile_stats",
    "split_proportional",
    "summarise",
    "summarize",
]

ERROR_KINDS = ("http_429", "http_5xx", "http_4xx", "in_band_error", "truncated", "timeout", "stalled", "connection",
               "protocol_error", "overlong_stream")
# Output beyond this many tokens (or data frames) for a request's max_tokens is an ``overlong_stream``; generous
# because servers count max_tokens differently (reasoning tokens, role/finish/usage frames).
OVERLONG_FACTOR = 4
OVERLONG_SLACK = 64
PERCENTILES = (50, 90, 95, 99)
_MAX_ERROR_TEXT = 300


def _http_kind(status: int) -> str:
    if status == 429:
        return "http_429"
    return "http_5xx" if status >= 500 else "http_4xx"


def _error_text(body: bytes) -> str:
    try:
        obj = json.loads(body)
    except ValueError:
        return body[:_MAX_ERROR_TEXT].decode("utf-8", "replace")
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:_MAX_ERROR_TEXT]
        if obj.get("message"):
            return str(obj["message"])[:_MAX_ERROR_TEXT]
    return str(obj)[:_MAX_ERROR_TEXT]


def split_proportional(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder, sums exactly).

    >>> split_proportional(5, [1, 1, 0])
    [3, 2, 0]
    """
    w = np.asarray(weights, dtype=float)
    if len(w) == 0:
        return []
    if w.sum() <= 0:
        w = np.ones(len(w))
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    rest = total - int(base.sum())
    if rest > 0:
        base[np.argsort(-(exact - base), kind="stable")[:rest]] += 1
    return [int(x) for x in base]


def analyse_request(raw: Mapping[str, Any], *, tokenizer: Callable[[str], int] | None = None,
                    max_tokens: int | None = None) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Turn one raw request record of the engine into its request row and its chunk rows.

    ``raw`` holds monotonic-ns stamps (``scheduled_ns``, ``woke_ns``, ``sent_ns``, ``end_ns``), ``status``,
    the network reads (``stamps``, ``reads``), an engine-side ``failure`` kind and ``message``, and the body
    of a non-200 answer. Pure: the engine calls it after a level, off the hot path. ``tokenizer`` counts the
    tokens of each chunk's text when the server sent no usage (``tokens_source="tokenizer"``); with
    ``max_tokens`` a success whose output exceeds the overlong bound becomes an ``overlong_stream`` error.

    >>> row, _ = analyse_request({"sent_ns": 0, "end_ns": 1, "status": 401,
    ...                           "body": b'{"error": {"message": "bad key Bearer sk-CANARY-abcdef"}}'})
    >>> row["error_kind"], row["error"]
    ('http_4xx', 'bad key Bearer ***')
    """
    sent = int(raw["sent_ns"])
    status = int(raw.get("status") or 0)
    failure: str | None = raw.get("failure")
    message: str = raw.get("message") or ""
    chunk_rows: dict[str, list[Any]] = {"index": [], "received_ns": [], "kind": [], "tokens": [], "chars": []}
    row: dict[str, Any] = {
        "http_status": status or None, "ttft_s": None, "ttfc_s": None, "e2e_s": None, "output_tokens": None,
        "prompt_tokens": None, "tokens_source": None, "chunks": 0, "tpot_s": None, "itl_mean_s": None,
        "finish_reason": None, "response_id": None,
    }
    if status and status != 200:
        kind: str | None = _http_kind(status)
        message = _error_text(raw.get("body") or b"") or message
        retry_after = raw.get("retry_after")
        if retry_after:
            message = f"{message} (Retry-After: {retry_after})"
    else:
        kind = failure
    events, leftover = events_with_stamps(raw.get("stamps") or [], raw.get("reads") or [])
    chunks = [(stamp, parse_chunk(data)) for stamp, data in events]
    token_idx: list[int] = []
    final_usage = None
    cumulative: list[int | None] = []
    done = False
    finish = None
    for i, (stamp, ch) in enumerate(chunks):
        chunk_rows["index"].append(i)
        chunk_rows["received_ns"].append(stamp)
        chunk_rows["kind"].append(ch.kind)
        chunk_rows["chars"].append(len(ch.content) + len(ch.reasoning))
        chunk_rows["tokens"].append(0)
        if ch.error is not None and kind in (None, "truncated", "stalled", "timeout", "connection"):
            kind = "protocol_error" if ch.malformed else "in_band_error"
            message = ch.error_message
        if ch.has_token:
            token_idx.append(i)
            cumulative.append(ch.usage.completion_tokens if ch.usage is not None else None)
        elif ch.usage is not None and ch.usage.completion_tokens is not None:
            final_usage = ch.usage
        if ch.usage is not None and ch.usage.prompt_tokens is not None:
            row["prompt_tokens"] = ch.usage.prompt_tokens
        if ch.finish_reason is not None:
            finish = ch.finish_reason
        if row["response_id"] is None and ch.id is not None:
            row["response_id"] = ch.id
        done = done or ch.done
    if kind is None and not (done or finish is not None):
        kind = "truncated"
        message = message or "the stream ended without a finish_reason or [DONE]"
    if kind is None and leftover and not done:
        kind, message = "truncated", "the stream ended inside an event"
    row["finish_reason"] = finish

    # Tokens per chunk: cumulative usage in every chunk > final usage spread by characters > one per chunk.
    if token_idx:
        if all(c is not None for c in cumulative):
            prev = 0
            per = []
            for c in cumulative:
                assert c is not None
                per.append(max(0, c - prev))
                prev = c
            source = "usage"
        elif final_usage is not None and final_usage.completion_tokens is not None:
            per = split_proportional(final_usage.completion_tokens, [chunk_rows["chars"][i] for i in token_idx])
            source = "usage"
        elif tokenizer is not None:
            per = [max(1, int(tokenizer(chunks[i][1].reasoning + chunks[i][1].content))) for i in token_idx]
            source = "tokenizer"
        else:
            per = [1] * len(token_idx)
            source = "chunks"
        for i, n in zip(token_idx, per, strict=True):
            chunk_rows["tokens"][i] = n
        tokens = sum(per)
        first = chunk_rows["received_ns"][token_idx[0]]
        last = chunk_rows["received_ns"][token_idx[-1]]
        content_idx = [i for i in token_idx if chunks[i][1].content]
        row["ttft_s"] = (first - sent) / 1e9
        if content_idx:
            row["ttfc_s"] = (chunk_rows["received_ns"][content_idx[0]] - sent) / 1e9
        row["output_tokens"] = tokens
        row["tokens_source"] = source
        if kind is None and max_tokens and tokens > OVERLONG_FACTOR * max_tokens + OVERLONG_SLACK:
            kind = "overlong_stream"
            message = f"{tokens} output tokens for max_tokens={max_tokens}"
        row["chunks"] = len(token_idx)
        if tokens > 1:
            row["itl_mean_s"] = (last - first) / 1e9 / (tokens - 1)
        if kind is None:
            row["e2e_s"] = (last - sent) / 1e9
            row["tpot_s"] = row["itl_mean_s"]
    elif kind is None and status == 200:
        row["output_tokens"] = final_usage.completion_tokens if final_usage is not None else 0
        row["tokens_source"] = "usage" if final_usage is not None else "chunks"
    if kind is not None:
        row["e2e_s"] = (int(raw["end_ns"]) - sent) / 1e9
    row["status"] = "ok" if kind is None else "error"
    row["error_kind"] = kind
    # redact before cutting, so a cut cannot leave half a key the patterns no longer recognise
    row["error"] = redact(message)[:_MAX_ERROR_TEXT] if kind is not None else None
    return row, chunk_rows


def itl_samples(chunks: pd.DataFrame) -> pd.Series:
    """Token-level inter-token latencies (seconds) from a ``.chunks`` frame (see the module docstring).

    Only token-bearing chunks count; each request contributes ``output_tokens − 1`` samples.
    """
    tok = chunks.loc[chunks["tokens"].fillna(0) > 0, ["request_id", "received_ns", "tokens"]]
    if tok.empty:
        return pd.Series([], dtype="float64", name="itl_s")
    tok = tok.sort_values(["request_id", "received_ns"], kind="stable")
    rid = tok["request_id"].to_numpy(dtype="int64")
    t = tok["received_ns"].to_numpy(dtype="int64")
    k = tok["tokens"].to_numpy(dtype="int64")
    first = np.r_[True, rid[1:] != rid[:-1]]
    gap = np.r_[0, np.diff(t)].astype(float) / 1e9
    # first chunk of a request: k-1 zeros; later chunks: k samples of gap/k
    values = np.where(first, 0.0, gap / np.maximum(k, 1))
    counts = np.where(first, k - 1, k)
    return pd.Series(np.repeat(values, counts), dtype="float64", name="itl_s")


def percentile_stats(values: pd.Series | np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix}_mean`` and ``{prefix}_p50/p90/p95/p99`` of the non-missing values (NaN when none)."""
    arr = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    out = {f"{prefix}_mean": float(arr.mean()) if arr.size else float("nan")}
    qs = np.percentile(arr, PERCENTILES) if arr.size else [float("nan")] * len(PERCENTILES)
    for p, q in zip(PERCENTILES, qs, strict=True):
        out[f"{prefix}_p{p}"] = float(q)
    return out


def _meets(df: pd.DataFrame, slo: Mapping[str, float]) -> pd.Series:
    ok = df["status"] == "ok"
    for key, limit in slo.items():
        col = df[key].astype("Float64")
        # A missing TPOT (1-token answer) cannot violate a TPOT objective (vLLM treats it as 0).
        ok &= (col <= limit).fillna(key == "tpot_s").astype(bool)
    return ok


def normalise_slo(slo: Mapping[str, float] | None) -> dict[str, float]:
    """Accept ``ttft_s``/``tpot_s``/``e2e_s`` (or ``*_ms``) limits; return them in seconds."""
    if not slo:
        return {}
    out: dict[str, float] = {}
    for key, value in slo.items():
        base = key.removesuffix("_ms").removesuffix("_s")
        if base not in ("ttft", "tpot", "e2e", "itl_mean"):
            raise ValueError(f"slo: unknown objective {key!r}; use ttft_s, tpot_s or e2e_s (or *_ms)")
        out[f"{base}_s"] = float(value) / (1000.0 if key.endswith("_ms") else 1.0)
    return out


def summarize(requests: pd.DataFrame, chunks: pd.DataFrame, levels: pd.DataFrame, *,
              slo: Mapping[str, float] | None = None, pricing: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Per-level summary; see :meth:`vultr_toolkit.bench.BenchmarkResult.summary`."""
    slo_s = normalise_slo(slo)
    measured = requests[requests["phase"] == "measure"]
    rows = []
    for _, lv in levels.iterrows():
        key = lv["level_index"]
        df = measured[measured["level_index"] == key]
        ok = df[df["status"] == "ok"]
        ch = chunks[chunks["request_id"].isin(ok["request_id"])]
        duration = float(lv["duration_s"]) if pd.notna(lv["duration_s"]) else float("nan")
        tokens = float(ok["output_tokens"].fillna(0).sum())
        row: dict[str, Any] = {
            "level": float(lv["level"]), "mode": lv["mode"], "requests": len(df), "ok": len(ok),
            "errors": len(df) - len(ok),
        }
        kinds = df["error_kind"].astype("string").value_counts()
        for k in ERROR_KINDS:
            row[f"errors_{k}"] = int(kinds.get(k, 0))
        row["errors_other"] = int(row["errors"] - sum(row[f"errors_{k}"] for k in ERROR_KINDS))
        row["error_rate"] = row["errors"] / len(df) if len(df) else float("nan")
        for m in ("ttft_s", "ttfc_s", "tpot_s", "e2e_s"):
            row.update(percentile_stats(ok[m], m.removesuffix("_s") + "_s"))
        row.update(percentile_stats(itl_samples(ch), "itl_s"))
        row["output_tokens"] = int(tokens)
        row["duration_s"] = duration
        row["output_tokens_per_s"] = tokens / duration if duration > 0 else float("nan")
        row["requests_per_s"] = len(ok) / duration if duration > 0 else float("nan")
        row["target_rate"] = float(lv["level"]) if lv["mode"] == "rate" else float("nan")
        sent = np.sort(df["sent_ns"].to_numpy(dtype="int64")) if len(df) else np.zeros(0, dtype="int64")
        span = (sent[-1] - sent[0]) / 1e9 if len(sent) > 1 else 0.0
        row["achieved_rate"] = (len(sent) - 1) / span if span > 0 else float("nan")
        if slo_s:
            good = int(_meets(df, slo_s).sum())
            row["goodput_requests"] = good
            row["goodput_rps"] = good / duration if duration > 0 else float("nan")
            row["goodput_ratio"] = good / len(df) if len(df) else float("nan")
        row["usd_per_1m_output"] = _usd_per_1m_output(ok, pricing)
        lag = df["schedule_lag_ms"].astype("Float64").dropna()
        row["schedule_lag_ms_p99"] = float(np.percentile(lag, 99)) if len(lag) else float("nan")
        row["schedule_lag_ms_max"] = float(lag.max()) if len(lag) else float("nan")
        q = df["client_queue_ms"].astype("Float64").dropna()
        row["client_queue_ms_p99"] = float(np.percentile(q, 99)) if len(q) else float("nan")
        row["client_cpu_pct"] = float(lv["client_cpu_pct"]) if pd.notna(lv["client_cpu_pct"]) else float("nan")
        row["client_bound"] = bool(row["schedule_lag_ms_p99"] > 10.0) if len(lag) else False
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        out = pd.DataFrame({"level": pd.Series(dtype="float64"), "mode": pd.Series(dtype="string")})
    out["mode"] = out["mode"].astype("category")
    return out


def _usd_per_1m_output(ok: pd.DataFrame, pricing: Mapping[str, Any] | None) -> float:
    if not pricing or pricing.get("completion_usd_per_token") is None or ok.empty:
        return float("nan")
    out_tokens = float(ok["output_tokens"].fillna(0).sum())
    if out_tokens <= 0:
        return float("nan")
    in_tokens = float(ok["prompt_tokens"].fillna(0).sum())
    cost = out_tokens * float(pricing["completion_usd_per_token"]) + in_tokens * float(
        pricing.get("prompt_usd_per_token") or 0.0)
    return cost / out_tokens * 1e6


# The British spelling, kept one release: the package spells it ``summarize`` everywhere (issue 13: one name).
summarise = renamed(summarize, "summarise")
