"""The original integration's utility trio: ``check_health``, ``get_stats``, ``test_services``.

========================  =====================================================================================
original (TypeScript)     here
========================  =====================================================================================
``checkVultrHealth()``    :func:`check_health` — one row per target (postgres, valkey, inference, api) + overall
``getVultrStats()``       :func:`get_stats` — pool and connection statistics per service, long form
``testVultrServices()``   :func:`test_services` — write/read/delete round trips on PostgreSQL and Valkey and a
                          one-token inference call, each step pass/fail with its timing
========================  =====================================================================================
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from .._errors import ConfigError
from .._redact import redact
from .._settings import DEFAULT_INFERENCE_URL, Settings
from .._tls import check_redis_url, secure_postgres_url
from .monitor import HealthMonitor
from .probes import DEFAULT_TIMEOUT_S, Probe, classify

__all__ = ["STATS_DTYPES", "TEST_DTYPES", "check_health", "get_stats", "stat_records", "stats_frame", "test_services"]

STATS_DTYPES: dict[str, Any] = {
    "checked_at": "datetime64[us, UTC]",
    "service": "category",
    "target": "category",
    "stat": "category",
    "value": "Float64",
}
TEST_DTYPES: dict[str, Any] = {
    "service": "category",
    "target": "category",
    "step": "category",
    "ok": "boolean",
    "elapsed_ms": "Float64",
    "error_kind": "category",
    "message": "string",
}


def check_health(settings: Settings | None = None, targets: Sequence[str | Probe] | None = None, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> pd.DataFrame:
    """Probe every configured service once (``checkVultrHealth``): one row per target plus ``overall``.

    Unlike a running monitor, a failure is reported ``down`` at once (there is no history to confirm it with).

    >>> vt.check_health(sb.settings(postgres_url=pg_url, valkey_url=valkey_url))[["service", "status"]]
         service status
    0   postgres     up
    1     valkey     up
    2  inference     up
    3        api     up
    4    overall     up
    """
    with HealthMonitor(settings, targets, retries_before_down=0, timeout_s=timeout_s) as mon:
        return mon.check()


def stat_records(health: pd.DataFrame) -> list[dict[str, Any]]:
    """The numeric statistics in a :func:`check_health` frame as records, each value in its own Python type.

    Counters and sizes (``connections_used``, ``used_memory``, ...) stay ``int``, flags become ``0``/``1``,
    measurements (``latency_ms``, ``cache_hit_ratio``, ...) stay ``float``; a missing value is ``None``. The
    status service serves these, so an integer counter is a JSON integer (``6``, not ``6.0``); :func:`get_stats`
    turns them into its ``Float64`` frame.

    >>> recs = stat_records(vt.check_health(sb.settings()))
    >>> recs[0]["stat"], type(recs[0]["value"]).__name__
    ('latency_ms', 'float')
    """
    rows: list[dict[str, Any]] = []
    for rec in health[health["service"] != "overall"].itertuples(index=False):
        raw: Any = rec.latency_ms
        latency = None if pd.isna(raw) else float(raw)
        values: dict[str, int | float | None] = {"latency_ms": latency}
        details = json.loads(rec.details) if isinstance(rec.details, str) else {}
        # The details are JSON, so each value still has the type the probe gave it: keep it (a float frame
        # would print a count of 6 as 6.0). Flags are counted as 0/1, as the frame always has.
        values.update({k: v for k, v in details.items() if isinstance(v, int | float) and not isinstance(v, bool)})
        values.update({k: int(v) for k, v in details.items() if isinstance(v, bool)})
        for stat, value in values.items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            rows.append({"checked_at": rec.checked_at, "service": rec.service, "target": rec.target,
                         "stat": stat, "value": value})
    return rows


def get_stats(settings: Settings | None = None, targets: Sequence[str | Probe] | None = None, *,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> pd.DataFrame:
    """Connection and pool statistics per service (``getVultrStats``), long form: one row per (target, stat).

    PostgreSQL: connections_used, max_connections, pool_size, pool_checked_out, pool_checked_in, pool_overflow,
    db_size_bytes, cache_hit_ratio, ...; Valkey: connected_clients, blocked_clients, used_memory,
    mem_fragmentation_ratio, ops_per_s, ...; every service: latency_ms. Pivot for a wide view:
    ``df.pivot_table(index=["service", "target"], columns="stat", values="value")``. The same rows with each
    value in its own type (ints stay ints): :func:`stat_records`.

    >>> stats = vt.get_stats(sb.settings(postgres_url=pg_url, valkey_url=valkey_url))
    >>> stats.query("stat in ['pool_size', 'connected_clients']")[["service", "stat"]]
         service               stat
    ...  postgres          pool_size
    ...    valkey  connected_clients
    """
    return stats_frame(stat_records(check_health(settings, targets, timeout_s=timeout_s)))


def stats_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """:func:`stat_records` as the typed long-form frame of :func:`get_stats` (``value`` is ``Float64``).

    >>> str(stats_frame([]).dtypes["value"])
    'Float64'
    """
    if not records:
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in STATS_DTYPES.items()})
    out = pd.DataFrame(records, columns=list(STATS_DTYPES))
    out["value"] = pd.array([None if v is None else float(v) for v in out["value"].tolist()], dtype="Float64")
    return out.astype(STATS_DTYPES)


# --- test_services ------------------------------------------------------------------------------------------------
Step = tuple[str, Callable[[], None]]


def _run_steps(service: str, target: str, steps: list[Step]) -> list[dict[str, Any]]:
    """Run steps in order; after a failure the remaining steps are reported as skipped."""
    rows: list[dict[str, Any]] = []
    failed = False
    for name, fn in steps:
        if failed:
            rows.append({"service": service, "target": target, "step": name, "ok": False, "elapsed_ms": None,
                         "error_kind": "skipped", "message": "an earlier step failed"})
            continue
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:
            failed = True
            orig = getattr(e, "orig", None) or e
            text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
            rows.append({"service": service, "target": target, "step": name, "ok": False,
                         "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3), "error_kind": classify(e),
                         "message": redact(f"{type(orig).__name__}: {text}")[:500]})
            continue
        rows.append({"service": service, "target": target, "step": name, "ok": True,
                     "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3), "error_kind": None, "message": None})
    return rows


class _Mismatch(Exception):
    """A read returned something other than what was written."""


def _postgres_steps(url: str, timeout_s: float) -> tuple[list[Step], Callable[[], None]]:
    import sqlalchemy as sa

    from .._settings import normalize_db_url

    engine = sa.create_engine(secure_postgres_url(normalize_db_url(url)), poolclass=sa.pool.NullPool,
                              connect_args={"connect_timeout": max(2, math.ceil(timeout_s))})
    state: dict[str, Any] = {}
    token = secrets.token_hex(8)

    def connect() -> None:
        conn = engine.connect()
        state["conn"] = conn
        state["tx"] = conn.begin()  # everything below is rolled back: no trace is left on the server
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
        conn.exec_driver_sql("CREATE TEMP TABLE vtk_selftest (k text PRIMARY KEY, v text) ON COMMIT DROP")

    def write() -> None:
        state["conn"].execute(sa.text("INSERT INTO vtk_selftest VALUES ('probe', :v)"), {"v": token})

    def read() -> None:
        got = state["conn"].execute(sa.text("SELECT v FROM vtk_selftest WHERE k = 'probe'")).scalar()
        if got != token:
            raise _Mismatch("read back a different value than was written")

    def delete() -> None:
        n = state["conn"].execute(sa.text("DELETE FROM vtk_selftest WHERE k = 'probe'")).rowcount
        if n != 1:
            raise _Mismatch(f"delete removed {n} rows instead of 1")

    def cleanup() -> None:
        conn = state.get("conn")
        if conn is not None:
            try:
                state["tx"].rollback()
            finally:
                conn.close()
        engine.dispose()

    return [("connect", connect), ("write", write), ("read", read), ("delete", delete)], cleanup


def _valkey_steps(url: str, timeout_s: float) -> tuple[list[Step], Callable[[], None]]:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(check_redis_url(url.replace("valkey://", "redis://", 1)
                                                  .replace("valkeys://", "rediss://", 1)),
                                  socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                  retry=Retry(NoBackoff(), 0))
    key = f"vtk:selftest:{secrets.token_hex(8)}"
    value = secrets.token_hex(8).encode()

    def connect() -> None:
        client.ping()

    def write() -> None:
        client.set(key, value, ex=60)  # expires on its own if the delete never runs

    def read() -> None:
        if client.get(key) != value:
            raise _Mismatch("read back a different value than was written")

    def delete() -> None:
        if client.delete(key) != 1:
            raise _Mismatch("the key was already gone")

    return [("connect", connect), ("write", write), ("read", read), ("delete", delete)], client.close


def _inference_steps(settings: Settings, timeout_s: float) -> tuple[list[Step], Callable[[], None]]:
    from .._http import HTTPCore, RetryPolicy
    from ..api.inference import InferenceAPI

    core = HTTPCore(settings.inference_url, api_key=settings.secret("inference_api_key"), timeout_s=timeout_s,
                    policy=RetryPolicy(attempts=1, deadline_s=timeout_s), name="inference-selftest")
    state: dict[str, Any] = {}

    def models() -> None:
        data = core.request_json("GET", "/models")
        ids = [m.get("id") for m in data.get("data") or [] if isinstance(m, dict)]
        if not ids:
            raise _Mismatch("the endpoint lists no models")
        state["model"] = ids[0]

    def chat() -> None:
        InferenceAPI(core).chat("ping", model=state["model"], max_tokens=1, timeout_s=timeout_s)

    return [("models", models), ("chat", chat)], core.close


def test_services(settings: Settings | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> pd.DataFrame:
    """Exercise every configured service (``testVultrServices``): PostgreSQL and Valkey write/read/delete round
    trips (a temporary table rolled back; a ``vtk:selftest:*`` key with a 60 s TTL) and a one-token inference
    call. One row per step: ok, elapsed_ms, error_kind, message.

    >>> vt.test_services(sb.settings(postgres_url=pg_url, valkey_url=valkey_url)).groupby("service")["ok"].all()
    service
    inference    True
    postgres     True
    valkey       True
    Name: ok, dtype: boolean
    """
    from .probes import display_target

    s = settings or Settings()
    plans: list[tuple[str, str, Callable[[], tuple[list[Step], Callable[[], None]]]]] = []
    if s.postgres_url is not None:
        url = s.postgres_url.get_secret_value()
        plans.append(("postgres", display_target(url), lambda: _postgres_steps(url, timeout_s)))
    if s.valkey_url is not None:
        vurl = s.valkey_url.get_secret_value()
        plans.append(("valkey", display_target(vurl), lambda: _valkey_steps(vurl, timeout_s)))
    if s.inference_api_key is not None or s.inference_url != DEFAULT_INFERENCE_URL:
        plans.append(("inference", display_target(s.inference_url), lambda: _inference_steps(s, timeout_s)))
    if not plans:
        raise ConfigError("nothing to test: set VULTR_POSTGRES_URL, VULTR_VALKEY_URL or VULTR_INFERENCE_API_KEY")
    rows: list[dict[str, Any]] = []
    for service, target, build in plans:
        try:
            steps, cleanup = build()
        except Exception as e:  # e.g. a malformed URL: report it as the first step's failure
            rows.extend(_run_steps(service, target, [("connect", _raiser(e))]))
            continue
        try:
            rows.extend(_run_steps(service, target, steps))
        finally:
            with contextlib.suppress(Exception):  # cleanup after a failure must not hide the results
                cleanup()
    out = pd.DataFrame(rows, columns=list(TEST_DTYPES))
    out["elapsed_ms"] = pd.array(out["elapsed_ms"].tolist(), dtype="Float64")
    return out.astype(TEST_DTYPES)


test_services.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def _raiser(exc: Exception) -> Callable[[], None]:
    def fail() -> None:
        raise exc

    return fail
