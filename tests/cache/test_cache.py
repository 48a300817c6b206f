"""The Cache suite: each test runs on a real Valkey (tests/plugins/servers.py) and on the in-process backend."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import multiprocessing
import pickle
import random
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis

from tests.cache._workers import compute_once_worker
from tests.cache.conftest import Backend
from vultr_toolkit.cache import _MEMORY, Cache

MakeCache = Callable[..., Cache]


def plant_raw(backend: Backend, key: str, raw: bytes) -> None:
    """Write raw bytes at a full key, bypassing the Cache (a foreign writer)."""
    if backend.url is None:
        _MEMORY._data[key] = (raw, None)
    else:
        r = redis.Redis.from_url(backend.url)
        r.set(key, raw)
        r.close()


def raw_exists(backend: Backend, key: str) -> bool:
    if backend.url is None:
        return key in _MEMORY._data
    r = redis.Redis.from_url(backend.url)
    try:
        return bool(r.exists(key))
    finally:
        r.close()


class Counter:
    """A thread-safe call counter for fn."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def bump(self) -> int:
        with self._lock:
            self.n += 1
            return self.n


# ---- basics --------------------------------------------------------------------------------------------------------


def test_set_get_delete_roundtrip_rich_values(make_cache: MakeCache) -> None:
    cache = make_cache()
    value: dict[str, Any] = {
        "when": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        "price": Decimal("19.99"),
        "id": uuid.UUID(int=7),
        "blob": b"\x00\x01\n",
        "pair": (1, "a"),
        "frame": pd.DataFrame({"region": pd.Categorical(["ewr", "ams"]),
                               "at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True).as_unit("us"),
                               "n": pd.array([1, None], dtype="Int64")}),
    }
    cache.set("k", value, ttl=60)
    got = cache.get("k")
    frame = got.pop("frame")
    expected_frame = value.pop("frame")
    assert got == value
    pd.testing.assert_frame_equal(frame, expected_frame)
    assert list(frame.dtypes.astype(str)) == ["category", "datetime64[us, UTC]", "Int64"]
    assert cache.delete("k", "never-set") == 1
    assert cache.get("k", default="gone") == "gone"


