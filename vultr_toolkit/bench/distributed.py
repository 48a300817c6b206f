"""Benchmark load from a Dask cluster: one shard per Dask worker, merged into one BenchmarkResult.

When one client machine cannot generate the load, ``vt.bench.run(..., cluster=...)`` hands the plan to a Dask
cluster (a ``distributed.Client``, a cluster object such as ``LocalCluster``/``SSHCluster``/``KubeCluster``, or a
scheduler address). What happens, level by level:

1. **Shards.** The cluster's workers (sorted by address; the first ``workers`` of them when given) are the shards
   ``0 … n-1``. The split itself is the engine's, the same one ``workers > 1`` uses for local processes, so it is
   exact: closed-loop users ``7`` over 2 shards are ``4 + 3`` and the requests follow the users
   (:func:`~vultr_toolkit.bench.metrics.split_proportional`); an open-loop schedule is drawn once, here, and
   dealt round-robin, so the union of the shards' send times *is* the asked schedule.
2. **Clocks.** Each worker process stamps on its own ``CLOCK_MONOTONIC``, which on another machine has another
   origin. Before every level the client measures each worker's offset NTP-style with ``rounds`` round trips
   *through the scheduler* (``Client.run``): ``offset = ((t1 - t0) + (t2 - t3)) / 2`` from the sample with the
   smallest round trip (its error is at most half that round trip, ~0.5 ms on a LAN). See :func:`ntp_offset`.
3. **Run.** The level's start instant is chosen on the client's clock, translated into each worker's clock, and
   every worker runs its shard on **its own event loop** (uvloop, in a private thread of the worker process, with
   one aiohttp session kept across levels) — the engine's hot path, unchanged.
4. **Merge.** Each shard's monotonic stamps are moved onto the client's clock (``stamp - offset``) before the
   records are merged; ``.requests["worker"]`` is the shard index and ``res.meta["cluster"]["workers"]`` maps it
   to the worker's address.

Every worker needs the same vultr_toolkit version installed (checked on the first round trip). The inference key
travels to the workers inside the task (the engine needs it there): use a ``tls://`` scheduler on untrusted
networks. ``docs/distributed.md`` shows how to point this at dask-kubernetes, dask-gateway or an SSHCluster.

Example (an in-process cluster on loopback; give ``Client("tls://scheduler:8786")`` for a real one):

>>> from distributed import Client, LocalCluster
>>> with (LocalCluster(n_workers=2, processes=False, protocol="tcp", host="127.0.0.1",
...                    dashboard_address="127.0.0.1:0") as cluster,
...       Client(cluster, set_as_default=False) as dask_client):
...     res = vt.bench.run(client, model="qwen3.8-27b", concurrency=[2], requests=4, max_tokens=4,
...                        cluster=dask_client, progress=False)
>>> res.requests.groupby("worker").size().tolist()          # requests sent by each Dask worker
[2, 2]
>>> sorted(res.meta["cluster"])                              # doctest: +ELLIPSIS
[...'workers'...]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import gc
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from .._errors import ConfigError
from .._version import __version__
from .engine import (
    EngineConfig,
    LevelOutput,
    _level_offsets,
    _level_row,
    _level_task,
    _session,
    merge_shards,
    new_loop,
)
from .errors import LostWorker, WorkerLostError
from .workload import Level, Plan

__all__ = [
    "ClockOffset",
    "WorkerLostError",
    "arun_plan",
    "estimate_offsets",
    "ntp_offset",
    "pick_workers",
    "run_plan_on_cluster",
    "shift_records",
]

T = TypeVar("T")

#: Monotonic-ns fields of a request row and of a chunk column set (moved onto the client's clock when merging).
ROW_NS_FIELDS = ("scheduled_ns", "woke_ns", "sent_ns", "end_ns")
CHUNK_NS_FIELDS = ("received_ns",)
DEFAULT_ROUNDS = 16
DEFAULT_START_DELAY_S = 0.5  # task dispatch through the scheduler must fit before the shared start instant


# --- clock offsets (pure) ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ClockOffset:
    """A worker's clock relative to the client's: ``worker_ns = client_ns + offset_ns`` (± ``rtt_ns / 2``)."""

    offset_ns: int
    rtt_ns: int
    samples: int

    @property
    def error_bound_ns(self) -> int:
        """The largest error the offset can have: half the round trip it was measured over."""
        return self.rtt_ns // 2


def ntp_offset(samples: Sequence[tuple[int, int, int, int]]) -> ClockOffset:
    """The NTP estimate from ``(t0, t1, t2, t3)`` round trips: client send, worker receive, worker reply,
    client receive. Uses the round trip with the smallest ``(t3 - t0) - (t2 - t1)``: queueing only ever adds
    delay, and the fastest exchange is the most symmetric one.

    >>> ntp_offset([(0, 5_100, 5_100, 200), (1_000, 6_300, 6_300, 1_400)])
    ClockOffset(offset_ns=5000, rtt_ns=200, samples=2)
    """
    if not samples:
        raise ValueError("ntp_offset needs at least one (t0, t1, t2, t3) sample")
    t0, t1, t2, t3 = min(samples, key=lambda s: (s[3] - s[0]) - (s[2] - s[1]))
    return ClockOffset(offset_ns=((t1 - t0) + (t2 - t3)) // 2, rtt_ns=(t3 - t0) - (t2 - t1), samples=len(samples))


def shift_records(rows: Sequence[dict[str, Any]], chunks: Sequence[dict[str, list[Any]]], delta_ns: int) -> None:
    """Add ``delta_ns`` to every monotonic stamp of engine output (request rows and chunk columns), in place.

    >>> rows, chunks = [{"sent_ns": 10, "scheduled_ns": 9, "woke_ns": 9, "end_ns": 20}], [{"received_ns": [15]}]
    >>> shift_records(rows, chunks, -5); rows[0]["sent_ns"], chunks[0]["received_ns"]
    (5, [10])
    """
    if not delta_ns:
        return
    for row in rows:
        for f in ROW_NS_FIELDS:
            row[f] = int(row[f]) + delta_ns
    for cols in chunks:
        for f in CHUNK_NS_FIELDS:
            cols[f] = [int(v) + delta_ns for v in cols[f]]


# --- the worker side (runs inside Dask worker processes) ---------------------------------------------------------
class _ShardRunner:
    """One benchmark's private event loop on a Dask worker: a daemon thread running uvloop, one aiohttp session.

    The Dask worker's own loop (heartbeats, data transfer) never runs our hot path, and ours never waits for it.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.progress = [0]
        self.loop = new_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="vultr-toolkit-shard", daemon=True)
        self._thread.start()
        self.session: Any = None
        self._current: concurrent.futures.Future[Any] | None = None  # the level running now (for abort)
        gc.collect()
        gc.freeze()  # as the engine's worker processes: keep the collector from scanning old objects mid-stream

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        async def wrapped() -> T:
            return await factory()

        fut = asyncio.run_coroutine_threadsafe(wrapped(), self.loop)
        self._current = fut
        try:
            return fut.result()
        finally:
            self._current = None

    def abort(self) -> bool:
        """Cancel the running level (the client gave up on the run): stop sending now, not at the level's end."""
        fut = self._current
        return bool(fut is not None and fut.cancel())

    def level(self, cfg: EngineConfig, level: Level, level_index: int, shard: int, shards: int, start_ns: int,
              offsets_ns: Sequence[int], warmup: int, first_rid: int) -> LevelOutput:
        async def go() -> LevelOutput:
            if self.session is None:
                self.session = _session(self.plan, 0)
            return await _level_task(self.session, cfg, self.plan, level, level_index, shard, shards, start_ns,
                                     offsets_ns, self.progress, 0, warmup, first_rid)

        return self.call(go)

    def close(self) -> None:
        async def shut() -> None:
            if self.session is not None:
                await self.session.close()

        try:
            self.call(shut)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
            gc.unfreeze()


