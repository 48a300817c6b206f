"""Smoke test of the real-server fixtures in tests/plugins/servers.py: they really serve, and restart in place."""

from __future__ import annotations

import psycopg2
import pytest
import redis
import sqlalchemy as sa

from tests.plugins.servers import PostgresServer, ValkeyServer


def test_pg_url_is_a_fresh_database_on_a_real_server(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg2://postgres@127.0.0.1:")
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            version = conn.execute(sa.text("SELECT version()")).scalar_one()
            assert version.startswith("PostgreSQL ")
            assert conn.execute(sa.text("SHOW fsync")).scalar_one() == "off"
            tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
            assert tables == 0
            conn.execute(sa.text("CREATE TABLE t (x int)"))
    finally:
        engine.dispose()


def test_pg_url_databases_are_isolated(pg_url: str) -> None:
    # Runs after the test above created table t: a fresh database must not have it.
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT to_regclass('public.t')")).scalar_one() is None
    finally:
        engine.dispose()


def test_valkey_url_answers_and_is_emptied(valkey_server: ValkeyServer, valkey_url: str) -> None:
    r = redis.Redis.from_url(valkey_url)
    try:
        assert r.ping() is True
        assert r.dbsize() == 0
        info = r.info("server")
        # Valkey reports itself in server_name / valkey_version; Redis has neither.
        assert ("valkey_version" in info) == (valkey_server.kind == "valkey")
        r.set("leftover", "1")
    finally:
        r.close()


def test_valkey_url_starts_empty_again(valkey_url: str) -> None:
    r = redis.Redis.from_url(valkey_url)
    try:
        assert r.get("leftover") is None
    finally:
        r.close()


def test_private_valkey_restarts_on_the_same_port(private_valkey_server: ValkeyServer) -> None:
    srv = private_valkey_server
    r = redis.Redis.from_url(srv.url, socket_timeout=2, retry=None)
    try:
        r.set("k", "v")
        port = srv.port
        srv.stop()
        with pytest.raises(redis.ConnectionError):
            r.ping()
        srv.start()
        assert srv.port == port
        assert r.ping() is True
        assert r.get("k") is None  # no persistence: a restarted cache node comes back empty
    finally:
        r.close()


def test_private_pg_restarts_on_the_same_port_with_its_data(private_pg_server: PostgresServer) -> None:
    srv = private_pg_server
    dsn = {"host": srv.host, "port": srv.port, "user": srv.user, "dbname": "postgres"}
    with psycopg2.connect(**dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    srv.stop()
    assert not srv.running()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(**dsn, connect_timeout=2)
    srv.start()
    conn = psycopg2.connect(**dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT x FROM kept")
            assert cur.fetchone() == (42,)
    finally:
        conn.close()
