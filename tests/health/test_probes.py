"""Probes against real PostgreSQL and Valkey servers: metrics, failures as samples, deadlines, no secrets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.plugins.servers import PostgresServer, ValkeyServer
from vultr_toolkit.health.probes import (
    Probe,
    ProbeOutcome,
    ValkeyCounters,
    ValkeyProbe,
    classify,
    display_target,
    probe_postgres,
    probe_valkey,
    valkey_details,
    valkey_rates,
)

CANARY = "sk-CANARY-probe-0003"


def _no_canary(sample: Any) -> None:
    assert CANARY not in repr(sample)


# --- PostgreSQL ---------------------------------------------------------------------------------------------------
def test_postgres_probe_reports_the_documented_metrics(pg_url: str) -> None:
    s = probe_postgres(pg_url)
    assert s.status == "up", s.message
    assert s.service == "postgres" and s.error_kind is None
    assert s.latency_ms is not None and s.latency_ms > 0
    d = s.details
    assert d["version"].startswith(("15", "16", "17")) and d["version_num"] >= 150000
    assert d["is_replica"] is False and d["replication_lag_s"] is None
    assert 1 <= d["connections_used"] <= d["max_connections"]
    assert d["db_size_bytes"] > 0
    assert 0 <= d["cache_hit_ratio"] <= 1
    assert d["pool_size"] == 1 and d["pool_checked_out"] == 0 and d["pool_overflow"] == 0
    assert s.target == pg_url.replace("postgresql+psycopg2://", "postgresql://")


def test_postgres_probe_transaction_is_read_only_with_a_statement_timeout(pg_url: str) -> None:
    """The probe's session settings, observed from the server side while the probe runs its SELECTs."""
    from vultr_toolkit.health.probes import PostgresProbe

    probe = PostgresProbe(pg_url, statement_timeout_s=1.5)
    engine = probe._get_engine()
    seen: list[tuple[str, str]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.strip() == "SELECT 1":
            cursor.execute("SELECT current_setting('transaction_read_only'), current_setting('statement_timeout')")
            seen.append(cursor.fetchone())

    assert probe.check().status == "up"
    probe.close()
    assert seen == [("on", "1500ms")]


@pytest.mark.parametrize(("url", "kind"), [
    ("postgresql://app:{pw}@127.0.0.1:1/db", "connection"),
    ("postgresql://app:{pw}@127.0.0.1:notaport/db", "config"),
    ("postgresql://app:{pw}@/", "connection"),
])
def test_postgres_failures_are_down_samples(url: str, kind: str) -> None:
    from vultr_toolkit._redact import register_secret

    register_secret(CANARY)
    s = probe_postgres(url.format(pw=CANARY), timeout_s=3)
    assert s.status == "down" and s.error_kind == kind, s
    assert s.latency_ms is None and s.message
    _no_canary(s)


def test_postgres_wrong_password_and_unknown_database(private_pg_server: PostgresServer) -> None:
    srv = private_pg_server
    admin = sa.create_engine(srv.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE ROLE prober LOGIN PASSWORD 'right-password-1'")
        hba = Path(conn.exec_driver_sql("SHOW hba_file").scalar_one())
        hba.write_text("host all prober 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        conn.exec_driver_sql("SELECT pg_reload_conf()")
    admin.dispose()
    base = f"postgresql://prober:{{pw}}@{srv.host}:{srv.port}/{{db}}"
    ok = probe_postgres(base.format(pw="right-password-1", db="postgres"))
    assert ok.status == "up", ok.message
    # A non-superuser role still gets every metric (research T10).
    for key in ("version", "connections_used", "max_connections", "db_size_bytes", "cache_hit_ratio"):
        assert ok.details[key] is not None, key
    bad = probe_postgres(base.format(pw=CANARY, db="postgres"))
    assert bad.status == "down" and bad.error_kind == "auth", bad
    assert "password authentication failed" in (bad.message or "")
    _no_canary(bad)
    missing = probe_postgres(base.format(pw="right-password-1", db="nope"))
    assert missing.status == "down" and missing.error_kind == "not_found"


# --- Valkey -------------------------------------------------------------------------------------------------------
def test_valkey_probe_reports_info_and_rates_between_probes(valkey_url: str, valkey_server: ValkeyServer) -> None:
    probe = ValkeyProbe(valkey_url)
    first = probe.check()
    assert first.status == "up", first.message
    d = first.details
    assert d["server"] == valkey_server.kind and d["version"]
    assert d["role"] == "master" and d["connected_clients"] >= 1
    assert d["used_memory"] > 0 and d["mem_fragmentation_ratio"] > 0 and d["uptime_s"] >= 0
    assert len(d["ping_ms"]) == 3 and first.latency_ms == sorted(d["ping_ms"])[1]
    assert d["ops_per_s"] is None and d["hit_ratio"] is None  # no previous counters yet
    r = valkey_server.client()
    r.set("k", "v")
    for _ in range(3):
        r.get("k")
    r.get("missing")
    second = probe.check()
    probe.close()
    assert second.details["ops_per_s"] > 0
    assert second.details["hit_ratio"] == pytest.approx(0.75)
    assert second.details["counter_reset"] is False


def test_valkey_restart_is_a_counter_reset_not_a_negative_rate(private_valkey_server: ValkeyServer) -> None:
    probe = ValkeyProbe(private_valkey_server.url, timeout_s=2)
    assert probe.check().status == "up"
    private_valkey_server.restart()
    after = probe.check()
    probe.close()
    assert after.status == "up", after.message
    assert after.details["counter_reset"] is True and after.details["ops_per_s"] is None


def test_valkey_wrong_password_is_an_auth_failure(private_valkey_server: ValkeyServer) -> None:
    from vultr_toolkit._redact import register_secret

    register_secret(CANARY)
    private_valkey_server.client().config_set("requirepass", "right-password-2")
    url = f"redis://:{CANARY}@127.0.0.1:{private_valkey_server.port}/0"
    s = probe_valkey(url)
    assert s.status == "down" and s.error_kind == "auth", s
    assert s.target == f"redis://127.0.0.1:{private_valkey_server.port}/0"
    _no_canary(s)
    good = probe_valkey(f"redis://:right-password-2@127.0.0.1:{private_valkey_server.port}/0")
    assert good.status == "up"


def test_valkey_rates_handle_resets() -> None:
    a = ValkeyCounters(at=0.0, uptime_s=500, run_id="r1", commands=1000, hits=10, misses=0)
    up = valkey_rates(a, ValkeyCounters(at=2.0, uptime_s=502, run_id="r1", commands=1100, hits=10, misses=0))
    assert up == {"ops_per_s": 50.0, "hit_ratio": None, "counter_reset": False}
    for reset in (ValkeyCounters(2.0, 3, "r2", 5, 0, 0),         # restarted: new run id, uptime went down
                  ValkeyCounters(2.0, 502, "r1", 900, 10, 0),    # CONFIG RESETSTAT: a counter went down
                  ValkeyCounters(2.0, 502, "r1", 1100, 5, 0)):
        assert valkey_rates(a, reset) == {"ops_per_s": None, "hit_ratio": None, "counter_reset": True}


def test_info_of_redis_7_and_valkey_8_parse_the_same_way() -> None:
    common = {"redis_version": "7.2.4", "role": "master", "connected_clients": 3, "used_memory": 1024,
              "mem_fragmentation_ratio": 1.5, "uptime_in_seconds": 9, "db0": {"keys": 4, "expires": 0},
              "db3": {"keys": 1, "expires": 1}}
    redis7 = valkey_details({**common, "redis_version": "7.0.15"})
    valkey8 = valkey_details({**common, "valkey_version": "8.0.1", "server_name": "valkey"})
    assert (redis7["server"], redis7["version"]) == ("redis", "7.0.15")
    assert (valkey8["server"], valkey8["version"]) == ("valkey", "8.0.1")
    for d in (redis7, valkey8):
        assert d["keys"] == 5 and d["uptime_s"] == 9 and d["role"] == "master"


# --- deadlines and helpers ------------------------------------------------------------------------------------------
@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback TCP server that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


class _Hang(Probe):
    service = "custom"

    def __init__(self) -> None:
        super().__init__("hang", timeout_s=0.3)
        self.release = threading.Event()

    def _check(self) -> ProbeOutcome:
        self.release.wait(30)
        return ProbeOutcome(1.0)


def test_a_hung_probe_returns_a_timeout_sample_at_its_deadline() -> None:
    probe = _Hang()
    t0 = time.monotonic()
    s = probe.check()
    elapsed = time.monotonic() - t0
    assert s.status == "down" and s.error_kind == "timeout"
    assert elapsed < 5  # it would block for 30 s without the deadline
    # While the stuck check is alive, the next one fails fast instead of starting another thread.
    again = probe.check()
    assert again.error_kind == "timeout" and "still" in (again.message or "")
    probe.release.set()
    time.sleep(0.05)
    assert probe.check().status == "up"


def test_a_silent_valkey_server_is_a_timeout(silent_server: int) -> None:
    s = probe_valkey(f"redis://127.0.0.1:{silent_server}/0", timeout_s=0.5)
    assert s.status == "down" and s.error_kind == "timeout", s


def test_a_silent_postgres_server_is_a_timeout(silent_server: int) -> None:
    # libpq's connect_timeout cannot go below 2 s; the probe's own deadline answers first (see the _Hang test).
    s = probe_postgres(f"postgresql://u@127.0.0.1:{silent_server}/db", timeout_s=0.5)
    assert s.status == "down" and s.error_kind == "timeout", s
    assert "within 0.5s" in (s.message or "")  # the probe's deadline, not libpq's


def test_display_target_and_classify() -> None:
    assert display_target("redis://:pw@127.0.0.1:6379/0?password=x") == "redis://127.0.0.1:6379/0"
    # A '?' inside the password ended urllib's authority early: host "u", port "pw", and the fallback showed "pw".
    assert display_target("postgresql://u:pwLEAK?x@db:5432/app") == "postgresql://u@db:5432/app"
    assert display_target("redis://:a@bLEAK@host:6379/0") == "redis://host:6379/0"
    assert display_target("postgresql://u:pw@h:bad/db") == "postgresql://u@h:bad/db"
    assert classify(ConnectionRefusedError("nope")) == "connection"
    assert classify(ValueError("invalid literal for int()")) == "config"
