"""Worker functions for the multi-process tests (importable, so the 'spawn' start method can run them)."""

from __future__ import annotations

import time
from typing import Any

import redis

from vultr_toolkit.cache import Cache


def compute_once_worker(url: str, namespace: str, key: str, counter_key: str, barrier: Any, out: Any) -> None:
    """Miss ``key`` at the same moment as the other workers; fn counts its calls in Valkey (shared by processes)."""
    cache = Cache(url, namespace=namespace, lock_wait=60)  # single-flight under test, not the timeout
    counter = redis.Redis.from_url(url)

    def fn() -> dict[str, Any]:
        calls = counter.incr(counter_key)
        time.sleep(0.3)  # keep the lock held while the others arrive
        return {"computed_by_call": calls}

    barrier.wait(timeout=30)
    out.put(cache.get_or_compute(key, fn, ttl=60))
    cache.close()
    counter.close()