_RUNNERS: dict[str, _ShardRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def _clock_now(skew_ns: int) -> tuple[int, str]:
    """The worker's clock reading (with an injected test skew) and its toolkit version; runs via Client.run."""
    return time.monotonic_ns() + skew_ns, __version__


def _shard_progress(token: str) -> int:
    runner = _RUNNERS.get(token)
    return runner.progress[0] if runner is not None else 0


def _shard_level(token: str, cfg: EngineConfig, plan: Plan, level: Level, level_index: int, shard: int,
                 shards: int, start_ns: int, offsets_ns: Sequence[int], warmup: int, first_rid: int,
                 skew_ns: int) -> LevelOutput:
    """A Dask task: run this worker's share of one level; ``start_ns`` is on the worker's (skewed) clock."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(token)
        if runner is None:
            runner = _RUNNERS[token] = _ShardRunner(plan)
    # A worker whose clock reads skew_ns ahead: its start instant is skew_ns later on the real clock, and every
    # stamp it reports is skew_ns ahead. Only tests inject a skew (monotonic clocks of one host agree).
    rows, chunks, cpu = runner.level(cfg, level, level_index, shard, shards, start_ns - skew_ns, offsets_ns,
                                     warmup, first_rid)
    shift_records(rows, chunks, skew_ns)
    return rows, chunks, cpu


def _shard_abort(token: str) -> bool:
    runner = _RUNNERS.get(token)
    return runner.abort() if runner is not None else False


def _shard_close(token: str) -> bool:
    with _RUNNERS_LOCK:
        runner = _RUNNERS.pop(token, None)
    if runner is not None:
        runner.close()
    return runner is not None


# --- the client side ---------------------------------------------------------------------------------------------
def _is_client(obj: Any) -> bool:
    return callable(getattr(obj, "submit", None)) and callable(getattr(obj, "scheduler_info", None))


def check_cluster_arg(cluster: Any) -> None:
    """Fail early (ConfigError) when ``cluster`` is neither a Client, a cluster object nor an address."""
    if isinstance(cluster, str):
        if "://" not in cluster and ":" not in cluster:
            raise ConfigError(f"cluster={cluster!r} is not a Dask scheduler address; give e.g. "
                              "'tcp://10.0.0.5:8786', a dask.distributed.Client or a cluster object")
        return
    if _is_client(cluster):
        if getattr(cluster, "asynchronous", False):
            raise ConfigError("cluster: an asynchronous dask Client cannot be driven from the benchmark's own "
                              "thread; pass its scheduler address (client.scheduler.address) instead")
        return
    if getattr(cluster, "scheduler_address", None) is not None:
        return
    raise ConfigError("cluster: give a dask.distributed.Client, a Dask cluster object (LocalCluster, SSHCluster, "
                      f"KubeCluster, GatewayCluster …) or a scheduler address, got {type(cluster).__name__}")


@contextlib.contextmanager
def _connect(cluster: Any) -> Any:
    """A synchronous Client for ``cluster``; one we create is closed afterwards, the caller's is left open."""
    check_cluster_arg(cluster)
    if _is_client(cluster):
        yield cluster
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - the dask extra is optional
        raise ConfigError("cluster= needs dask.distributed: pip install 'vultr-toolkit[dask]'") from None
    # A cluster object carries its own security (dask-gateway's TLS); Client(cluster) uses it.
    client = Client(cluster, set_as_default=False, timeout=30)
    try:
        yield client
    finally:
        client.close()


def pick_workers(client: Any, workers: int | None, *, wait_s: float = 60.0) -> list[str]:
    """The worker addresses that will run shards: all of them (sorted), or the first ``workers`` (waiting up to
    ``wait_s`` for a scaling cluster to provide them)."""
    want = workers or 1
    try:
        client.wait_for_workers(want, timeout=wait_s)
    except (TimeoutError, OSError) as e:
        have = len(client.scheduler_info().get("workers", {}))
        raise ConfigError(f"the Dask cluster has {have} worker(s), the benchmark asked for {want} "
                          f"(waited {wait_s:g} s): scale the cluster or pass fewer workers") from e
    addrs = sorted(client.scheduler_info()["workers"])
    return addrs if workers is None else addrs[:workers]


def estimate_offsets(client: Any, addrs: Sequence[str], *, rounds: int = DEFAULT_ROUNDS,
                     skew_ns: Sequence[int] | None = None) -> list[ClockOffset]:
    """Each worker's clock offset from ``rounds`` NTP-style round trips through the scheduler (``Client.run``).

    The stamps are taken on the client's own event loop, right around the awaited call, so no thread hop sits
    inside the measured interval. ``skew_ns`` adds an artificial skew per worker (tests; clocks of one host agree).

    >>> from distributed import Client, LocalCluster
    >>> with (LocalCluster(n_workers=2, processes=False, protocol="tcp", host="127.0.0.1",
    ...                    dashboard_address="127.0.0.1:0") as cluster,  # every listener on loopback
    ...       Client(cluster, set_as_default=False) as dask_client):
    ...     offs = estimate_offsets(dask_client, pick_workers(dask_client, None))
    >>> [(type(o).__name__, o.samples > 0) for o in offs]   # o.offset_ns / 1e6: the offset in ms
    [('ClockOffset', True), ('ClockOffset', True)]
    """
    skews = list(skew_ns) if skew_ns is not None else [0] * len(addrs)
    mono = time.monotonic_ns

    async def exchange() -> list[list[tuple[int, int, int, int]]]:
        out: list[list[tuple[int, int, int, int]]] = [[] for _ in addrs]
        for _ in range(rounds):
            for i, addr in enumerate(addrs):
                t0 = mono()
                got = await client.run(_clock_now, skews[i], workers=[addr])
                t3 = mono()
                t, version = got[addr]
                if version != __version__:
                    raise ConfigError(f"Dask worker {addr} runs vultr_toolkit {version}, this client {__version__}:"
                                      " install the same version on every worker")
                out[i].append((t0, t, t, t3))
        return out

    try:
        samples = client.sync(exchange)
    except ConfigError:
        raise
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"a Dask worker cannot run the benchmark ({type(e).__name__}: {e}); install "
                          "vultr-toolkit (same version) on every worker") from None
    return [ntp_offset(s) for s in samples]


