"""HealthMonitor with real servers: checks, pending-before-down, outages and restarts, the buffered store writer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.plugins.servers import PostgresServer, ValkeyServer
from vultr_toolkit import ConfigError, Settings
from vultr_toolkit._redact import register_secret
from vultr_toolkit.health import HealthMonitor
from vultr_toolkit.health.probes import Probe, ProbeOutcome
from vultr_toolkit.store import SAMPLE_DTYPES, HistoryStore

CANARY = "sk-CANARY-monitor-0004"
DEAD_VALKEY = "redis://127.0.0.1:1/0"


def wait_until(pred: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(df: pd.DataFrame, service: str) -> list[str]:
    return df.loc[df["service"] == service, "status"].astype(str).tolist()


def test_check_gives_one_row_per_target_and_overall(pg_url: str, valkey_url: str) -> None:
    with HealthMonitor(Settings(postgres_url=pg_url, valkey_url=valkey_url)) as mon:
        df = mon.check()
    assert df["service"].astype(str).tolist() == ["postgres", "valkey", "overall"]
    assert df["status"].astype(str).tolist() == ["up", "up", "up"]
    assert [str(df[c].dtype) for c in df.columns] == [str(d) for d in SAMPLE_DTYPES.values()]
    overall = df.iloc[-1]
    assert '"targets":2' in overall["details"] and overall["target"] == "overall"
    assert df["monitor_id"].nunique() == 1 and df["sample_id"].is_unique


def test_a_target_is_down_only_after_retries_before_down_failures(valkey_url: str) -> None:
    with HealthMonitor(targets=[valkey_url, DEAD_VALKEY], retries_before_down=2, timeout_s=1) as mon:
        df = mon.run(interval_s=0.01, count=4, progress=False)
    dead = df[df["target"] == DEAD_VALKEY]
    assert dead["status"].astype(str).tolist() == ["degraded", "degraded", "down", "down"]
    assert dead["error_kind"].astype(str).unique().tolist() == ["connection"]
    assert '"pending":true' in dead["details"].iloc[0] and "pending" not in dead["details"].iloc[2]
    assert statuses(df, "overall") == ["degraded", "degraded", "down", "down"]
    assert set(df.loc[df["target"] == valkey_url, "status"].astype(str)) == {"up"}
    assert df.attrs["monitor"]["ticks"] == 4


def test_maintenance_windows_mark_samples(valkey_url: str) -> None:
    now = pd.Timestamp.now(tz="UTC")
    window = (now - pd.Timedelta(hours=1), now + pd.Timedelta(hours=1), ["valkey"])
    with HealthMonitor(targets=[DEAD_VALKEY], retries_before_down=0, maintenance=[window]) as mon:
        df = mon.check()
    assert statuses(df, "valkey") == ["maintenance"]
    assert '"probe_status":"down"' in df["details"].iloc[0]
    assert statuses(df, "overall") == ["maintenance"]


def test_bad_targets_give_down_samples_not_exceptions() -> None:
    register_secret(CANARY)
    targets = [f"postgresql://app:{CANARY}@127.0.0.1:notaport/db", f"redis://:{CANARY}@127.0.0.1:1/0",
               "http://127.0.0.1:1/v1"]
    with HealthMonitor(targets=targets, retries_before_down=0, timeout_s=2) as mon:
        df = mon.check()
    assert statuses(df, "postgres") == ["down"] and statuses(df, "valkey") == ["down"]
    assert statuses(df, "inference") == ["down"]
    assert df["error_kind"].astype(str).tolist()[:3] == ["config", "connection", "connection"]
    assert CANARY not in df.to_json(date_format="iso")
    with pytest.raises(ConfigError, match="cannot tell"):
        HealthMonitor(targets=["ftp://x"])
    with pytest.raises(ConfigError, match="nothing to monitor"):
        HealthMonitor(Settings(), targets=[])


class _Exploding(Probe):
    service = "custom"

    def __init__(self) -> None:
        super().__init__("exploding")
        self.calls = 0

    def check(self):  # type: ignore[no-untyped-def]  # deliberately breaks the never-raise contract
        self.calls += 1
        raise RuntimeError("boom")

    def _check(self) -> ProbeOutcome:  # pragma: no cover
        raise AssertionError


def test_the_monitor_survives_a_probe_that_raises(valkey_url: str) -> None:
    bad = _Exploding()
    with HealthMonitor(targets=[bad, valkey_url], retries_before_down=0) as mon:
        df = mon.run(interval_s=0.01, count=3, progress=False)
    assert bad.calls == 3
    assert statuses(df, "custom") == ["down"] * 3 and statuses(df, "valkey") == ["up"] * 3


def test_postgres_outage_mid_run(private_pg_server: PostgresServer) -> None:
    """Stop PostgreSQL mid-run: down samples with a clear error_kind, the monitor keeps going, up after restart."""
    srv = private_pg_server
    mon = HealthMonitor(targets=[srv.url], retries_before_down=1, timeout_s=3)
    mon.run(interval_s=0.1, background=True)
    try:
        wait_until(lambda: "up" in statuses(mon.samples(), "postgres"), what="first up sample")
        srv.stop()
        wait_until(lambda: statuses(mon.samples(), "postgres")[-1] == "down", what="down after stop")
        ticks_while_down = mon.stats()["ticks"]
        srv.start()
        wait_until(lambda: statuses(mon.samples(), "postgres")[-1] == "up", what="up after restart")
        assert mon.running and mon.stats()["ticks"] > ticks_while_down
    finally:
        df = mon.stop()
        mon.close()
    seq = statuses(df, "postgres")
    first_down = seq.index("down")
    assert seq[0] == "up" and seq[first_down - 1] == "degraded"  # pending before down
    assert seq[-1] == "up"
    kinds = set(df.loc[(df["service"] == "postgres") & (df["status"] == "down"), "error_kind"].astype(str))
    assert kinds <= {"connection", "starting"} and "connection" in kinds


def test_valkey_outage_mid_run(private_valkey_server: ValkeyServer) -> None:
    srv = private_valkey_server
    mon = HealthMonitor(targets=[srv.url], retries_before_down=0, timeout_s=2)
    assert mon.run(0.05, None, None, True) is mon  # the positional order: interval, count, duration, bg
    try:
        wait_until(lambda: "up" in statuses(mon.samples(), "valkey"), what="first up sample")
        srv.stop()
        wait_until(lambda: statuses(mon.samples(), "valkey")[-1] == "down", what="down after stop")
        srv.start()
        wait_until(lambda: statuses(mon.samples(), "valkey")[-1] == "up", what="up after restart")
    finally:
        df = mon.stop()
        mon.close()
    down = df[(df["service"] == "valkey") & (df["status"] == "down")]
    assert len(down) >= 1 and set(down["error_kind"].astype(str)) == {"connection"}
    assert statuses(df, "valkey")[-1] == "up"


def test_store_outage_loses_no_sample(private_pg_server: PostgresServer, valkey_url: str) -> None:
    """Stop the history store's database mid-run: samples queue up and are all written once it is back."""
    srv = private_pg_server
    store = HistoryStore(srv.url)
    mon = HealthMonitor(targets=[valkey_url], store=store, flush_rows=4, flush_interval_s=0.1)
    mon.run(interval_s=0.05, background=True)
    try:
        wait_until(lambda: mon.stats()["written"] >= 4, what="first flush")
        srv.stop()
        wait_until(lambda: mon.stats()["flush_failures"] >= 2 and mon.stats()["unflushed"] >= 10,
                   what="samples queued while the store is down")
        srv.start()
        wait_until(lambda: mon.stats()["flush_failures"] >= 2 and mon.stats()["written"] > 30
                   and mon.stats()["last_error"] is not None, what="writes resumed")
    finally:
        df = mon.stop()
        stats = mon.close()
    assert stats["unflushed"] == 0 and stats["dropped"] == 0
    assert "history store" in stats["last_error"]
    stored = store.health_history()
    kept = mon.samples()
    assert len(kept) == len(df)
    assert set(stored["sample_id"]) == set(kept["sample_id"])  # every sample, each once
    assert len(stored) == len(kept)


