"""``vt.bench.run`` / ``vt.bench.arun``: validate, run the engine on a private loop, build the result."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import ConfigError
from .._redact import redact_url
from .._validate import as_int
from .._version import __version__
from .engine import EngineConfig, PrivateRun, fetch_models, run_in_private_loop, run_plan
from .metrics import normalise_slo
from .modelcheck import check_model
from .result import BenchmarkResult, build_frames
from .workload import Plan, build_plan

__all__ = ["arun", "run"]


class BenchmarkInterruptedWarning(UserWarning):
    """:func:`run` was interrupted in an interactive session and returned only the completed levels."""


def _resolve(target: Any) -> tuple[EngineConfig, float]:
    """Endpoint URL, key and default stall timeout from a Client, Settings, Sandbox or None (env)."""
    from .._settings import Settings

    settings: Any = target
    if target is None:
        settings = Settings()
    elif not isinstance(target, Settings):
        attr = getattr(target, "settings", None)
        settings = attr() if callable(attr) else attr
    if not isinstance(settings, Settings):
        raise ConfigError("client_or_settings: give a vt.Client / vt.AsyncClient, a vt.Settings, a vt.Sandbox or "
                          f"None (settings from the environment), got {type(target).__name__}")
    return EngineConfig(settings.inference_url, settings.secret("inference_api_key")), settings.timeout_s


def _prepare(target: Any, *, model: str, prompts: Sequence[Any] | None, input_tokens: int | None,
             max_tokens: int, concurrency: int | Sequence[int] | None, rate: float | Sequence[float] | None,
             burstiness: float, max_concurrency: int | None, requests: int | None, duration_s: float | None,
             warmup: int, seed: int, workers: int | None, slo: Mapping[str, float] | None, timeout_s: float | None,
             stall_timeout_s: float | None, label: str | None,
             tokenizer: Callable[[str], int] | None, cluster: Any = None
             ) -> tuple[EngineConfig, Plan, dict[str, Any]]:
    if cluster is not None:
        from .distributed import check_cluster_arg

        check_cluster_arg(cluster)
    if workers is not None:
        workers = as_int("workers", workers, minimum=1, hint=" (worker processes)")
    try:
        slo_s = normalise_slo(slo)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    cfg, default_stall = _resolve(target)
    plan = build_plan(model=model, max_tokens=max_tokens, prompts=prompts, input_tokens=input_tokens,
                      concurrency=concurrency, rate=rate, burstiness=burstiness, max_concurrency=max_concurrency,
                      requests=requests, duration_s=duration_s, warmup=warmup, seed=seed, timeout_s=timeout_s,
                      stall_timeout_s=stall_timeout_s if stall_timeout_s is not None else default_stall,
                      tokenizer=tokenizer)
    meta = {
        "model": model, "label": label, "endpoint": redact_url(cfg.url), "mode": plan.levels[0].mode,
        "levels": [lv.level for lv in plan.levels], "max_tokens": plan.max_tokens,
        "input_tokens": plan.input_tokens,
        "prompts": None if prompts is None else len(prompts),
        "requests": None if requests is None else plan.levels[0].requests,
        "duration_s": plan.levels[0].duration_s, "burstiness": plan.levels[0].burstiness,
        "max_concurrency": plan.levels[0].max_concurrency, "warmup": plan.warmup, "seed": plan.seed,
        "workers": workers or 1, "slo": slo_s or None, "timeout_s": plan.timeout_s,
        "stall_timeout_s": plan.stall_timeout_s,
        "toolkit_version": __version__, "transport": "aiohttp", "tokenizer": tokenizer is not None,
    }
    return cfg, plan, meta


def _total(plan: Plan) -> int | None:
    if any(lv.requests is None for lv in plan.levels):
        return None
    return plan.warmup + sum(int(lv.requests or 0) for lv in plan.levels)


def _new_state() -> dict[str, Any]:
    """What :func:`_main` has gathered so far; finished levels land here, so an interrupt can still report them."""
    return {"rows": [], "chunks": [], "levels": [], "pricing": None, "wall_ns": time.time_ns(),
            "mono_ns": time.monotonic_ns(), "loop": "asyncio", "models_checked": False, "cluster": None}


async def _main(cfg: EngineConfig, plan: Plan, workers: int | None, progress: Any, cluster: Any = None,
                state: dict[str, Any] | None = None) -> dict[str, Any]:
    state = _new_state() if state is None else state
    docs = await fetch_models(cfg)
    pricing = check_model(plan.model, plan.max_tokens, docs)
    try:
        import uvloop  # noqa: F401

        loop_name = "uvloop" if "uvloop" in type(asyncio.get_running_loop()).__module__ else "asyncio"
    except ImportError:  # pragma: no cover
        loop_name = "asyncio"
    wall, mono = time.time_ns(), time.monotonic_ns()
    state.update(pricing=pricing, wall_ns=wall, mono_ns=mono, loop=loop_name, models_checked=docs is not None)
    cluster_info = None
    if cluster is not None:  # one shard per Dask worker, stamps moved onto this clock (see .distributed)
        from .distributed import arun_plan

        rows, chunks, levels, cluster_info = await arun_plan(cfg, plan, cluster, workers=workers, progress=progress)
    else:
        rows, chunks, levels = await run_plan(cfg, plan, workers=workers or 1, progress=progress,
                                              into=(state["rows"], state["chunks"], state["levels"]))
    state.update(rows=rows, chunks=chunks, levels=levels, cluster=cluster_info)
    return state


def _result(out: dict[str, Any], meta: dict[str, Any], started: dt.datetime,
            interrupted: bool = False) -> BenchmarkResult:
    requests, chunks, levels = build_frames(out["rows"], out["chunks"], out["levels"], wall_ns=out["wall_ns"],
                                            mono_ns=out["mono_ns"])
    meta = {**meta, "interrupted": interrupted, "pricing": out["pricing"] or None, "loop": out["loop"],
            "models_checked": out["models_checked"],
            "started_at": started.isoformat(), "finished_at": dt.datetime.now(dt.UTC).isoformat(),
            "host_cpus": os.cpu_count()}
    if out.get("cluster") is not None:
        meta["cluster"] = out["cluster"]
        meta["workers"] = len(out["cluster"]["workers"])
    return BenchmarkResult(requests, chunks, levels, meta)


def _interactive() -> bool:
    # A Jupyter/IPython kernel or `python -i`: the user wants the partial result kept, not a traceback.
    import sys

    # (ipykernel merely imported, e.g. by a test plugin, is not a kernel: ask IPython whether one is running)
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return shell is not None or hasattr(sys, "ps1") or bool(sys.flags.interactive)


def _stop(fut: PrivateRun[dict[str, Any]], grace_s: float = 10.0) -> None:
    """Cancel the engine and wait (bounded) until it has closed its streams / killed its workers."""
    fut.stop()
    with contextlib.suppress(BaseException):
        fut.exception(timeout=grace_s)


def _interrupted(state: dict[str, Any], meta: dict[str, Any], started: dt.datetime,
                 exc: BaseException) -> BenchmarkResult:
    res = _result(state, meta, started, interrupted=True)
    done = len(state["levels"])
    msg = (f"benchmark interrupted: load stopped; returning the {done} completed level(s) "
           f"({len(state['rows'])} requests), meta['interrupted'] is True; a level cut midway is dropped")
    if not _interactive():
        exc.partial_result = res  # type: ignore[attr-defined]
        raise exc
    warnings.warn(msg, BenchmarkInterruptedWarning, stacklevel=3)
    return res


def _progress_array(workers: int) -> Any:
    if workers == 1:
        return [0]
    return multiprocessing.get_context("spawn").Array("q", workers, lock=False)


def _bar(total: int | None, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="bench", unit="req", leave=False)


def _tick(bar: Any, progress: Any, shown: int) -> int:
    done = int(sum(progress))
    if bar is not None and done > shown:
        bar.update(done - shown)
    return done


def run(client_or_settings: Any = None, *, model: str, prompts: Sequence[Any] | None = None,
        input_tokens: int | None = None, max_tokens: int, concurrency: int | Sequence[int] | None = None,
        rate: float | Sequence[float] | None = None, burstiness: float = 1.0, max_concurrency: int | None = None,
        requests: int | None = None, duration_s: float | None = None, warmup: int = 0, seed: int = 0,
        workers: int | None = None, slo: Mapping[str, float] | None = None, progress: bool = True,
        timeout_s: float | None = None, stall_timeout_s: float | None = None,
        label: str | None = None, tokenizer: Callable[[str], int] | None = None,
        cluster: Any = None) -> BenchmarkResult:
    """Benchmark a chat model's streaming latency and throughput; returns a :class:`BenchmarkResult`.

    Closed loop: ``concurrency=[1, 8, 32]`` users (one level each). Open loop: ``rate=`` requests/s (a number or
    a list; Poisson arrivals, ``burstiness`` = gamma shape), optionally capped by ``max_concurrency``. Each level
    sends ``requests`` requests or runs ``duration_s`` seconds (default: max(32, 4×users) requests, or
    max(32, 10 s × rate)). ``warmup`` requests go first and are flagged, not summarised. ``workers > 1`` spreads
    the load over spawned worker processes. ``cluster=`` (a ``dask.distributed.Client``, a Dask cluster object or
    a scheduler address) runs one shard per Dask worker instead — all of them, or the first ``workers`` — with
    clock offsets corrected before merging (:mod:`vultr_toolkit.bench.distributed`).
    ``slo={"ttft_s": .5, "tpot_s": .05, "e2e_s": 10}`` enables goodput.
    ``timeout_s`` bounds a whole request (default: none); ``stall_timeout_s`` the silence between two reads
    (default: the settings' timeout, 30 s). ``tokenizer`` (str -> token count) counts output tokens when the
    server sends no usage (picklable when ``workers > 1``). Bad arguments raise :class:`ConfigError` before
    any request; an unknown model too (checked against ``GET /models``).

    Works inside a running event loop (Jupyter): the engine runs on its own loop in a worker thread.

    Interrupting (Ctrl-C, Jupyter's Interrupt, any KeyboardInterrupt) stops the load at once: in-flight streams
    are closed and worker processes killed. The levels already completed form a result with
    ``meta["interrupted"] = True`` (a level cut midway is dropped, never reported as complete). In an
    interactive session (Jupyter, IPython, ``python -i``) that result is returned with a
    :class:`BenchmarkInterruptedWarning`, so the kernel keeps it; in a script the KeyboardInterrupt is
    re-raised (Ctrl-C still stops the script) with the result on ``exc.partial_result``.

    >>> res = vt.bench.run(client, model="qwen3.8-27b", concurrency=[1, 8], requests=16,
    ...                    max_tokens=32)
    >>> res
    <BenchmarkResult model='qwen3.8-27b' mode=concurrency levels=[1, 8] requests=32 errors=0 chunks=...>
    >>> res.summary()[["level", "requests", "errors"]]
       level  requests  errors
    0    1.0        16       0
    1    8.0        16       0
    """
    cfg, plan, meta = _prepare(client_or_settings, model=model, prompts=prompts, input_tokens=input_tokens,
                               max_tokens=max_tokens, concurrency=concurrency, rate=rate, burstiness=burstiness,
                               max_concurrency=max_concurrency, requests=requests, duration_s=duration_s,
                               warmup=warmup, seed=seed, workers=workers, slo=slo, timeout_s=timeout_s,
                               stall_timeout_s=stall_timeout_s, label=label, tokenizer=tokenizer,
                               cluster=cluster)
    started = dt.datetime.now(dt.UTC)
    counters = _progress_array(1 if cluster is not None else workers or 1)
    bar = _bar(_total(plan), progress)
    state = _new_state()
    fut = run_in_private_loop(lambda: _main(cfg, plan, workers, counters, cluster, state))
    shown = 0
    try:
        while True:
            try:
                out = fut.result(timeout=0.2)
                break
            except concurrent.futures.TimeoutError:
                shown = _tick(bar, counters, shown)
        _tick(bar, counters, shown)
    except KeyboardInterrupt as e:
        _stop(fut)
        return _interrupted(state, meta, started, e)
    finally:
        if bar is not None:
            bar.close()
    return _result(out, meta, started)


async def arun(client_or_settings: Any = None, *, model: str, prompts: Sequence[Any] | None = None,
               input_tokens: int | None = None, max_tokens: int, concurrency: int | Sequence[int] | None = None,
               rate: float | Sequence[float] | None = None, burstiness: float = 1.0,
               max_concurrency: int | None = None, requests: int | None = None, duration_s: float | None = None,
               warmup: int = 0, seed: int = 0, workers: int | None = None,
               slo: Mapping[str, float] | None = None, progress: bool = True, timeout_s: float | None = None,
               stall_timeout_s: float | None = None, label: str | None = None,
               tokenizer: Callable[[str], int] | None = None, cluster: Any = None) -> BenchmarkResult:
    """Async :func:`run` (same arguments). The engine still runs on its own loop, so the caller's loop stays
    responsive and adds no latency to the measurement.

    >>> import asyncio
    >>> async def main():
    ...     return await vt.bench.arun(client, model="qwen3.8-27b", rate=[2, 4], duration_s=1, max_tokens=16)
    >>> asyncio.run(main()).summary()["level"].tolist()
    [2.0, 4.0]
    """
    cfg, plan, meta = _prepare(client_or_settings, model=model, prompts=prompts, input_tokens=input_tokens,
                               max_tokens=max_tokens, concurrency=concurrency, rate=rate, burstiness=burstiness,
                               max_concurrency=max_concurrency, requests=requests, duration_s=duration_s,
                               warmup=warmup, seed=seed, workers=workers, slo=slo, timeout_s=timeout_s,
                               stall_timeout_s=stall_timeout_s, label=label, tokenizer=tokenizer,
                               cluster=cluster)
    started = dt.datetime.now(dt.UTC)
    counters = _progress_array(1 if cluster is not None else workers or 1)
    bar = _bar(_total(plan), progress)
    private = run_in_private_loop(lambda: _main(cfg, plan, workers, counters, cluster))
    fut = asyncio.wrap_future(private)
    shown = 0
    try:
        while not fut.done():
            await asyncio.wait({fut}, timeout=0.2)
            shown = _tick(bar, counters, shown)
        out = fut.result()
    except BaseException:  # cancelled (task.cancel, Ctrl-C in asyncio.run): stop the engine's load too
        private.stop()
        await asyncio.wait({fut}, timeout=10)
        if fut.done() and not fut.cancelled():
            fut.exception()  # retrieved: the engine's own CancelledError is expected, not worth a log line
        raise
    finally:
        if bar is not None:
            bar.close()
    return _result(out, meta, started)
