"""The benchmark engine: sends the plan's requests and stamps every network read, nothing more.

Design (measured by ``benchmarks/bench_harness.py`` and the client baseline before it): the hot path uses **aiohttp
on uvloop**, not httpx2 (httpx2 spends 2–3× the client CPU per SSE chunk and its timing error passes 5 ms at 64
streams). Per read it does one ``monotonic_ns()`` and two list appends — *stamp first, parse later*: SSE decoding,
JSON and token accounting (:mod:`.metrics`) run after each level. The engine always runs on a private event loop in
its own thread (so ``run()`` works inside Jupyter's running loop and the notebook's loop never adds latency), and
with ``workers > 1`` on one such loop per **spawned worker process**; their records are merged. All processes read
the same CLOCK_MONOTONIC, so stamps compare directly and a shared start instant synchronises the workers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.process
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import aiohttp
import numpy as np

from .._errors import APIConnectionError, ConfigError
from .._redact import register_secret
from .errors import LostWorker, WorkerLostError
from .metrics import OVERLONG_FACTOR, OVERLONG_SLACK, analyse_request, split_proportional
from .workload import Level, Plan, arrival_offsets_s

__all__ = ["EngineConfig", "LevelOutput", "fetch_models", "run_in_private_loop", "run_plan"]

T = TypeVar("T")

_START_DELAY_NS = 200_000_000  # workers get this long to be ready before a level's shared start instant

# What one request may buffer. A real SSE line is a JSON chunk of a few hundred bytes; 1 MiB leaves room for
# huge tool-call deltas. 64 MiB is ~100x the largest completion a 128k-token model can send; without the caps
# three hostile 100 MB streams took the client from 141 MB to 1.23 GB.
MAX_LINE_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20
# A stream with more data frames than metrics.OVERLONG_FACTOR x max_tokens (+ slack for role/finish/usage
# frames) is not a completion any more: it is stopped and counted as ``overlong_stream``.
_MAX_ERROR_BODY = 64 << 10


class EngineConfig:
    """Where to send requests. Holds the API key; its repr never shows it."""

    __slots__ = ("api_key", "url")

    def __init__(self, url: str, api_key: str | None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        # an endpoint may echo the key in an error body: redact() then masks it in rows and stored history
        register_secret(api_key)

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def __repr__(self) -> str:
        return f"EngineConfig(url={self.url!r}, api_key={'<set>' if self.api_key else None})"

    def __getstate__(self) -> tuple[str, str | None]:
        return (self.url, self.api_key)

    def __setstate__(self, state: tuple[str, str | None]) -> None:
        self.url, self.api_key = state
        register_secret(self.api_key)  # spawned workers analyse their own rows


# A raw record is a plain dict (cheap to build, pickles between processes); keys documented in
# metrics.analyse_request.
Raw = dict[str, Any]
LevelOutput = tuple[list[dict[str, Any]], list[dict[str, list[Any]]], float]  # requests, chunks, cpu seconds


def new_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop, uvloop's when it is installed (half the client CPU per chunk, see module doc)."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a core dependency on Linux
        return asyncio.new_event_loop()


class PrivateRun(concurrent.futures.Future[T]):
    """The future of a coroutine running on a private loop; :meth:`stop` cancels it on that loop.

    ``Future.cancel`` cannot stop a coroutine that is already running, so ``stop`` cancels the asyncio task:
    the CancelledError unwinds the engine, which closes its sessions and so every in-flight stream.

    >>> run = run_in_private_loop(lambda: asyncio.sleep(60))
    >>> run.stop(); run.exception(timeout=5)
    CancelledError()
    """

    def __init__(self) -> None:
        super().__init__()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[T] | None = None
        self._stop_requested = False
        self._lock = threading.Lock()

    def _started(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[T]) -> None:
        with self._lock:
            self._loop, self._task = loop, task
            if self._stop_requested:
                task.cancel()

    def stop(self) -> None:
        """Cancel the coroutine (thread-safe; idempotent); wait on the future to see it finish."""
        with self._lock:
            self._stop_requested = True
            if self._loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):  # loop already closed: nothing left to stop
                    self._loop.call_soon_threadsafe(self._task.cancel)


def run_in_private_loop(factory: Callable[[], Coroutine[Any, Any, T]]) -> PrivateRun[T]:
    """Run a coroutine on a new event loop in a daemon thread; return a future of its result.

    Works whether or not the caller is inside a running loop (Jupyter), because it never touches the
    caller's loop. ``.stop()`` on the returned future cancels the coroutine.
    """
    fut: PrivateRun[T] = PrivateRun()

    def target() -> None:
        loop = new_loop()
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(factory())
            fut._started(loop, task)
            fut.set_result(loop.run_until_complete(task))
        except BaseException as e:  # hand every failure, even KeyboardInterrupt, to the waiting caller
            fut.set_exception(e)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    threading.Thread(target=target, name="vultr-toolkit-bench", daemon=True).start()
    return fut


def _session(plan: Plan, limit: int) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=plan.timeout_s, sock_connect=min(plan.stall_timeout_s, 30.0),
                                    sock_read=plan.stall_timeout_s)
    connector = aiohttp.TCPConnector(limit=max(0, limit), force_close=False, enable_cleanup_closed=False)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                 skip_auto_headers=("User-Agent",))


async def _read_stream(resp: aiohttp.ClientResponse, rec: Raw, stall_s: float, max_frames: int) -> None:
    """Stamp and keep every read of a 200 stream, within the caps.

    Stall means no *data* frame for ``stall_s``: aiohttp's ``sock_read`` is reset by any byte, so a server
    sending only ``: ping`` comments held a request forever. The deadline moves only when a read carries
    ``data:``. A line longer than :data:`MAX_LINE_BYTES` or a body over :data:`MAX_BODY_BYTES` is a
    ``protocol_error``; more than ``max_frames`` data frames an ``overlong_stream``. Either stops the read.
    """
    stamps: list[int] = rec["stamps"]
    reads: list[bytes] = rec["reads"]
    mono = time.monotonic_ns
    read = resp.content.readany
    loop = asyncio.get_running_loop()
    total = tail = frames = 0
    cm = asyncio.timeout(stall_s)
    try:
        async with cm:
            while True:
                data = await read()
                if not data:
                    return
                stamps.append(mono())
                reads.append(data)
                n = data.count(b"data:")
                if n:
                    frames += n
                    cm.reschedule(loop.time() + stall_s)
                total += len(data)
                nl = data.rfind(b"\n")
                tail = tail + len(data) if nl < 0 else len(data) - nl - 1
                if tail > MAX_LINE_BYTES:
                    rec["failure"] = "protocol_error"
                    rec["message"] = f"an SSE line exceeded {MAX_LINE_BYTES} bytes without a newline"
                    return
                if total > MAX_BODY_BYTES:
                    rec["failure"] = "protocol_error"
                    rec["message"] = f"the stream exceeded {MAX_BODY_BYTES} bytes"
                    return
                if frames > max_frames:
                    rec["failure"] = "overlong_stream"
                    rec["message"] = f"the stream sent over {max_frames} data frames (max_tokens far exceeded)"
                    return
    except TimeoutError:
        if not cm.expired():
            raise
        rec["failure"] = "stalled"
        rec["message"] = "the stream stalled: no data frame within stall_timeout_s (comment lines do not count)"


async def _send(session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes, rec: Raw,
                progress: Any, slot: int, max_tokens: int | None = None) -> None:
    """One request, the hot path: stamp every read, keep the bytes, classify transport failures."""
    stamps: list[int] = []
    reads: list[bytes] = []
    rec["stamps"] = stamps
    rec["reads"] = reads
    mono = time.monotonic_ns
    rec["sent_ns"] = mono()
    got_headers = False
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            got_headers = True
            rec["status"] = resp.status
            if resp.status != 200:
                rec["body"] = await resp.content.read(_MAX_ERROR_BODY)  # only its first 300 chars are shown
                rec["retry_after"] = resp.headers.get("Retry-After")
            else:
                stall_s = session.timeout.sock_read or 30.0
                max_frames = OVERLONG_FACTOR * max_tokens + OVERLONG_SLACK if max_tokens else 1 << 62
                await _read_stream(resp, rec, stall_s, max_frames)
    except aiohttp.ServerTimeoutError as e:
        # sock_read expired: after the headers that is a stalled stream, before them a timeout.
        rec["failure"] = "stalled" if got_headers else "timeout"
        rec["message"] = ("the stream stalled: no data within stall_timeout_s" if got_headers
                          else f"no response within stall_timeout_s ({type(e).__name__})")
    except TimeoutError:
        rec["failure"] = "timeout"
        rec["message"] = "the request exceeded timeout_s"
    except aiohttp.ClientPayloadError as e:
        rec["failure"] = "truncated"
        rec["message"] = f"the stream was cut: {type(e).__name__}"
    except (aiohttp.ClientError, OSError) as e:
        rec["failure"] = "truncated" if got_headers else "connection"
        rec["message"] = f"{type(e).__name__}: {e!s}"[:300]
    rec["end_ns"] = mono()
    progress[slot] += 1


def _new_rec(rid: int, phase: str, scheduled_ns: int) -> Raw:
    return {"rid": rid, "phase": phase, "scheduled_ns": scheduled_ns, "woke_ns": time.monotonic_ns(),
            "status": 0, "failure": None, "message": "", "body": b"", "retry_after": None}


async def _closed_loop(session: aiohttp.ClientSession, cfg: EngineConfig, plan: Plan, users: int,
                       budget: int | None, deadline_ns: int | None, start_ns: int, first_rid: int, stride: int,
                       phase: str, progress: Any, slot: int) -> list[Raw]:
    recs: list[Raw] = []
    url = cfg.url + "/chat/completions"
    headers = {**cfg.headers(), **dict(plan.headers)}
    counter = [0]

    async def user() -> None:
        free_at = start_ns
        while True:
            k = counter[0]
            if budget is not None and k >= budget:
                return
            if deadline_ns is not None and time.monotonic_ns() >= deadline_ns:
                return
            counter[0] = k + 1
            rid = first_rid + k * stride
            rec = _new_rec(rid, phase, free_at)
            recs.append(rec)
            await _send(session, url, headers, plan.body(rid), rec, progress, slot, plan.max_tokens)
            free_at = rec["end_ns"]

    await _sleep_until(start_ns)
    await asyncio.gather(*(user() for _ in range(users)))
    return recs


async def _open_loop(session: aiohttp.ClientSession, cfg: EngineConfig, plan: Plan, offsets_ns: Sequence[int],
                     rids: Sequence[int], max_concurrency: int | None, start_ns: int, progress: Any,
                     slot: int) -> list[Raw]:
    recs: list[Raw] = []
    url = cfg.url + "/chat/completions"
    headers = {**cfg.headers(), **dict(plan.headers)}
    sem = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    tasks = []

    async def capped(body: bytes, rec: Raw) -> None:
        assert sem is not None
        async with sem:
            await _send(session, url, headers, body, rec, progress, slot, plan.max_tokens)

    for off, rid in zip(offsets_ns, rids, strict=True):
        due = start_ns + int(off)
        await _sleep_until(due)
        rec = _new_rec(rid, "measure", due)
        recs.append(rec)
        body = plan.body(rid)
        coro = (capped(body, rec) if sem is not None
                else _send(session, url, headers, body, rec, progress, slot, plan.max_tokens))
        tasks.append(asyncio.ensure_future(coro))
    if tasks:
        await asyncio.gather(*tasks)
    return recs


async def _sleep_until(due_ns: int) -> None:
    delay = due_ns - time.monotonic_ns()
    if delay > 0:
        await asyncio.sleep(delay / 1e9)


def _finish(recs: list[Raw], level_index: int, worker: int, plan: Plan
            ) -> tuple[list[dict[str, Any]], list[dict[str, list[Any]]]]:
    """Parse raw records into request rows + chunk columns (after the level, off the hot path)."""
    rows, chunk_cols = [], []
    for rec in recs:
        in_target, out_target = plan.targets(rec["rid"])
        row, chunks = analyse_request(rec, tokenizer=plan.tokenizer, max_tokens=out_target)
        row.update(request_id=rec["rid"], level_index=level_index, phase=rec["phase"], worker=worker,
                   input_tokens_target=in_target, output_tokens_target=out_target,
                   scheduled_ns=rec["scheduled_ns"], woke_ns=rec["woke_ns"], sent_ns=rec["sent_ns"],
                   end_ns=rec["end_ns"])
        rows.append(row)
        chunks["request_id"] = [rec["rid"]] * len(chunks["index"])
        chunk_cols.append(chunks)
    return rows, chunk_cols


async def _level_task(session: aiohttp.ClientSession, cfg: EngineConfig, plan: Plan, level: Level,
                      level_index: int, worker: int, workers: int, start_ns: int, offsets_ns: Sequence[int],
                      progress: Any, slot: int, warmup: int, first_rid: int) -> LevelOutput:
    """Run this process's share of one level (or of the warm-up when ``warmup`` > 0)."""
    cpu0 = time.thread_time() if workers == 1 else time.process_time()
    if warmup:
        share = warmup // workers + (worker < warmup % workers)
        recs = await _closed_loop(session, cfg, plan, max(1, min(share, level.users or 1)), share, None, start_ns,
                                  first_rid + worker, workers, "warmup", progress, slot)
    elif level.mode == "concurrency":
        split = [level.users // workers + (w < level.users % workers) for w in range(workers)]
        users = split[worker]
        budget = None
        if level.requests is not None:
            # in proportion to this worker's users, so a worker without users gets no requests to lose
            budget = split_proportional(level.requests, split)[worker]
        deadline = start_ns + int(level.duration_s * 1e9) if level.duration_s is not None else None
        recs = await _closed_loop(session, cfg, plan, users, budget, deadline, start_ns, first_rid + worker,
                                  workers, "measure", progress, slot) if users else []
    else:
        mine = list(range(worker, len(offsets_ns), workers))
        cap = None
        if level.max_concurrency:
            cap = max(1, level.max_concurrency // workers + (worker < level.max_concurrency % workers))
        recs = await _open_loop(session, cfg, plan, [offsets_ns[i] for i in mine], [first_rid + i for i in mine],
                                cap, start_ns, progress, slot)
    cpu = (time.thread_time() if workers == 1 else time.process_time()) - cpu0
    rows, chunks = _finish(recs, level_index, worker, plan)
    return rows, chunks, cpu


# --- worker processes -----------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _worker_init(progress: Any, barrier: Any) -> None:
    loop = new_loop()
    asyncio.set_event_loop(loop)
    _WORKER["loop"] = loop
    _WORKER["progress"] = progress
    _WORKER["barrier"] = barrier
    gc.freeze()


def _rendezvous() -> None:
    # Every pool call is one per worker: waiting for all of them here guarantees that each process takes
    # exactly one call (a process parked at the barrier cannot pick up a second one).
    _WORKER["barrier"].wait(timeout=120)


def _worker_ping() -> int:
    _rendezvous()
    return os.getpid()


def _worker_level(cfg: EngineConfig, plan: Plan, level: Level, level_index: int, worker: int, workers: int,
                  start_ns: int, offsets_ns: Sequence[int], warmup: int, first_rid: int) -> LevelOutput:
    loop: asyncio.AbstractEventLoop = _WORKER["loop"]
    _rendezvous()
    if "session" not in _WORKER:
        async def make() -> aiohttp.ClientSession:
            return _session(plan, 0)

        _WORKER["session"] = loop.run_until_complete(make())
    return loop.run_until_complete(_level_task(_WORKER["session"], cfg, plan, level, level_index, worker, workers,
                                               start_ns, offsets_ns, _WORKER["progress"], worker, warmup,
                                               first_rid))


def _worker_close() -> bool:
    _rendezvous()
    session = _WORKER.pop("session", None)
    if session is not None:
        _WORKER["loop"].run_until_complete(session.close())
    return True


# --- orchestration --------------------------------------------------------------------------------------------
async def fetch_models(cfg: EngineConfig, timeout_s: float = 30.0) -> list[dict[str, Any]] | None:
    """GET ``/models`` (public on Vultr); None when the server has no such route or answers oddly."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s, \
                s.get(cfg.url + "/models", headers={k: v for k, v in cfg.headers().items() if k != "Accept"}) as resp:
            if resp.status != 200:
                return None
            doc = await resp.json(content_type=None)
    except (aiohttp.ClientConnectionError, TimeoutError, OSError) as e:
        raise APIConnectionError(f"cannot reach the inference endpoint {cfg.url}/models ({type(e).__name__}); "
                                 "check VULTR_INFERENCE_URL or that the sandbox is running",
                                 method="GET", path="/models") from None
    except (aiohttp.ClientError, ValueError):
        return None
    data = doc.get("data") if isinstance(doc, dict) else doc
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else None


def _level_offsets(level: Level, rng: np.random.Generator) -> list[int]:
    if level.mode != "rate":
        return []
    if level.requests is not None:
        offs = arrival_offsets_s(level.requests, level.level, level.burstiness, rng)
    else:
        assert level.duration_s is not None
        n = int(level.level * level.duration_s * 1.5) + 16
        offs = arrival_offsets_s(n, level.level, level.burstiness, rng)
        offs = offs[offs < level.duration_s]
    return [int(o * 1e9) for o in offs]


async def run_plan(cfg: EngineConfig, plan: Plan, *, workers: int = 1,
                   progress: Any = None, on_level: Callable[[int], None] | None = None,
                   into: tuple[list[dict[str, Any]], list[dict[str, list[Any]]], list[dict[str, Any]]] | None = None
                   ) -> tuple[list[dict[str, Any]], list[dict[str, list[Any]]], list[dict[str, Any]]]:
    """Run every level of ``plan``; return request rows, chunk columns and per-level diagnostics.

    ``progress`` is a mutable sequence of ``workers`` counters the caller may poll (a shared-memory array when
    ``workers > 1``). ``into`` = caller-owned ``(rows, chunks, levels)`` lists, appended to only when a level
    completes, so a cancelled run leaves exactly the finished levels there (a level cut midway is dropped).
    Cancelling the task closes every in-flight stream and kills worker processes.
    """
    if progress is None:
        progress = [0] * workers
    rng = np.random.default_rng((plan.seed, 7))
    rows, chunks, level_rows = into if into is not None else ([], [], [])
    next_rid = 0
    gc.collect()
    gc.freeze()  # as vLLM's bench: keep the collector from scanning startup objects mid-stream
    try:
        if workers == 1:
            async with _session(plan, 0) as session:
                for index, level in [(-1, plan.levels[0])] * bool(plan.warmup) + list(enumerate(plan.levels)):
                    offsets = _level_offsets(level, rng) if index >= 0 else []
                    start = time.monotonic_ns() + 1_000_000
                    warm = plan.warmup if index < 0 else 0
                    out = await _level_task(session, cfg, plan, level, max(index, 0), 0, 1, start, offsets,
                                            progress, 0, warm, next_rid)
                    end, cpu, next_rid = merge_shards([out], rows, chunks, start, next_rid)
                    if index >= 0:
                        level_rows.append(_level_row(index, level, start, end, cpu, 1))
                        if on_level:
                            on_level(index)
        else:
            ctx = multiprocessing.get_context("spawn")
            watch = _DeathWatch()
            with _explain_broken_pool(watch), \
                    concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                                           initargs=(progress, ctx.Barrier(workers))) as pool, \
                    _kill_workers_on_cancel(pool):
                loop = asyncio.get_running_loop()
                # spawn imports the package in every worker: wait for all of them before timing anything
                await asyncio.gather(*(loop.run_in_executor(pool, _worker_ping) for _ in range(workers)))
                watch.start(pool)   # from here on a dead worker is a lost worker, not a failed start
                for index, level in [(-1, plan.levels[0])] * bool(plan.warmup) + list(enumerate(plan.levels)):
                    watch.level_index = index
                    offsets = _level_offsets(level, rng) if index >= 0 else []
                    warm = plan.warmup if index < 0 else 0
                    start = time.monotonic_ns() + _START_DELAY_NS
                    futs = [loop.run_in_executor(pool, _worker_level, cfg, plan, level, max(index, 0), w, workers,
                                                 start, offsets, warm, next_rid) for w in range(workers)]
                    outs = await asyncio.gather(*futs)
                    end, cpu, next_rid = merge_shards(outs, rows, chunks, start, next_rid)
                    if index >= 0:
                        level_rows.append(_level_row(index, level, start, end, cpu, workers))
                        if on_level:
                            on_level(index)
                # every level is in: a worker dying while it closes its session costs nothing worth failing for
                with contextlib.suppress(concurrent.futures.process.BrokenProcessPool):
                    await asyncio.gather(*(loop.run_in_executor(pool, _worker_close) for _ in range(workers)))
    finally:
        gc.unfreeze()
    return rows, chunks, level_rows


def merge_shards(outs: Sequence[LevelOutput], rows: list[dict[str, Any]], chunks: list[Any], start_ns: int,
                 next_rid: int) -> tuple[int, float, int]:
    """Append each shard's records of one level to ``rows``/``chunks`` (in place).

    Returns the level's end (the last request's ``end_ns``, or ``start_ns``), the shards' summed client CPU
    seconds, and the next free request id. Shared by worker processes and Dask shards.
    """
    cpu = 0.0
    end = start_ns
    for r, c, cpu_w in outs:
        rows += r
        chunks += c
        cpu += cpu_w
        end = max([end, *(x["end_ns"] for x in r)])
    next_rid = max([next_rid - 1, *(x["request_id"] for r, _, _ in outs for x in r)]) + 1
    return end, cpu, next_rid


@contextlib.contextmanager
def _kill_workers_on_cancel(pool: concurrent.futures.ProcessPoolExecutor) -> Iterator[None]:
    # A worker runs its level to the end whatever happens to the future awaiting it; on cancel (Ctrl-C,
    # task.cancel) kill the processes so no request is sent after the interrupt, and their sockets close.
    try:
        yield
    except BaseException:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _lost_process(proc: Any) -> LostWorker:
    code = proc.exitcode
    return LostWorker(address=None, pid=proc.pid, signal=-code if code is not None and code < 0 else None,
                      exit_code=code if code is not None and code >= 0 else None)


class _DeathWatch:
    """Which worker processes died first, and how.

    Once one worker dies the pool SIGTERMs the others, so exit codes read afterwards cannot tell the culprit
    from the bystanders: a daemon thread waits on the processes' sentinels and records the first to end.
    ``level_index`` is the level running (-1 the warm-up); None until every worker has started.
    """

    def __init__(self) -> None:
        self.level_index: int | None = None
        self.first: list[LostWorker] = []
        self._procs: list[Any] = []
        self._thread: threading.Thread | None = None

    def start(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        self._procs = list((getattr(pool, "_processes", None) or {}).values())
        self._thread = threading.Thread(target=self._watch, name="vultr-toolkit-deathwatch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        with contextlib.suppress(Exception):  # a best-effort diagnosis: never a failure of its own
            ready = multiprocessing.connection.wait([p.sentinel for p in self._procs])
            for proc in self._procs:
                if proc.sentinel in ready:
                    proc.join(1)    # reaped, so its exit code is known
                    # ... unless the pool's own thread won the race to waitpid(): then our poll saw ECHILD and
                    # the code lands on the shared Popen a moment later, set by that thread.
                    deadline = time.monotonic() + 1.0
                    while proc.exitcode is None and time.monotonic() < deadline:
                        time.sleep(0.01)
                    self.first.append(_lost_process(proc))

    def lost(self) -> list[LostWorker]:
        """The workers that died first (falls back to every dead one not terminated by the pool itself)."""
        if self._thread is not None:
            self._thread.join(2)
        if self.first:
            return list(self.first)
        dead = [p for p in self._procs if p.exitcode is not None]
        return ([_lost_process(p) for p in dead if p.exitcode != -signal.SIGTERM]
                or [_lost_process(p) for p in dead])


@contextlib.contextmanager
def _explain_broken_pool(watch: _DeathWatch) -> Iterator[None]:
    """A dead worker process: a failed start (the classic missing ``__main__`` guard) only while the workers
    were still starting; once they ran, a :class:`WorkerLostError` naming the process, its signal or exit code
    and the level (the finished ones are already in the caller's ``into`` lists)."""
    try:
        yield
    except concurrent.futures.process.BrokenProcessPool as e:
        if watch.level_index is None:
            raise RuntimeError(
                "a benchmark worker process died while starting. workers > 1 uses spawned processes, which "
                "re-import the main script: guard a script's code with `if __name__ == '__main__':` (notebooks "
                "need nothing)") from e
        raise WorkerLostError(watch.lost(), level_index=watch.level_index,
                              what="benchmark worker process") from e


def _level_row(index: int, level: Level, start_ns: int, end_ns: int, cpu_s: float, workers: int) -> dict[str, Any]:
    wall = max(1e-9, (end_ns - start_ns) / 1e9)
    return {"level_index": index, "mode": level.mode, "level": level.level, "requests_planned": level.requests,
            "duration_planned_s": level.duration_s, "max_concurrency": level.max_concurrency,
            "burstiness": level.burstiness, "start_ns": start_ns, "end_ns": end_ns, "duration_s": wall,
            "client_cpu_s": cpu_s, "client_cpu_pct": 100.0 * cpu_s / wall, "workers": workers}


def validate_model(model: str, docs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Check ``model`` against the ``/models`` documents; return its pricing (USD per token, may be empty)."""
    if docs is None:
        return {}
    ids = [str(d.get("id")) for d in docs]
    if model not in ids:
        shown = ", ".join(ids[:12]) + (" …" if len(ids) > 12 else "")
        raise ConfigError(f"model {model!r} is not served by this endpoint; available: {shown}")
    doc = docs[ids.index(model)]
    from ..api.inference import model_pricing

    return model_pricing(doc)