def run_plan_on_cluster(cfg: EngineConfig, plan: Plan, cluster: Any, *, workers: int | None = None,
                        progress: Any = None, rounds: int = DEFAULT_ROUNDS,
                        start_delay_s: float = DEFAULT_START_DELAY_S, clock_skew_ns: Sequence[int] | None = None,
                        into: tuple[list[dict[str, Any]], list[dict[str, list[Any]]], list[dict[str, Any]]]
                        | None = None, cluster_info: dict[str, Any] | None = None,
                        ) -> tuple[list[dict[str, Any]], list[dict[str, list[Any]]], list[dict[str, Any]],
                                   dict[str, Any]]:
    """Run every level of ``plan`` on a Dask cluster (blocking); engine output on the client's clock + cluster info.

    The same ``(rows, chunks, levels)`` as :func:`~vultr_toolkit.bench.engine.run_plan`, plus a JSON-safe dict
    for ``res.meta["cluster"]``: scheduler, worker addresses (index = ``.requests["worker"]``), and per level the
    clock offsets and round trips in ms. ``progress[0]`` (when given) counts finished requests.

    ``into`` = caller-owned ``(rows, chunks, levels)`` lists appended to as each level completes, and
    ``cluster_info`` a caller-owned dict filled as the run goes: when a worker dies (:class:`WorkerLostError`,
    naming it, its pid and signal when its nanny reports one, and the level) they still hold every finished level.
    """
    with _connect(cluster) as client:
        addrs = pick_workers(client, workers)
        n = len(addrs)
        if clock_skew_ns is not None and len(clock_skew_ns) != n:
            raise ValueError(f"clock_skew_ns needs one value per worker ({n})")
        skews = [int(s) for s in clock_skew_ns] if clock_skew_ns is not None else [0] * n
        token = uuid.uuid4().hex[:12]
        info = cluster_info if cluster_info is not None else {}
        info.update({"scheduler": str(client.scheduler.address), "workers": addrs,
                     "clock_offset_ms": [], "clock_rtt_ms": []})
        rng = np.random.default_rng((plan.seed, 7))  # the engine's schedule stream: same seed, same send times
        rows, chunks, level_rows = into if into is not None else ([], [], [])
        next_rid = 0
        shards = _Shards(client, addrs)
        try:
            with _explain_worker_loss(shards):
                shards.record_pids()
                for index, level in [(-1, plan.levels[0])] * bool(plan.warmup) + list(enumerate(plan.levels)):
                    shards.level_index = index
                    offsets = _level_offsets(level, rng) if index >= 0 else []
                    warm = plan.warmup if index < 0 else 0
                    # Re-measured every level: clocks of different machines drift apart by ppm over a long run.
                    clocks = estimate_offsets(client, addrs, rounds=rounds, skew_ns=skews)
                    start = time.monotonic_ns() + int(start_delay_s * 1e9)
                    futs = [client.submit(_shard_level, token, cfg, plan, level, max(index, 0), w, n,
                                          start + clocks[w].offset_ns, offsets, warm, next_rid, skews[w],
                                          workers=[addr], allow_other_workers=False, pure=False,
                                          key=f"vtk-bench-{token}-L{index}-W{w}")
                            for w, addr in enumerate(addrs)]
                    _wait(shards, futs, token, progress)
                    outs = client.gather(futs)
                    for w, (r, c, _) in enumerate(outs):
                        shift_records(r, c, -clocks[w].offset_ns)   # onto the client's clock before merging
                    end, cpu, next_rid = merge_shards(outs, rows, chunks, start, next_rid)
                    if index >= 0:
                        info["clock_offset_ms"].append([c.offset_ns / 1e6 for c in clocks])
                        info["clock_rtt_ms"].append([c.rtt_ns / 1e6 for c in clocks])
                        level_rows.append(_level_row(index, level, start, end, cpu, n))
        finally:
            from distributed import wait

            alive = client.scheduler_info().get("workers", {})  # a dead worker has nothing left to close
            with contextlib.suppress(Exception):  # after a failure, the surviving shards stop sending at once
                client.run(_shard_abort, token, workers=[a for a in addrs if a in alive])
            closing = [client.submit(_shard_close, token, workers=[a], allow_other_workers=False, pure=False,
                                     key=f"vtk-bench-{token}-close-W{w}") for w, a in enumerate(addrs) if a in alive]
            with contextlib.suppress(Exception):
                wait(closing, timeout=10)
            client.cancel(closing)
        if progress is not None:
            progress[0] = len(rows)
        return rows, chunks, level_rows, info


