"""Several HealthMonitors writing into ONE PostgreSQL history store at once (issue 8).

Real parts only: the session PostgreSQL (a fresh database per test), the session Valkey as the probed target,
monitors in separate spawned processes and in threads. The retried flush is a real ambiguous commit: a loopback
TCP proxy in front of PostgreSQL forwards a monitor's COMMIT and then drops the server's reply, so the batch is
stored but the monitor sees a failed flush, keeps the samples and writes them again.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import socket
import threading
import time
from typing import Any

import pandas as pd
import sqlalchemy as sa

from vultr_toolkit.health import HealthMonitor
from vultr_toolkit.store import SAMPLE_DTYPES, HistoryStore

TICKS = 12


def monitor_process(store_url: str, target: str, monitor_id: str, barrier: Any) -> list[str]:
    """One monitor in its own process (spawned): probe ``target`` TICKS times, flushing small batches often."""
    with HealthMonitor(targets=[target], store=store_url, monitor_id=monitor_id, flush_rows=4,
                       flush_interval_s=0.05) as mon:
        barrier.wait(timeout=60)  # all three write at the same time
        df = mon.run(interval_s=0.02, count=TICKS, progress=False)
        stats = mon.close()
    assert stats["unflushed"] == 0 and stats["dropped"] == 0, stats
    return df["sample_id"].astype(str).tolist()


class LostCommitAckProxy:
    """Loopback TCP proxy to PostgreSQL that, while armed, forwards one COMMIT and swallows the server's reply
    (then cuts the connection): the transaction is committed, the client only sees a broken connection."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.lost_acks = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            state = {"commit_sent": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := src.recv(65536):
                if self.armed.is_set() and b"COMMIT\x00" in data:  # a simple-query 'COMMIT' message
                    state["commit_sent"] = True
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src, dst)

    def _down(self, src: socket.socket, dst: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := src.recv(65536):
                if state["commit_sent"]:
                    with self._lock:
                        if self.armed.is_set():
                            self.armed.clear()
                            self.lost_acks += 1
                            return  # the reply to COMMIT never reaches the client
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src, dst)

    def close(self) -> None:
        self.listener.close()


def _close(*socks: socket.socket) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()


def _count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM health_sample")).scalar_one())
    finally:
        engine.dispose()


def test_three_monitor_processes_share_one_store(pg_url: str, valkey_url: str) -> None:
    HistoryStore(pg_url).ensure_schema()
    ids = [f"proc-{i}" for i in range(3)]
    ctx = multiprocessing.get_context("spawn")
    with multiprocessing.Manager() as manager, \
            concurrent.futures.ProcessPoolExecutor(3, mp_context=ctx) as pool:
        barrier = manager.Barrier(3)
        futures = [pool.submit(monitor_process, pg_url, valkey_url, mid, barrier) for mid in ids]
        written = {mid: f.result(timeout=120) for mid, f in zip(ids, futures, strict=True)}

    hist = HistoryStore(pg_url).health_history()
    assert {c: str(t) for c, t in hist.dtypes.items()} == {c: str(pd.Series(dtype=t).dtype)
                                                           for c, t in SAMPLE_DTYPES.items()}
    # no duplicates, no lost samples: the store holds exactly the union of what the three monitors produced
    assert hist["sample_id"].is_unique
    assert set(hist["sample_id"]) == set().union(*written.values())
    assert len(hist) == 3 * TICKS * 2 == sum(len(v) for v in written.values())   # target + overall per tick
    # each sample is tagged with its monitor; health_history merges them in time order and filters by monitor
    for mid, sample_ids in written.items():
        mine = hist[hist["monitor_id"] == mid]
        assert set(mine["sample_id"]) == set(sample_ids)
        assert (mine["service"].astype(str).value_counts() == TICKS).all()
    assert hist["checked_at"].is_monotonic_increasing
    assert set(HistoryStore(pg_url).health_history(monitor_ids=["proc-1"])["sample_id"]) == set(written["proc-1"])


def test_monitor_threads_with_a_retried_ambiguous_flush(pg_url: str, valkey_url: str) -> None:
    HistoryStore(pg_url).ensure_schema()  # the schema's own COMMIT must not be the one the proxy swallows
    port = int(sa.engine.make_url(pg_url).port or 5432)
    proxy = LostCommitAckProxy(port)
    via_proxy = pg_url.replace(f":{port}/", f":{proxy.port}/")
    monitors = [HealthMonitor(targets=[valkey_url], store=via_proxy if i == 0 else pg_url, monitor_id=f"thr-{i}",
                              flush_rows=1000, flush_interval_s=60) for i in range(3)]
    try:
        assert monitors[0].store is not None
        monitors[0].store.ensure_schema()
        # 1. the lost acknowledgement: monitor 0's first flush commits, but it cannot know
        proxy.armed.set()
        first = monitors[0].check()
        assert proxy.lost_acks == 1 and len(first) == 2
        stats = monitors[0].stats()
        # (the writer thread may already be retrying after its 0.5 s backoff: count both places)
        assert stats["flush_failures"] == 1 and stats["written"] + stats["unflushed"] == 2
        assert _count(pg_url) == 2          # ... yet the batch IS stored: retrying it must not duplicate it

        # 2. all three monitors run at once; monitor 0's writer re-sends the ambiguous batch with its new samples
        for m in monitors:
            m.run(0.02, TICKS, None, True, progress=False)
        deadline = time.monotonic() + 60
        while any(m.running for m in monitors) and time.monotonic() < deadline:
            time.sleep(0.02)
        frames = [m.stop(timeout_s=60) for m in monitors]   # the runs are over: stop() flushes and returns them
        assert [len(f) for f in frames] == [2 * TICKS] * 3
        final = [m.close() for m in monitors]
    finally:
        for m in monitors:
            m.close()
        proxy.close()

    assert all(s["unflushed"] == 0 and s["dropped"] == 0 for s in final), final
    assert final[0]["written"] == 2 + 2 * TICKS          # the retried batch counted once, when it got through
    hist = HistoryStore(pg_url).health_history()
    expected = set(first["sample_id"]).union(*(set(f["sample_id"]) for f in frames))
    assert hist["sample_id"].is_unique and set(hist["sample_id"]) == expected
    assert len(hist) == 2 + 3 * 2 * TICKS
    assert hist["monitor_id"].astype(str).value_counts().to_dict() == {"thr-0": 2 + 2 * TICKS, "thr-1": 2 * TICKS,
                                                                       "thr-2": 2 * TICKS}
