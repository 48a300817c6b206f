"""``vt.Cache``: a Valkey/Redis cache helper with stampede protection, tag invalidation and atomic take.

``Cache(url)`` speaks to Valkey or Redis through redis-py (``redis://``, ``rediss://``, ``valkey://``,
``valkeys://``); ``Cache()`` (no URL) is an in-process backend with the same semantics, for notebooks without a
server. Values are JSON in a small envelope (:mod:`vultr_toolkit.cache._codec`: datetime, Decimal, UUID, bytes and
DataFrames round-trip with dtypes) — never pickle.

The original TypeScript integration's names map one to one:

==========================================  ==========================================
``VultrCacheHelper.getOrCompute``           :meth:`Cache.get_or_compute` (+ :meth:`Cache.aget_or_compute`)
``VultrCacheHelper.setWithTags``            :meth:`Cache.set_with_tags`
``VultrCacheHelper.invalidateByTag``        :meth:`Cache.invalidate_by_tag`
``vultrValkey.mgetAndDelete``               :meth:`Cache.mget_and_delete`
==========================================  ==========================================

How it works
------------
* **Keys** live under ``vtk:<namespace>:`` — values ``…:k:<key>``, locks ``…:lock:<key>``, tag versions
  ``…:tagv:<tag>``. :meth:`Cache.clear` SCANs that prefix and UNLINKs in batches of 500; nothing here ever runs
  FLUSHDB/FLUSHALL or touches a key outside the namespace. ``cluster_hash_tag=True`` writes the prefix as
  ``vtk:{<namespace>}:`` so every key of a namespace hashes to one slot (the scripts read tag versions they
  don't declare, which a cluster allows only within one slot). Redis Cluster itself is not supported yet:
  use a standalone server (or a primary's URL).
* **One round trip on a hit.** An untagged entry is one ``GET`` on a per-thread connection that skips redis-py's
  per-command machinery (faster than a plain redis-py ``GET``: see ``benchmarks/results/cache.md``). A tagged
  entry, or a miss, is one Lua script: GET the value, check its tag versions and, on a miss, ``SET lock NX PX`` —
  so the first miss also takes the lock in the same trip. Only idempotent calls use the per-thread connection;
  on any error it is dropped and the call retried once through redis-py (which reconnects).
* **Stampedes.** Exactly one caller (across threads and processes) holds the per-key lock and calls ``fn``; the
  others poll with jittered, growing sleeps and take the value as soon as it lands. A holder that fails releases
  the lock so a waiter takes over; past ``lock_wait`` a waiter calls ``fn`` itself *without caching* (never a
  deadlock). XFetch (Vattani et al., VLDB 2015) refreshes early with probability ``exp(-remaining/(delta*beta))``
  where ``delta`` is the measured compute time, so hot keys are recomputed before they expire.
* **Tags** are versions (Symfony's design): ``set_with_tags`` stores each tag's current version in the entry's
  header; ``invalidate_by_tag`` is one ``INCR`` whatever the number of keys; a read whose stored version differs
  is a miss. Stale entries die by TTL or by :meth:`Cache.reclaim`. A missing version key (evicted) is a miss too;
  versions start at the server's clock in µs so a re-created version never matches an old entry.
* **mget_and_delete** is one Lua script (GET each + UNLINK, atomic) sent on a connection with redis-py's automatic
  retry OFF: a replayed take after a lost reply would return nil for values already deleted — silently losing
  them. So by default it is claim-then-ack: one script moves the values (with their TTLs) into a claim hash
  ``…:claims:<id>`` (deadline in the ``…:claims`` zset) under an id made by the client, so a lost reply is
  replayed with the same id and returns the same values; a second script acks (deletes) the claim. If the
  server stays away, ``CacheError`` and the values wait in the claim until :meth:`Cache.restore_expired_claims`
  returns them. ``claim_ttl=None`` keeps the one-trip, at-most-once take; :meth:`Cache.claim` exposes the
  claim itself (ack when your work is done).
* **In-process backend** (``Cache()``): the same primitives under one lock, shared by every ``Cache()`` in the
  process like one local server. It is not shared across processes — use Valkey for that — and it has no
  eviction: entries without a TTL stay until deleted or cleared (expired ones are swept as writes go on).
* **Failures.** Server errors make ``get_or_compute`` call ``fn`` directly (logged once per outage, retried after
  ``error_cooldown`` seconds): the cache never breaks the user's path. Plain ``get``/``set``/... raise
  :class:`~vultr_toolkit.CacheError`. The URL's password never appears in reprs, logs or errors.

Package layout, one concept per module: :mod:`~vultr_toolkit.cache.core` (the ``Cache`` facade and the
get_or_compute drivers), :mod:`~vultr_toolkit.cache._ops` (op types, the one op dispatch table, the pure plan),
:mod:`~vultr_toolkit.cache._memory` and :mod:`~vultr_toolkit.cache._redis` (the stores),
:mod:`~vultr_toolkit.cache._lua` (the server scripts), :mod:`~vultr_toolkit.cache._codec` (the value envelope)
and :mod:`~vultr_toolkit.cache._stats` (``CacheStats``).

Example, on a Valkey server (``valkey_url`` is a throwaway one on 127.0.0.1, e.g. ``redis://127.0.0.1:6379/0``):

>>> cache = vt.Cache(valkey_url, namespace="inventory")
>>> len(cache.get_or_compute("plans", lambda: client.management.get("/plans"), ttl=3600)["plans"]) > 0
True
>>> cache.get_or_compute("plans", lambda: {}, ttl=3600) == client.management.get("/plans")   # a hit
True
>>> stats = cache.stats(); stats.hits, stats.computes
(1, 1)

The same calls, and tags, on the in-process backend:

>>> from decimal import Decimal
>>> from vultr_toolkit.cache import Cache
>>> cache = Cache(namespace="doc-package")
>>> cache.get_or_compute("plans", lambda: ["vc2-1c-1gb"], ttl=3600)
['vc2-1c-1gb']
>>> cache.set_with_tags("product:123", {"price": Decimal("9.99")}, ["products", "category:shirts"], ttl=3600)
>>> cache.get("product:123")
{'price': Decimal('9.99')}
>>> cache.invalidate_by_tag("products") > 0, cache.get("product:123")
(True, None)
>>> cache.stats().computes
1
"""

from __future__ import annotations

# The private names are ones the tests reach for (the in-process store, the Lua scripts), re-exported explicitly.
from ._lua import _LUA_ACK as _LUA_ACK
from ._lua import _LUA_CLAIM as _LUA_CLAIM
from ._lua import _LUA_MGET_AND_DELETE as _LUA_MGET_AND_DELETE
from ._memory import _MEMORY as _MEMORY
from ._stats import CacheStats
from .core import Cache, Claim

__all__ = ["Cache", "CacheStats", "Claim"]
