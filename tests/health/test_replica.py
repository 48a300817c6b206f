"""The PostgreSQL probe on a real streaming replica: is_replica and replication_lag_s."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.plugins.servers import PostgresServer, find_pg_ctl, free_port
from vultr_toolkit.health import probe_postgres


@pytest.fixture
def replica_url(private_pg_server: PostgresServer) -> Iterator[str]:
    """A hot standby of ``private_pg_server`` (pg_basebackup -R, streaming), on its own port."""
    bindir = Path(find_pg_ctl().path).parent
    base = Path(tempfile.mkdtemp(prefix="vtk-replica-"))
    data, port = base / "data", free_port()
    as_pg: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    primary = private_pg_server
    subprocess.run([*as_pg, str(bindir / "pg_basebackup"), "-h", primary.host, "-p", str(primary.port),
                    "-U", "postgres", "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast"],
                   check=True, timeout=120, cwd="/", capture_output=True)
    pg_ctl = [*as_pg, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-l", str(base / "log"), "-w", "-o",
                    f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, timeout=120, cwd="/", capture_output=True)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], timeout=60, cwd="/", capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_replica_reports_replication_lag(private_pg_server: PostgresServer, replica_url: str) -> None:
    primary = probe_postgres(private_pg_server.url)
    assert primary.details["is_replica"] is False and primary.details["replication_lag_s"] is None
    engine = sa.create_engine(private_pg_server.url)
    with engine.begin() as conn:  # something to replay, so the standby has a last replayed transaction
        conn.exec_driver_sql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    engine.dispose()
    standby = sa.create_engine(replica_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the standby has replayed it (a new session each time)
        with standby.connect() as conn:
            if conn.exec_driver_sql("SELECT to_regclass('t') IS NOT NULL").scalar():
                break
        time.sleep(0.05)
    standby.dispose()
    s = probe_postgres(replica_url)
    assert s.status == "up", s.message
    assert s.details["is_replica"] is True
    lag = s.details["replication_lag_s"]
    assert isinstance(lag, float) and lag >= 0
