"""Real, throwaway PostgreSQL and Valkey/Redis servers for the test suite (loopback only).

Fixtures
--------
``pg_server``               session: one PostgreSQL cluster (initdb'd into a temp dir, fsync off). A
                            :class:`PostgresServer` with ``.url``, ``.port``, ``.version``, ``.stop()``,
                            ``.start()``, ``.restart()``. Don't stop it from a test: use ``private_pg_server``.
``pg_url``                  function: a fresh, empty database on ``pg_server`` as a SQLAlchemy URL string
                            ``postgresql+psycopg2://postgres@127.0.0.1:<port>/<db>``; dropped afterwards.
``private_pg_server``       function: a PostgreSQL cluster of this test's own (~1 s), free to stop/start mid-test;
                            ``.url`` points at its ``postgres`` database and stays valid across restarts.
``valkey_server``           session: one Valkey server (valkey-server if found, else redis-server). A
                            :class:`ValkeyServer` with ``.url``, ``.binary``, ``.kind``, ``.version``, ``.client()``.
``valkey_url``              function: ``redis://127.0.0.1:<port>/0`` on ``valkey_server``, FLUSHALL'd before the
                            test, so every test starts from an empty server.
``private_valkey_server``   function: a Valkey server of this test's own (~50 ms), free to ``.stop()``/``.start()``
                            on the same port mid-test (no persistence: a restart comes back empty).

A missing server binary is an ERROR, never a skip: the suite promises real servers.

Binary discovery (also used by ``scripts/test.sh`` via ``python -m tests.plugins.servers`` and by benchmarks):
``VTK_VALKEY_SERVER`` env var > ``.services/valkey/usr/bin/valkey-server`` (``scripts/install_services.sh``) >
``valkey-server`` on PATH > ``redis-server`` on PATH. PostgreSQL: ``VTK_PG_CTL`` env var > newest
``/usr/lib/postgresql/*/bin/pg_ctl`` > ``pg_ctl`` on PATH; as root it runs through
``scripts/pg_ctl_as_postgres`` (PostgreSQL refuses to run as root).

Example::

    def test_roundtrip(pg_url: str, valkey_url: str) -> None:
        engine = sqlalchemy.create_engine(pg_url)
        r = redis.Redis.from_url(valkey_url)

    def test_survives_restart(private_valkey_server: ValkeyServer) -> None:
        private_valkey_server.stop()
        ...
        private_valkey_server.start()
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import redis

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_CTL_WRAPPER = REPO_ROOT / "scripts" / "pg_ctl_as_postgres"
LOCAL_VALKEY = REPO_ROOT / ".services" / "valkey" / "usr" / "bin" / "valkey-server"
# Speed over durability: these clusters are thrown away.
PG_FAST_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c listen_addresses=127.0.0.1"
PG_DURABLE_OPTIONS = "-c listen_addresses=127.0.0.1"
HOST = "127.0.0.1"


class ServerMissingError(RuntimeError):
    """A server binary the suite needs is not installed (run scripts/test.sh as root, or install it)."""


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _version_line(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip().splitlines()[0]


# ---- binary discovery --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerBinary:
    """A discovered server executable: ``kind`` is "valkey", "redis" or "postgresql"."""

    path: str
    kind: str
    version: str  # the binary's own --version line

    def describe(self) -> str:
        return f"{self.kind}: {self.path} ({self.version})"


def find_valkey_server() -> ServerBinary:
    """Find valkey-server (preferred) or redis-server; raise :class:`ServerMissingError` when neither exists."""
    candidates = [os.environ.get("VTK_VALKEY_SERVER"), str(LOCAL_VALKEY) if LOCAL_VALKEY.exists() else None]
    candidates += [shutil.which("valkey-server"), shutil.which("redis-server")]
    for path in candidates:
        if not path:
            continue
        try:
            line = _version_line(path)
        except (OSError, subprocess.SubprocessError):
            continue
        return ServerBinary(path=path, kind="valkey" if "valkey" in line.lower() else "redis", version=line)
    raise ServerMissingError(
        "no valkey-server or redis-server found (tried $VTK_VALKEY_SERVER, .services/valkey, PATH); "
        "run scripts/install_services.sh as root or install one"
    )


def find_pg_ctl() -> ServerBinary:
    """Find the real pg_ctl (newest installed PostgreSQL); raise :class:`ServerMissingError` when missing."""
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_pg_dir_version, reverse=True)
    candidates = [os.environ.get("VTK_PG_CTL"), *installed, shutil.which("pg_ctl")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return ServerBinary(path=path, kind="postgresql", version=_version_line(path))
    raise ServerMissingError("no pg_ctl found; install the postgresql package (scripts/install_services.sh as root)")


def _pg_dir_version(path: str) -> int:
    with contextlib.suppress(ValueError, IndexError):
        return int(Path(path).parts[-3])
    return 0


def describe_servers() -> list[str]:
    """One line per server binary the suite will use (for report headers and scripts/test.sh)."""
    lines = []
    for finder in (find_valkey_server, find_pg_ctl):
        try:
            lines.append(finder().describe())
        except ServerMissingError as exc:
            lines.append(f"MISSING: {exc}")
    return lines


# ---- controllers -------------------------------------------------------------------------------------------------


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 that can be stopped and restarted on the same port.

    Built on pytest-postgresql's ``PostgreSQLExecutor`` (initdb + pg_ctl start/stop). As root, pg_ctl runs
    through ``scripts/pg_ctl_as_postgres`` as the ``postgres`` user.

    Example::

        with PostgresServer() as pg:
            engine = sqlalchemy.create_engine(pg.url)
    """

    def __init__(self, port: int | None = None, *, durable: bool = False) -> None:
        """``durable=True`` keeps PostgreSQL's crash-safety defaults (fsync, full-page writes, synchronous
        commit) for benchmarks that quote production-like numbers; tests use the fast, unsafe settings."""
        from pytest_postgresql.executors import PostgreSQLExecutor

        self.binary = find_pg_ctl()
        self.port = port or free_port()
        self.host = HOST
        self.user = "postgres"
        # mkdtemp (short path, 0700) rather than pytest's tmp tree: the wrapper chowns the parent to postgres.
        self._base = Path(tempfile.mkdtemp(prefix="vtk-pg-"))
        executable = str(PG_CTL_WRAPPER) if os.geteuid() == 0 else self.binary.path
        self._executor: Any = PostgreSQLExecutor(
            executable=executable,
            host=self.host,
            port=self.port,
            datadir=str(self._base / "data"),
            unixsocketdir=str(self._base),
            logfile=str(self._base / "postgresql.log"),
            startparams="-w",
            dbname="postgres",
            user=self.user,
            postgres_options=PG_DURABLE_OPTIONS if durable else PG_FAST_OPTIONS,
            timeout=60,
        )
        if os.environ.get("VTK_PG_CTL"):
            # The wrapper is also run by pg_ctl status/stop calls that don't take custom env: tell it via ours.
            os.environ.setdefault("PG_CTL_REAL", self.binary.path)
        self._counter = itertools.count(1)

    @property
    def version(self) -> str:
        return self.binary.version

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database (psycopg2 driver, per DESIGN.md)."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        self._executor.start()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        # mirakuru returns once the TCP port accepts, but PostgreSQL accepts while still "starting up" (FATAL on
        # connect): wait for a real session.
        import time

        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres",
                                 connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> PostgresServer:
        self._executor.stop()
        return self

    def restart(self) -> PostgresServer:
        return self.stop().start()

    def running(self) -> bool:
        return bool(self._executor.running())

    def close(self) -> None:
        """Stop the server and remove its data directory."""
        with contextlib.suppress(Exception):
            if self.running():
                self._executor.stop()
        shutil.rmtree(self._base, ignore_errors=True)

    def _admin_connect(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        return conn

    def create_database(self, prefix: str = "t") -> str:
        """Create a fresh empty database and return its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._counter)}"
        conn = self._admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def drop_database(self, name: str) -> None:
        conn = self._admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresServer(port={self.port}, version={self.version!r})"


class ValkeyServer:
    """A throwaway Valkey (or Redis) server on 127.0.0.1 that can be stopped and restarted on the same port.

    No persistence (``save ""``, no AOF): a restart comes back empty, like a crashed cache node.
    Built on mirakuru's ``TCPExecutor`` (the engine under pytest-redis), with our own flags.

    Example::

        with ValkeyServer() as srv:
            r = redis.Redis.from_url(srv.url)
    """

    def __init__(self, port: int | None = None, binary: ServerBinary | None = None,
                 password: str | None = None) -> None:
        from mirakuru import TCPExecutor

        self.binary = binary or find_valkey_server()
        self.port = port or free_port()
        self.host = HOST
        self.password = password
        self._dir = Path(tempfile.mkdtemp(prefix="vtk-valkey-"))
        # The password goes in a 0600 config file, not argv: argv shows in `ps` and in mirakuru's DEBUG log.
        conf = self._dir / "server.conf"
        conf.write_text(f"requirepass {password}\n" if password else "")
        conf.chmod(0o600)
        command = [
            self.binary.path,
            str(conf),
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self._dir),
            "--logfile", str(self._dir / "server.log"),
            "--databases", "16",
        ]  # fmt: skip
        self._executor: Any = TCPExecutor(command, host=self.host, port=self.port, timeout=30)

    @property
    def kind(self) -> str:
        return self.binary.kind

    @property
    def version(self) -> str:
        return self.binary.version

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (with ``:<password>@`` when the server requires one)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def client(self, db: int = 0, **kwargs: Any) -> redis.Redis:
        """A redis-py client for this server (``decode_responses`` etc. pass through)."""
        import redis

        kwargs.setdefault("password", self.password)
        return redis.Redis(host=self.host, port=self.port, db=db, **kwargs)

    def start(self) -> ValkeyServer:
        self._executor.start()
        return self

    def stop(self) -> ValkeyServer:
        self._executor.stop()
        return self

    def restart(self) -> ValkeyServer:
        return self.stop().start()

    def running(self) -> bool:
        return bool(self._executor.running())

    def close(self) -> None:
        """Stop the server and remove its directory."""
        with contextlib.suppress(Exception):
            self._executor.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ValkeyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ValkeyServer(port={self.port}, kind={self.kind!r}, version={self.version!r})"  # no password


# ---- pytest hooks and fixtures -----------------------------------------------------------------------------------


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"servers: {line}" for line in describe_servers()]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """Session-wide PostgreSQL; use ``pg_url`` for a fresh database, ``private_pg_server`` to restart one."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database on the session PostgreSQL, as a ``postgresql+psycopg2://`` URL."""
    if not pg_server.running():  # a test stopped the shared server: bring it back rather than fail the next ones
        pg_server.start()
    name = pg_server.create_database()
    try:
        yield pg_server.url_for(name)
    finally:
        with contextlib.suppress(Exception):
            pg_server.drop_database(name)


@pytest.fixture
def private_pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster owned by one test: stop/start/restart it freely (same port, same data)."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[ValkeyServer]:
    """Session-wide Valkey/Redis; use ``valkey_url`` for an emptied server, ``private_valkey_server`` to restart."""
    server = ValkeyServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def valkey_url(valkey_server: ValkeyServer) -> str:
    """``redis://127.0.0.1:<port>/0`` on the session server, emptied (FLUSHALL) before the test."""
    if not valkey_server.running():
        valkey_server.start()
    client = valkey_server.client()
    try:
        client.flushall()
    finally:
        client.close()
    return valkey_server.url


@pytest.fixture
def private_valkey_server() -> Iterator[ValkeyServer]:
    """A Valkey server owned by one test: stop/start/restart it freely on the same port (comes back empty).

    Need a password? ``ValkeyServer(password="sk-CANARY-...")`` as a context manager.
    """
    server = ValkeyServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


if __name__ == "__main__":  # `python -m tests.plugins.servers`: what scripts/test.sh prints
    lines = describe_servers()
    print("\n".join(lines))
    sys.exit(1 if any(line.startswith("MISSING") for line in lines) else 0)
