"""Valkey / Redis health: median of 3 timed PINGs, INFO server/clients/memory/stats/replication/keyspace, and
ops/s and hit ratio from counter deltas between checks (a restart that resets the counters is detected).

>>> from vultr_toolkit.health.probes.valkey import ValkeyProbe
>>> ValkeyProbe("redis://:pw@127.0.0.1:6379/0").target
'redis://127.0.0.1:6379/0'
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._redact import register_url_passwords
from ..._tls import check_redis_url
from .base import DEFAULT_TIMEOUT_S, Probe, ProbeOutcome, Sample, check_once, elapsed_ms

__all__ = ["ValkeyCounters", "ValkeyProbe", "probe_valkey", "valkey_details", "valkey_rates"]

@dataclass(frozen=True)
class ValkeyCounters:
    """The INFO counters rates are derived from, with when they were read."""

    at: float  # time.monotonic()
    uptime_s: int
    run_id: str
    commands: int
    hits: int
    misses: int

    @classmethod
    def from_info(cls, info: Mapping[str, Any], at: float) -> ValkeyCounters:
        return cls(at=at, uptime_s=int(info.get("uptime_in_seconds", 0)), run_id=str(info.get("run_id", "")),
                   commands=int(info.get("total_commands_processed", 0)), hits=int(info.get("keyspace_hits", 0)),
                   misses=int(info.get("keyspace_misses", 0)))


def valkey_rates(prev: ValkeyCounters | None, cur: ValkeyCounters) -> dict[str, Any]:
    """ops/s and hit ratio between two INFO reads; ``counter_reset`` when the server restarted in between.

    A restart shows as a new ``run_id``, a smaller ``uptime_in_seconds`` or a counter that went down; rates are
    then unknown (None) for this interval instead of negative.

    >>> a = ValkeyCounters(0.0, 100, "r1", 1000, 80, 20)
    >>> valkey_rates(a, ValkeyCounters(10.0, 110, "r1", 1500, 170, 30))
    {'ops_per_s': 50.0, 'hit_ratio': 0.9, 'counter_reset': False}
    """
    if prev is None:
        return {"ops_per_s": None, "hit_ratio": None, "counter_reset": False}
    reset = (cur.run_id != prev.run_id or cur.uptime_s < prev.uptime_s or cur.commands < prev.commands
             or cur.hits < prev.hits or cur.misses < prev.misses)
    dt_s = cur.at - prev.at
    if reset or dt_s <= 0:
        return {"ops_per_s": None, "hit_ratio": None, "counter_reset": reset}
    d_hits, d_misses = cur.hits - prev.hits, cur.misses - prev.misses
    return {"ops_per_s": round((cur.commands - prev.commands) / dt_s, 3),
            "hit_ratio": round(d_hits / (d_hits + d_misses), 6) if d_hits + d_misses else None,
            "counter_reset": False}


_INFO_KEYS = ("redis_version", "valkey_version", "server_name", "redis_mode", "role", "connected_clients",
              "blocked_clients", "maxclients", "used_memory", "used_memory_rss", "maxmemory",
              "mem_fragmentation_ratio", "uptime_in_seconds", "total_commands_processed", "keyspace_hits",
              "keyspace_misses", "evicted_keys", "expired_keys", "rejected_connections", "loading",
              "connected_slaves", "master_link_status", "master_last_io_seconds_ago", "rdb_last_bgsave_status")


def valkey_details(info: Mapping[str, Any]) -> dict[str, Any]:
    """The INFO fields a health sample keeps, normalised across Redis 7 and Valkey 8.

    ``version`` is Valkey's own version when the server reports one (Valkey also reports a Redis-compatible
    ``redis_version``), ``server`` says which it is, ``keys`` sums every database.
    """
    d: dict[str, Any] = {k: info[k] for k in _INFO_KEYS if k in info}
    d["server"] = str(info.get("server_name") or ("valkey" if "valkey_version" in info else "redis"))
    d["version"] = str(info.get("valkey_version") or info.get("redis_version") or "")
    d["keys"] = sum(int(v.get("keys", 0)) for k, v in info.items() if k.startswith("db") and isinstance(v, dict))
    if "uptime_in_seconds" in d:
        d["uptime_s"] = d.pop("uptime_in_seconds")
    return d


class ValkeyProbe(Probe):
    """Valkey / Redis health (redis-py). Keeps one connection and the previous INFO counters between checks.

    >>> ValkeyProbe("redis://:pw@127.0.0.1:6379/0").target
    'redis://127.0.0.1:6379/0'
    """

    service = "valkey"
    pings = 3

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_warn_ratio: float = 0.9) -> None:
        super().__init__(url, timeout_s=timeout_s)
        self._url = url
        register_url_passwords(url)
        self.memory_warn_ratio = memory_warn_ratio
        self._client: Any = None
        self._prev: ValkeyCounters | None = None

    def _get_client(self) -> Any:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            url = self._url.replace("valkey://", "redis://", 1).replace("valkeys://", "rediss://", 1)
            # No automatic retries: a probe reports what one attempt saw, within its own deadline.
            self._client = redis.Redis.from_url(check_redis_url(url), socket_timeout=self.timeout_s,
                                                socket_connect_timeout=self.timeout_s, retry=Retry(NoBackoff(), 0),
                                                health_check_interval=0, client_name="vultr-toolkit-health")
        return self._client

    def _check(self) -> ProbeOutcome:
        client = self._get_client()
        try:
            times = []
            for _ in range(self.pings):
                t0 = time.perf_counter()
                client.ping()
                times.append(elapsed_ms(t0))
            info = client.info("server", "clients", "memory", "stats", "replication", "keyspace")
        except Exception:
            # Drop the connection pool: after a server restart it only holds dead sockets.
            self._client = None
            with contextlib.suppress(Exception):
                client.close()
            raise
        cur = ValkeyCounters.from_info(info, time.monotonic())
        details = valkey_details(info)
        details.update(valkey_rates(self._prev, cur))
        details["ping_ms"] = times
        self._prev = cur
        status, message = "up", None
        used, cap = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0) or 0)
        if str(info.get("loading", 0)) == "1":
            status, message = "degraded", "server is loading its dataset"
        elif details.get("role") == "slave" and details.get("master_link_status") not in (None, "up"):
            status, message = "degraded", "replica has lost its primary"
        elif cap and used / cap > self.memory_warn_ratio:
            status, message = "degraded", f"memory {used / cap:.0%} of maxmemory"
        return ProbeOutcome(statistics.median(times), details, status, message)

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


def probe_valkey(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Sample:
    """Probe a Valkey / Redis server once (see :class:`ValkeyProbe`).

    >>> probe_valkey("redis://127.0.0.1:1/0", timeout_s=0.5).error_kind
    'connection'
    """
    return check_once(ValkeyProbe(url, timeout_s=timeout_s))