# A nanny logs how its worker process ended (distributed.nanny: "Worker process 123 was killed by signal 9").
_DEATH_LINE = re.compile(r"Worker process (\d+) (?:was killed by signal (\d+)|exited with status (\d+))")


class _Shards:
    """The workers running shards, as they were when the run started (pids, nannies), and the level running now
    (-1: the warm-up): what a :class:`WorkerLostError` needs to name a dead worker and how it died."""

    def __init__(self, client: Any, addrs: Sequence[str]) -> None:
        self.client = client
        self.addrs = list(addrs)
        self.level_index = 0
        self.pids: dict[str, int] = {}
        known = client.scheduler_info().get("workers", {})
        self.nannies: dict[str, str | None] = {a: known.get(a, {}).get("nanny") for a in self.addrs}

    def record_pids(self) -> None:
        with contextlib.suppress(Exception):  # a diagnosis only: a worker that cannot say is named by address
            self.pids = {a: int(p) for a, p in self.client.run(os.getpid, workers=self.addrs).items()}

    def gone(self) -> list[str]:
        alive = self.client.scheduler_info().get("workers", {})
        return [a for a in self.addrs if a not in alive]

    def _death(self, addr: str, wait_s: float = 2.0) -> tuple[int | None, int | None]:
        """``(signal, exit_code)`` from the worker's nanny log (it restarts the process and keeps the log);
        ``(None, None)`` without a nanny, when the nanny went too, or when it has not logged within ``wait_s``."""
        nanny, pid = self.nannies.get(addr), self.pids.get(addr)
        if not nanny or pid is None:
            return None, None
        client = self.client

        async def logs() -> Any:
            return await asyncio.wait_for(client.rpc(nanny).get_logs(n=200), timeout=wait_s)

        deadline = time.monotonic() + wait_s
        while True:
            lines: Any = []
            with contextlib.suppress(Exception):  # the nanny's machine may be gone too: cause unknown then
                lines = client.sync(logs)
            for _level, text in lines:
                m = _DEATH_LINE.search(str(text))
                if m and int(m.group(1)) == pid:
                    return (int(m.group(2)), None) if m.group(2) else (None, int(m.group(3)))
            if not lines or time.monotonic() >= deadline:
                return None, None
            time.sleep(0.1)

    def lost(self, gone: Sequence[str]) -> WorkerLostError:
        workers = []
        for a in gone:
            sig, code = self._death(a)
            workers.append(LostWorker(address=a, pid=self.pids.get(a), signal=sig, exit_code=code))
        return WorkerLostError(workers, level_index=self.level_index, what="Dask worker")