def test_a_full_buffer_drops_the_oldest_and_says_so() -> None:
    register_secret(CANARY)
    store = HistoryStore(f"postgresql://app:{CANARY}@127.0.0.1:1/db")  # nothing listens on port 1
    mon = HealthMonitor(targets=[DEAD_VALKEY], store=store, max_buffer=5, flush_rows=1000, flush_interval_s=60)
    df = mon.run(interval_s=0.01, count=4, progress=False)  # 4 ticks x (target + overall) = 8 samples
    stats = mon.close()
    assert len(df) == 8
    assert stats["dropped"] == 3 and stats["unflushed"] == 5 and stats["written"] == 0
    assert df.attrs["monitor"]["dropped"] == 3
    assert CANARY not in repr(stats) and "127.0.0.1" in stats["last_error"]


def test_no_password_reaches_the_store(tmp_path: Path, private_valkey_server: ValkeyServer) -> None:
    register_secret(CANARY)
    private_valkey_server.client().config_set("requirepass", "right-password-3")
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    target = f"redis://:{CANARY}@127.0.0.1:{private_valkey_server.port}/0"
    with HealthMonitor(targets=[target, f"postgresql://u:{CANARY}@127.0.0.1:1/x"], store=url,
                       retries_before_down=0) as mon:
        mon.run(interval_s=0.01, count=2, progress=False)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM health_sample").all()
    assert len(rows) == 6
    assert CANARY not in repr(rows)
    assert {r.error_kind for r in rows} == {"auth", "connection", None}
    assert (tmp_path / "h.sqlite").read_bytes().find(CANARY.encode()) == -1


def test_run_for_a_duration_keeps_to_the_interval_grid(valkey_url: str) -> None:
    with HealthMonitor(targets=[valkey_url]) as mon:
        df = mon.run(interval_s=0.1, duration_s=0.45, progress=False)
        again = mon.run(interval_s=0.01, count=2, progress=False)  # a monitor can run again
    ticks = df.attrs["monitor"]["ticks"]
    assert 1 <= ticks <= 5  # slots at 0, 0.1, ..., 0.4 s; a slow tick skips slots, never adds any
    assert len(df) == 2 * ticks and len(again) == 4
    assert mon.samples().shape[0] == len(df) + len(again)
    with pytest.raises(ConfigError, match="closed"):
        mon.run(interval_s=1, count=1)
