"""Fixtures of the canary scan: a sandbox keyed with the canary, a password-protected PostgreSQL role and Valkey."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.servers import PostgresServer, ValkeyServer
from vultr_toolkit.sandbox import Sandbox

from . import canary


@dataclass
class CanaryStack:
    sandbox: Sandbox
    pg_url: str          # postgresql+psycopg2://<role>:<canary>@127.0.0.1:<port>/<db>
    valkey_url: str      # redis://:<canary>@127.0.0.1:<port>/0 (requirepass)
    valkey_wrong_url: str

    def env(self, store_dir: Path) -> dict[str, str]:
        """Every VULTR_* variable set, secrets to canaries, pointing at the loopback sandbox and servers."""
        return {
            "VULTR_API_KEY": canary.API_KEY,
            "VULTR_API_URL": self.sandbox.api_url,
            "VULTR_INFERENCE_API_KEY": canary.INFERENCE_KEY,
            "VULTR_INFERENCE_URL": self.sandbox.inference_url,
            "VULTR_POSTGRES_URL": self.pg_url,
            "VULTR_VALKEY_URL": self.valkey_url,
            "VULTR_TOOLKIT_STORE": f"sqlite:///{store_dir / 'history.sqlite'}",
            "VULTR_TOOLKIT_SERVICE_TOKEN": canary.SERVICE_TOKEN,
            "MPLBACKEND": "Agg",
        }


@pytest.fixture(scope="module")
def canary_stack(pg_server: PostgresServer) -> Iterator[CanaryStack]:
    role = f"canary_{uuid.uuid4().hex[:8]}"
    conn = pg_server._admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (canary.PG_PASSWORD,))
            cur.execute(f"CREATE DATABASE {role} OWNER {role}")
    finally:
        conn.close()
    pg_url = f"postgresql+psycopg2://{role}:{canary.PG_PASSWORD}@127.0.0.1:{pg_server.port}/{role}"
    valkey = ValkeyServer(password=canary.VALKEY_PASSWORD)
    sb = Sandbox(seed=0, api_key=canary.API_KEY, rate_limit=None, inference={"time_scale": 0.05})
    # The inference half accepts the canary too, so every authenticated path carries it on the wire.
    sb.inference.api_key = canary.INFERENCE_KEY
    try:
        valkey.start()
        sb.start()
        yield CanaryStack(sb, pg_url, f"redis://:{canary.VALKEY_PASSWORD}@127.0.0.1:{valkey.port}/0",
                          f"redis://:{canary.WRONG_KEY}@127.0.0.1:{valkey.port}/0")
    finally:
        sb.stop()
        valkey.close()
        with contextlib.suppress(Exception):
            pg_server.drop_database(role)
            conn = pg_server._admin_connect()
            with conn.cursor() as cur:
                cur.execute(f"DROP ROLE IF EXISTS {role}")
            conn.close()