@contextlib.contextmanager
def _explain_worker_loss(shards: _Shards, settle_s: float = 5.0) -> Iterator[None]:
    """Turn a comm error caused by a dead worker (e.g. during the clock exchange) into :class:`WorkerLostError`.

    The scheduler needs a moment to notice a killed worker, so wait up to ``settle_s`` for it before deciding
    that the error had another cause (then it propagates unchanged). Other errors (a shard's own exception, a
    ConfigError) pass through at once.
    """
    try:
        yield
    except (OSError, KeyError) as exc:  # comm errors (CommClosedError is an OSError), a reply missing its worker
        deadline = time.monotonic() + settle_s
        while True:
            gone: list[str] = []
            with contextlib.suppress(Exception):  # the scheduler itself may be unreachable: then exc stands
                gone = shards.gone()
            if gone:
                raise shards.lost(gone) from exc
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def _wait(shards: _Shards, futs: Sequence[Any], token: str, progress: Any, poll_s: float = 1.0) -> None:
    """Wait for a level's shard tasks, polling the workers' request counters for the progress bar.

    A task pinned to a worker that left the cluster would wait forever for it: fail instead, naming the worker.
    """
    client = shards.client
    last_poll = time.monotonic()
    while not all(f.done() for f in futs):
        time.sleep(0.05)
        if time.monotonic() - last_poll < poll_s:
            continue
        last_poll = time.monotonic()
        if gone := shards.gone():
            client.cancel(list(futs))
            raise shards.lost(gone)
        if progress is not None:
            with contextlib.suppress(Exception):  # progress is cosmetic; a failed poll must not fail the run
                counts: Mapping[str, int] = client.run(_shard_progress, token, workers=shards.addrs)
                progress[0] = int(sum(counts.values()))


async def arun_plan(cfg: EngineConfig, plan: Plan, cluster: Any, *, workers: int | None = None,
                    progress: Any = None, **kw: Any
                    ) -> tuple[list[dict[str, Any]], list[dict[str, list[Any]]], list[dict[str, Any]],
                               dict[str, Any]]:
    """:func:`run_plan_on_cluster` from a coroutine: the blocking Dask calls run in a thread of their own, so the
    calling loop (the driver's private one) stays free."""
    return await asyncio.to_thread(run_plan_on_cluster, cfg, plan, cluster, workers=workers, progress=progress,
                                   **kw)
