"""Field report items 5 and 8: SIGTERM keeps the buffered samples; a hanging store cannot block stop()/close()."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from vultr_toolkit import Settings
from vultr_toolkit.health import HealthMonitor

DEAD_VALKEY = "redis://127.0.0.1:1/0"  # a closed loopback port: every probe fails fast, samples still come

CHILD = textwrap.dedent("""
    import sys, time
    from vultr_toolkit import Settings
    from vultr_toolkit.health import HealthMonitor
    from vultr_toolkit.health import monitor as m
    mon = HealthMonitor(Settings(), [sys.argv[2]], store=sys.argv[1], retries_before_down=0,
                        flush_interval_s=60, flush_rows=10_000)
    orig = mon._tick
    def tick():
        out = orig()
        for s in out:
            print(s.sample_id, flush=True)
        return out
    mon._tick = tick
    mon.run(interval_s=0.05, progress=False)
""")


def _sigterm_child(store_url: str, tmp_path: Path) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), store_url, DEAD_VALKEY], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    ids = [proc.stdout.readline().strip() for _ in range(20)]  # >= 20 samples taken, none flushed yet (60 s)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143
    return [i for i in ids + rest.split() if i]


def _stored_ids(url: str) -> set[str]:
    eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with eng.connect() as c:
            return {str(r[0]) for r in c.execute(sa.text("SELECT sample_id FROM health_sample"))}
    finally:
        eng.dispose()


def test_sigterm_writes_every_taken_sample_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    taken = _sigterm_child(url, tmp_path)
    assert len(taken) >= 20
    assert set(taken) <= _stored_ids(url)


def test_sigterm_writes_every_taken_sample_postgres(pg_url: str, tmp_path: Path) -> None:
    taken = _sigterm_child(pg_url, tmp_path)
    assert len(taken) >= 20
    assert set(taken) <= _stored_ids(pg_url)


class StallingProxy:
    """Loopback TCP proxy to PostgreSQL that can stop forwarding (a wedged server whose kernel still ACKs)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.stalled = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(self.target)
            self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                while self.stalled.is_set():
                    time.sleep(0.05)
                b.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.stalled.clear()
        for s in [self.sock, *self.conns]:
            s.close()


def test_stop_and_close_are_bounded_while_postgres_hangs(pg_url: str) -> None:
    u = sa.engine.make_url(pg_url)
    proxy = StallingProxy(u.host or "127.0.0.1", u.port or 5432)
    try:
        url = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        mon = HealthMonitor(Settings(), [DEAD_VALKEY], store=url, retries_before_down=0, store_timeout_s=1.0,
                            flush_rows=1)
        mon.check()  # schema created, store reachable
        proxy.stalled.set()
        mon.run(interval_s=0.1, background=True)
        time.sleep(1.0)
        ticks_before = mon.stats()["ticks"]
        time.sleep(1.0)
        assert mon.stats()["ticks"] > ticks_before  # still probing while the store hangs
        assert mon.stats()["stalled_s"] > 0  # and the stats say the write is hanging
        t0 = time.monotonic()
        df = mon.stop(timeout_s=5)
        stats = mon.close()
        assert time.monotonic() - t0 < 15  # used to block as long as the store hung (45 s measured)
        assert stats["unflushed"] > 0  # counted, not silently lost ...
        assert len(df) >= stats["unflushed"] - 1  # ... and in the returned frame
    finally:
        proxy.close()
