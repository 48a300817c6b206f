"""check_health / get_stats / verify_services (the original trio) against real PostgreSQL and Valkey."""

from __future__ import annotations

import redis
import sqlalchemy as sa

import vultr_toolkit.health as health
from tests.plugins.servers import ValkeyServer
from vultr_toolkit import Settings
from vultr_toolkit._redact import register_secret

CANARY = "sk-CANARY-utils-0005"


def test_check_health_reports_down_at_once(valkey_url: str) -> None:
    df = health.check_health(Settings(valkey_url=valkey_url), targets=[valkey_url, "redis://127.0.0.1:1/0"])
    assert df["status"].astype(str).tolist() == ["up", "down", "down"]
    assert df["service"].astype(str).tolist()[-1] == "overall"


def test_get_stats_is_long_form_pool_and_connection_statistics(pg_url: str, valkey_url: str) -> None:
    df = health.get_stats(Settings(postgres_url=pg_url, valkey_url=valkey_url))
    assert list(df.columns) == ["checked_at", "service", "target", "stat", "value"]
    assert str(df["value"].dtype) == "Float64" and str(df["stat"].dtype) == "category"
    pg = df[df["service"] == "postgres"].set_index("stat")["value"]
    assert pg["pool_size"] == 1 and pg["max_connections"] >= pg["connections_used"] >= 1
    assert pg["latency_ms"] > 0
    vk = df[df["service"] == "valkey"].set_index("stat")["value"]
    assert vk["connected_clients"] >= 1 and vk["used_memory"] > 0


def test_test_services_round_trips_leave_no_trace(pg_url: str, valkey_url: str) -> None:
    df = health.verify_services(Settings(postgres_url=pg_url, valkey_url=valkey_url))
    assert df[["service", "step"]].astype(str).values.tolist() == [
        ["postgres", "connect"], ["postgres", "write"], ["postgres", "read"], ["postgres", "delete"],
        ["valkey", "connect"], ["valkey", "write"], ["valkey", "read"], ["valkey", "delete"]]
    assert df["ok"].all() and (df["elapsed_ms"] >= 0).all() and df["error_kind"].isna().all()
    assert redis.Redis.from_url(valkey_url).keys("*") == []
    with sa.create_engine(pg_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_tables WHERE tablename = 'vtk_selftest'").scalar() == 0


def test_test_services_reports_failures_per_step(private_valkey_server: ValkeyServer) -> None:
    register_secret(CANARY)
    private_valkey_server.client().config_set("requirepass", "right-password-5")
    s = Settings(valkey_url=f"redis://:{CANARY}@127.0.0.1:{private_valkey_server.port}/0",
                 postgres_url="postgresql://u@127.0.0.1:1/x")
    df = health.verify_services(s, timeout_s=2)
    pg = df[df["service"] == "postgres"]
    assert pg["ok"].tolist() == [False] * 4
    assert pg["error_kind"].astype(str).tolist() == ["connection", "skipped", "skipped", "skipped"]
    vk = df[df["service"] == "valkey"]
    assert vk["error_kind"].astype(str).tolist()[0] == "auth"
    assert CANARY not in df.to_string()
