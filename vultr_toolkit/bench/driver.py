"""``vt.bench.run`` / ``vt.bench.arun``: validate, run the engine on a private loop, build the result."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import inspect
import multiprocessing
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any, Unpack

from .._errors import ConfigError
from .._redact import redact_url
from .._types import BenchTarget
from .._validate import as_int
from .._version import __version__
from .engine import EngineConfig, PrivateRun, fetch_models, run_in_private_loop, run_plan
from .errors import WorkerLostError
from .metrics import normalise_slo
from .modelcheck import check_model
from .options import BenchOptions, check_options, signature
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


def _prepare(target: Any, options: Mapping[str, Any]
             ) -> tuple[EngineConfig, Plan, dict[str, Any], dict[str, Any]]:
    """Validate every option (ConfigError before any request); the plan, the meta and the filled options."""
    o = check_options(options)
    if o["cluster"] is not None:
        from .distributed import check_cluster_arg

        check_cluster_arg(o["cluster"])
    workers = o["workers"] = (None if o["workers"] is None
                              else as_int("workers", o["workers"], minimum=1, hint=" (worker processes)"))
    try:
        slo_s = normalise_slo(o["slo"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    cfg, default_stall = _resolve(target)
    stall = o["stall_timeout_s"] if o["stall_timeout_s"] is not None else default_stall
    plan = build_plan(**{k: o[k] for k in _PLAN_KEYS}, stall_timeout_s=stall)
    meta = {
        "model": o["model"], "label": o["label"], "endpoint": redact_url(cfg.url), "mode": plan.levels[0].mode,
        "levels": [lv.level for lv in plan.levels], "max_tokens": plan.max_tokens,
        "input_tokens": plan.input_tokens,
        "prompts": plan.body_meta["prompts"],
        "requests": None if o["requests"] is None else plan.levels[0].requests,
        "duration_s": plan.levels[0].duration_s, "burstiness": plan.levels[0].burstiness,
        "max_concurrency": plan.levels[0].max_concurrency, "warmup": plan.warmup, "seed": plan.seed,
        "workers": workers or 1, "slo": slo_s or None, "timeout_s": plan.timeout_s,
        "stall_timeout_s": plan.stall_timeout_s,
        "toolkit_version": __version__, "transport": "aiohttp", "tokenizer": o["tokenizer"] is not None,
        # what the bodies asked for: length distributions, extra_body and sampling, header *names* only
        "workload": plan.body_meta,
    }
    return cfg, plan, meta, o


# build_plan's own keywords among the options (the rest belong to the driver: workers, slo, progress, …).
_PLAN_KEYS = ("model", "max_tokens", "prompts", "input_tokens", "output_tokens", "exact_output_tokens",
              "concurrency", "rate", "burstiness", "max_concurrency", "requests", "duration_s", "warmup", "seed",
              "timeout_s", "extra_body", "headers", "temperature", "top_p", "sampling_seed", "stop", "tokenizer",
              "dataset_sample", "dataset_replace")


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
    # Both runners append each level to these lists as it completes, so a lost worker or an interrupt leaves
    # exactly the finished levels here (see _lost / _interrupted).
    into = (state["rows"], state["chunks"], state["levels"])
    if cluster is not None:  # one shard per Dask worker, stamps moved onto this clock (see .distributed)
        from .distributed import arun_plan

        state["cluster"] = {}
        await arun_plan(cfg, plan, cluster, workers=workers, progress=progress, into=into,
                        cluster_info=state["cluster"])
    else:
        await run_plan(cfg, plan, workers=workers or 1, progress=progress, into=into)
    return state


def _result(out: dict[str, Any], meta: dict[str, Any], started: dt.datetime,
            interrupted: bool = False, failure: dict[str, Any] | None = None) -> BenchmarkResult:
    requests, chunks, levels = build_frames(out["rows"], out["chunks"], out["levels"], wall_ns=out["wall_ns"],
                                            mono_ns=out["mono_ns"])
    meta = {**meta, "interrupted": interrupted, **({"failure": failure} if failure is not None else {}),
            "pricing": out["pricing"] or None, "loop": out["loop"],
            "models_checked": out["models_checked"],
            "started_at": started.isoformat(), "finished_at": dt.datetime.now(dt.UTC).isoformat(),
            "host_cpus": os.cpu_count()}
    if out.get("cluster"):  # (still empty when the run failed before picking its workers)
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


def _lost(state: dict[str, Any], meta: dict[str, Any], started: dt.datetime,
          exc: WorkerLostError) -> WorkerLostError:
    """Attach the finished levels to a lost-worker error (``exc.partial_result``, ``meta["failure"]``)."""
    exc.partial_result = _result(state, meta, started, failure=exc.failure())
    return exc


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


def run(client_or_settings: BenchTarget = None, **options: Unpack[BenchOptions]) -> BenchmarkResult:
    """Benchmark a chat model's streaming latency and throughput; returns a :class:`BenchmarkResult`.

    Closed loop: ``concurrency=[1, 8, 32]`` users (one level each). Open loop: ``rate=`` requests/s (a number or
    a list; Poisson arrivals, ``burstiness`` = gamma shape), optionally capped by ``max_concurrency``. Each level
    sends ``requests`` requests or runs ``duration_s`` seconds (default: max(32, 4×users) requests, or
    max(32, 10 s × rate)). ``warmup`` requests go first and are flagged, not summarized. ``workers > 1`` spreads
    the load over spawned worker processes. ``cluster=`` (a ``dask.distributed.Client``, a Dask cluster object or
    a scheduler address) runs one shard per Dask worker instead — all of them, or the first ``workers`` — with
    clock offsets corrected before merging (:mod:`vultr_toolkit.bench.distributed`).
    ``slo={"ttft_s": .5, "tpot_s": .05, "e2e_s": 10}`` enables goodput.
    ``timeout_s`` bounds a whole request (default: none); ``stall_timeout_s`` the silence between two reads
    (default: the settings' timeout, 30 s). ``tokenizer`` (str -> token count) counts output tokens when the
    server sends no usage (picklable when ``workers > 1``). Bad arguments raise :class:`ConfigError` before
    any request; an unknown model too (checked against ``GET /models``).

    What each request asks for:

    * ``input_tokens=`` / ``output_tokens=``: an int, a distribution (``{"dist": "lognormal", "mean": 512,
      "sd": 200, "min": 16, "max": 4096}`` or ``"uniform:min=64,max=512"``) or an array of per-request lengths
      (:mod:`vultr_toolkit.bench.lengths`); seeded by ``seed``. ``output_tokens`` sets each request's
      ``max_tokens`` (give it or ``max_tokens``, not both). ``.requests`` shows the asked-for lengths
      (``input_tokens_target``, ``output_tokens_target``) beside what the server reports (``prompt_tokens``,
      ``output_tokens``), so a shortfall is visible, never assumed away.
    * ``exact_output_tokens=True`` also sends ``min_tokens`` = ``max_tokens`` and ``ignore_eos: true`` (vLLM's
      and llama.cpp-compatible extensions) so the server must produce the full length; servers that ignore them
      may stop early, which ``output_tokens`` then shows.
    * ``extra_body=`` (a JSON object merged into every body, e.g. ``{"reasoning": {"effort": "low"}}``; it may
      not set ``model``, ``messages``, ``stream``, ``stream_options`` or ``max_tokens``), ``headers=`` (extra
      request headers; ``Authorization`` comes from the settings), and sampling: ``temperature``, ``top_p``,
      ``stop`` and ``sampling_seed`` (sent as the body's ``seed``; ``seed=`` stays the workload's own seed).
      All are recorded in ``meta["workload"]`` (header names only, never their values).
    * ``prompts=`` a path to a local ``.jsonl`` / ``.csv`` / ``.parquet`` / ShareGPT ``.json`` file, or a
      ``datasets.Dataset`` (:mod:`vultr_toolkit.bench.datasets`; ``vt.bench.sample_dataset_path()`` is a bundled
      sample); ``dataset_sample=`` n rows drawn with ``seed`` (``dataset_replace=True``: with replacement).
      ``meta["workload"]["dataset"]`` records its name, file, sha256 and rows used.

    Works inside a running event loop (Jupyter): the engine runs on its own loop in a worker thread.

    Interrupting (Ctrl-C, Jupyter's Interrupt, any KeyboardInterrupt) stops the load at once: in-flight streams
    are closed and worker processes killed. The levels already completed form a result with
    ``meta["interrupted"] = True`` (a level cut midway is dropped, never reported as complete). In an
    interactive session (Jupyter, IPython, ``python -i``) that result is returned with a
    :class:`BenchmarkInterruptedWarning`, so the kernel keeps it; in a script the KeyboardInterrupt is
    re-raised (Ctrl-C still stops the script) with the result on ``exc.partial_result``.

    A worker that dies mid-run (a killed process with ``workers > 1``, a Dask worker that leaves) raises
    :class:`~vultr_toolkit.bench.WorkerLostError` naming it (pid/address, signal or exit code) and the level;
    the levels that finished before are on its ``.partial_result``, with ``meta["failure"]`` recording the loss.

    >>> res = vt.bench.run(client, model="qwen3.8-27b", concurrency=[1, 8], requests=16,
    ...                    max_tokens=32)
    >>> res
    <BenchmarkResult model='qwen3.8-27b' mode=concurrency levels=[1, 8] requests=32 errors=0 chunks=...>
    >>> res.summary()[["level", "requests", "errors"]]
       level  requests  errors
    0    1.0        16       0
    1    8.0        16       0
    """
    cfg, plan, meta, opts = _prepare(client_or_settings, options)
    workers, cluster, progress = opts["workers"], opts["cluster"], opts["progress"]
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
    except WorkerLostError as e:   # the engine has already stopped: keep what finished
        _lost(state, meta, started, e)
        raise
    finally:
        if bar is not None:
            bar.close()
    return _result(out, meta, started)


async def arun(client_or_settings: BenchTarget = None, **options: Unpack[BenchOptions]) -> BenchmarkResult:
    """Async :func:`run` (same arguments). The engine still runs on its own loop, so the caller's loop stays
    responsive and adds no latency to the measurement.

    >>> import asyncio
    >>> async def main():
    ...     return await vt.bench.arun(client, model="qwen3.8-27b", rate=[2, 4], duration_s=1, max_tokens=16)
    >>> asyncio.run(main()).summary()["level"].tolist()
    [2.0, 4.0]
    """
    cfg, plan, meta, opts = _prepare(client_or_settings, options)
    workers, cluster, progress = opts["workers"], opts["cluster"], opts["progress"]
    started = dt.datetime.now(dt.UTC)
    counters = _progress_array(1 if cluster is not None else workers or 1)
    bar = _bar(_total(plan), progress)
    state = _new_state()
    private = run_in_private_loop(lambda: _main(cfg, plan, workers, counters, cluster, state))
    fut = asyncio.wrap_future(private)
    shown = 0
    try:
        while not fut.done():
            await asyncio.wait({fut}, timeout=0.2)
            shown = _tick(bar, counters, shown)
        out = fut.result()
    except WorkerLostError as e:   # the engine has already stopped: keep what finished
        _lost(state, meta, started, e)
        raise
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


# One list of options (BenchOptions) for both; a real signature so Jupyter's `run?` and completion list them.
run.__signature__ = signature(inspect.Parameter("client_or_settings",  # type: ignore[attr-defined]
                                                inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None))
arun.__signature__ = run.__signature__  # type: ignore[attr-defined]