def test_returned_values_are_copies(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set("k", {"xs": [1]})
    cache.get("k")["xs"].append(2)
    assert cache.get("k") == {"xs": [1]}


def test_unserialisable_value_is_a_type_error_before_any_write(backend: Backend, make_cache: MakeCache) -> None:
    cache = make_cache()
    with pytest.raises(TypeError, match="cannot serialise"):
        cache.set("k", {"ok": 1, "bad": object()})
    assert not raw_exists(backend, cache.prefix + "k:k")
    # get_or_compute: fn ran, its result can't be stored -> TypeError, nothing written, lock released.
    with pytest.raises(TypeError):
        cache.get_or_compute("g", lambda: {1, object()}, ttl=60)
    assert not raw_exists(backend, cache.prefix + "k:g")
    assert not raw_exists(backend, cache.prefix + "lock:k:g")
    assert cache.get_or_compute("g", lambda: 5, ttl=60, lock_wait=0.2) == 5
    assert cache.stats().lock_waits == 0


def test_pickle_payload_is_a_miss_never_unpickled(backend: Backend, make_cache: MakeCache, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> Any:
            return (marker.touch, ())

    cache = make_cache()
    key = cache.prefix + "k:evil"
    plant_raw(backend, key, pickle.dumps(Evil()))
    assert cache.get("evil", default="miss") == "miss"
    assert not marker.exists()
    assert not raw_exists(backend, key)  # an invalid envelope is deleted
    plant_raw(backend, key, b'\n{"v": 999, "d": 1}')  # a future envelope version: also a miss
    assert cache.get_or_compute("evil", lambda: "fresh", ttl=60) == "fresh"
    assert cache.get("evil") == "fresh"


def test_bad_arguments_fail_clearly(make_cache: MakeCache) -> None:
    cache = make_cache()
    with pytest.raises(ValueError, match="ttl"):
        cache.set("k", 1, ttl=0)
    with pytest.raises(TypeError, match="keys are str"):
        cache.get(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of strings"):
        cache.set_with_tags("k", 1, "products")
    with pytest.raises(ValueError, match="namespace"):
        Cache(namespace="a*b")


# ---- get_or_compute: stampede protection ---------------------------------------------------------------------------


def test_32_threads_missing_the_same_key_call_fn_once(make_cache: MakeCache) -> None:
    cache = make_cache(lock_wait=60)  # generous: this tests single-flight, not the timeout (noisy 2-core machine)
    calls = Counter()
    barrier = threading.Barrier(32)
    results: list[Any] = []

    def fn() -> dict[str, int]:
        n = calls.bump()
        time.sleep(0.3)  # hold the lock while the other 31 arrive
        return {"call": n}

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_compute("hot", fn, ttl=60))

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls.n == 1
    assert results == [{"call": 1}] * 32
    s = cache.stats()
    assert (s.computes, s.misses, s.lock_timeouts, s.uncached_computes) == (1, 1, 0, 0)
    assert s.hits == 31 and s.lock_waits >= 1


def test_4_processes_missing_the_same_key_call_fn_once(valkey_url: str) -> None:
    # Valkey only: the in-process backend is one process's memory, so processes can't share it by design (its
    # single-flight guarantee across threads is the 32-thread test above).
    backend = Backend("valkey", valkey_url)
    cache = Cache(valkey_url, namespace="procs")  # the workers build their own (lock_wait=60)
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded pytest process
    barrier, out = ctx.Barrier(4), ctx.Queue()
    counter_key = f"test-counter-{uuid.uuid4().hex}"  # outside the namespace on purpose: test bookkeeping
    procs = [ctx.Process(target=compute_once_worker, args=(backend.url, cache.namespace, "hot", counter_key,
                                                           barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert backend.url is not None  # narrows str | None for mypy; Backend("valkey", valkey_url) has one
    r = redis.Redis.from_url(backend.url)
    try:
        assert int(r.get(counter_key) or 0) == 1
        r.delete(counter_key)
    finally:
        r.close()
    assert results == [{"computed_by_call": 1}] * 4
    cache.close()


def test_failed_compute_releases_the_lock_for_a_waiter(make_cache: MakeCache) -> None:
    cache = make_cache(lock_wait=10)
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def failing() -> int:
        started.set()
        time.sleep(0.2)
        raise RuntimeError("upstream down")

    def first() -> None:
        with pytest.raises(RuntimeError, match="upstream down"):
            cache.get_or_compute("k", failing, ttl=60)

    t = threading.Thread(target=first)
    t.start()
    started.wait(5)
    outcome["value"] = cache.get_or_compute("k", lambda: "second", ttl=60)  # waits, then takes over
    t.join()
    assert outcome["value"] == "second"
    s = cache.stats()
    assert s.lock_waits == 1 and s.lock_timeouts == 0 and s.computes == 1


def test_waiter_past_lock_wait_computes_uncached(make_cache: MakeCache) -> None:
    cache = make_cache()
    holding = threading.Event()

    def slow() -> str:
        holding.set()
        time.sleep(1.0)
        return "slow"

    t = threading.Thread(target=lambda: cache.get_or_compute("k", slow, ttl=60))
    t.start()
    holding.wait(5)
    assert cache.get_or_compute("k", lambda: "impatient", ttl=60, lock_wait=0.1) == "impatient"
    t.join()
    assert cache.get("k") == "slow"  # the uncached value never overwrote the holder's
    s = cache.stats()
    assert s.lock_timeouts == 1 and s.uncached_computes == 1 and s.computes == 1


def test_xfetch_beta_inf_always_refreshes_beta_zero_never(make_cache: MakeCache) -> None:
    cache = make_cache()
    calls = Counter()
    for _ in range(3):
        cache.get_or_compute("k", calls.bump, ttl=60, beta=0)
    assert calls.n == 1
    for _ in range(3):
        cache.get_or_compute("k", calls.bump, ttl=60, beta=math.inf)
    assert calls.n == 4
    assert cache.stats().early_refreshes == 3
    assert cache.get("k") == 4  # the early refresh stored its value


def test_xfetch_rule_matches_the_paper_with_a_seeded_rng(make_cache: MakeCache) -> None:
    # T12: refresh iff remaining <= delta * beta * ln(1/u). Replay the same RNG to know each u.
    cache = make_cache(rng=random.Random(1234))
    replay = random.Random(1234)
    now = time.time()
    decisions = []
    for remaining in (0.05, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0):
        u = 1.0 - replay.random()
        expected = remaining <= 2.0 * 1.0 * math.log(1 / u) + 1e-3
        decisions.append((cache._xfetch(now + remaining, delta=2.0, beta=1.0), expected))
    assert all(got == want for got, want in decisions)
    assert not cache._xfetch(None, 2.0, 1.0) and not cache._xfetch(now + 1, None, 1.0)


def test_ttl_expiry(make_cache: MakeCache) -> None:
    cache = make_cache()
    calls = Counter()
    cache.set("k", "v", ttl=1.0)
    assert cache.get("k") == "v"
    assert cache.get_or_compute("g", calls.bump, ttl=1.0) == 1
    assert cache.get_or_compute("g", calls.bump, ttl=1.0) == 1
    time.sleep(1.3)
    assert cache.get("k") is None
    assert cache.get_or_compute("g", calls.bump, ttl=1.0) == 2


def test_default_ttl_applies(make_cache: MakeCache) -> None:
    cache = make_cache(default_ttl=0.15)
    cache.set("k", "v")
    time.sleep(0.5)
    assert cache.get("k") is None


def test_async_twin_calls_the_coroutine_once(make_cache: MakeCache) -> None:
    cache = make_cache()
    calls = Counter()

    async def load() -> dict[str, int]:
        n = calls.bump()
        await asyncio.sleep(0.2)
        return {"call": n}

    cache.lock_wait = 60  # single-flight under test, not the timeout

    async def main() -> list[Any]:
        return await asyncio.gather(*(cache.aget_or_compute("k", load, ttl=60) for _ in range(20)))

    assert asyncio.run(main()) == [{"call": 1}] * 20
    assert calls.n == 1
    assert cache.get("k") == {"call": 1}
    # The sync and async paths share one plan: a sync hit sees the async write and vice versa.
    assert asyncio.run(cache.aget_or_compute("k", load, ttl=60)) == {"call": 1}


# ---- tags ----------------------------------------------------------------------------------------------------------


def test_tags_invalidate_exactly_their_keys(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set_with_tags("p1", "a", ["products"], ttl=60)
    cache.set_with_tags("p2", "ab", ["products", "category:shirts"], ttl=60)
    cache.set_with_tags("s1", "b", ["category:shirts"], ttl=60)
    cache.set("plain", "x", ttl=60)
    other = make_cache(namespace=cache.namespace + "x")  # same tag name, other namespace: independent
    other.set_with_tags("p1", "other", ["products"], ttl=60)

    cache.invalidate_by_tag("products")
    assert [cache.get(k) for k in ("p1", "p2", "s1", "plain")] == [None, None, "b", "x"]
    assert other.get("p1") == "other"

    cache.set_with_tags("p1", "a2", ["products"], ttl=60)  # re-set after invalidation: current version
    assert cache.get("p1") == "a2"
    cache.invalidate_by_tag("category:shirts")
    assert [cache.get(k) for k in ("p1", "p2", "s1", "plain")] == ["a2", None, None, "x"]
    cache.invalidate_by_tag("never-used")  # harmless
    assert cache.get("p1") == "a2"


def test_get_or_compute_with_tags_and_stale_is_a_miss(make_cache: MakeCache) -> None:
    cache = make_cache()
    calls = Counter()
    assert cache.get_or_compute("k", calls.bump, ttl=60, tags=["t"]) == 1
    assert cache.get_or_compute("k", calls.bump, ttl=60, tags=["t"]) == 1
    cache.invalidate_by_tag("t")
    assert cache.get_or_compute("k", calls.bump, ttl=60, tags=["t"]) == 2


def test_reclaim_deletes_only_stale_entries(backend: Backend, make_cache: MakeCache) -> None:
    cache = make_cache()
    for i in range(30):
        cache.set_with_tags(f"a{i}", i, ["a"], ttl=60)
    cache.set_with_tags("b", "keep", ["b"], ttl=60)
    cache.set("plain", "keep", ttl=60)
    cache.invalidate_by_tag("a", reclaim=True)
    assert not any(raw_exists(backend, cache.prefix + f"k:a{i}") for i in range(30))
    assert cache.get("b") == "keep" and cache.get("plain") == "keep"
    assert cache.reclaim() == 0


def test_invalidate_by_tag_is_one_command_on_the_server(valkey_url: str) -> None:
    # Valkey only: counts server-side commands (INFO commandstats); the in-process backend has no server.
    backend = Backend("valkey", valkey_url)
    cache = Cache(valkey_url, namespace="onecmd")
    for i in range(200):
        cache.set_with_tags(f"k{i}", i, ["big"], ttl=60)
    assert backend.url is not None  # narrows str | None for mypy; Backend("valkey", valkey_url) has one
    r = redis.Redis.from_url(backend.url)
    try:
        before = r.info("commandstats")
        cache.invalidate_by_tag("big")
        after = r.info("commandstats")
    finally:
        r.close()
    delta = {name: after[name]["calls"] - before.get(name, {"calls": 0})["calls"] for name in after}
    delta = {name: n for name, n in delta.items() if n and name != "cmdstat_info"}
    assert sum(delta.values()) == 1 and set(delta) <= {"cmdstat_incr", "cmdstat_incrby"}  # redis-py sends INCRBY
    assert all(cache.get(f"k{i}") is None for i in range(200))


# ---- mget_and_delete -------------------------------------------------------------------------------------------------


def test_mget_and_delete_returns_values_in_place_and_deletes(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set("a", 1)
    cache.set("c", {"x": 3})
    cache.set_with_tags("t", "stale", ["gone"])
    cache.invalidate_by_tag("gone")
    assert cache.mget_and_delete(["a", "b", "c", "t"]) == [1, None, {"x": 3}, None]
    assert cache.mget_and_delete(["a", "c"]) == [None, None]
    assert cache.mget_and_delete([]) == []


def test_mget_and_delete_under_concurrency_gives_each_value_to_one_caller(make_cache: MakeCache) -> None:
    cache = make_cache()
    keys = [f"job:{i}" for i in range(300)]
    for i, k in enumerate(keys):
        cache.set(k, i, ttl=60)
    got: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def taker(seed: int) -> None:
        rng = random.Random(seed)
        mine = keys[:]
        rng.shuffle(mine)
        barrier.wait()
        for start in range(0, len(mine), 25):
            values = [v for v in cache.mget_and_delete(mine[start : start + 25]) if v is not None]
            with lock:
                got.extend(values)

    threads = [threading.Thread(target=taker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(300))  # every value delivered, none twice


# ---- namespace hygiene -----------------------------------------------------------------------------------------------


def test_clear_touches_only_the_namespace(backend: Backend, make_cache: MakeCache) -> None:
    cache = make_cache()
    foreign = {"foreign": b"1", "vtk:other:k:x": b"2", cache.prefix.rstrip(":") + "x:k": b"3",
               "vtk:" + cache.namespace + "-suffix:k:y": b"4"}
    for k, v in foreign.items():
        plant_raw(backend, k, v)
    for i in range(1200):  # more than two SCAN/UNLINK batches
        cache.set(f"k{i}", i, ttl=60)
    cache.set_with_tags("tagged", 1, ["t"], ttl=60)
    cache.invalidate_by_tag("t")
    assert cache.clear() == 1200 + 2  # values + tagged entry + its tag version
    assert cache.get("k1") is None
    assert all(raw_exists(backend, k) for k in foreign)
    if backend.url is not None:
        r = redis.Redis.from_url(backend.url)
        try:
            assert sorted(k.decode() for k in r.scan_iter()) == sorted(foreign)
        finally:
            r.close()


def test_every_key_written_is_inside_the_namespace(backend: Backend, make_cache: MakeCache) -> None:
    if backend.url is None:
        keys_before = set(_MEMORY._data)
    cache = make_cache(cluster_hash_tag=True)
    assert cache.prefix == f"vtk:{{{cache.namespace}}}:"
    cache.set("a", 1)
    cache.set_with_tags("b", 2, ["t1", "t2"])
    cache.get_or_compute("c", lambda: 3, ttl=60)
    cache.invalidate_by_tag("t1")
    cache.mget_and_delete(["a"])
    if backend.url is None:
        written = set(_MEMORY._data) - keys_before
    else:
        r = redis.Redis.from_url(backend.url)
        written = {k.decode() for k in r.scan_iter()}
        r.close()
    assert written and all(k.startswith(cache.prefix) for k in written)


def test_forked_children_never_share_the_parents_connection(valkey_url: str) -> None:
    # The hit path keeps a per-thread connection; after fork() the child must open its own, or parent and child
    # would read each other's replies from one socket.
    cache = Cache(valkey_url, namespace="fork")
    for i in range(20):
        cache.set(f"k{i}", i)
    assert cache.get("k0") == 0  # the parent's connection now exists
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    children = [ctx.Process(target=_read_all, args=(cache, out)) for _ in range(3)]
    for p in children:
        p.start()
    parent_reads = [[cache.get(f"k{i}") for i in range(20)] for _ in range(20)]
    child_reads = [out.get(timeout=60) for _ in children]
    for p in children:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert parent_reads == [list(range(20))] * 20
    assert child_reads == [[list(range(20))] * 20] * 3
    cache.clear()
    cache.close()


def _read_all(cache: Cache, out: Any) -> None:
    out.put([[cache.get(f"k{i}") for i in range(20)] for _ in range(20)])
