"""The monitor's buffered sample writer: probes never wait for the store (research R14, R22).

Samples are queued in memory and written in one batched transaction every ``flush_rows`` samples or
``flush_interval_s`` seconds, by a background thread. When the store is unreachable, samples stay queued — up to
``max_buffer``; past that the *oldest* are dropped and counted — and the thread retries with capped backoff, so
everything queued is written once the store is back. Retrying a batch whose commit outcome was unknown is safe:
the store ignores samples whose ``sample_id`` it already holds.

Every write happens on the writer thread; callers only *wait* for it, for a bounded time (``flush(timeout_s=)``,
``close(timeout_s=)``). A store that hangs (a stopped server, a dead TCP peer that still ACKs) can therefore never
block a probe loop, ``stop()`` or ``close()``: what could not be written is counted in ``stats()["unflushed"]``
(queued plus the batch stuck in flight), ``stalled_s`` shows how long the current write has been hanging, and the
samples themselves stay in the monitor's returned frame. Nothing is silently lost; only samples past
``max_buffer`` are dropped, and those are counted in ``dropped``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

from .._errors import VultrToolkitError
from .._redact import redact
from ..store.core import HistoryStore
from ..store.samples import samples_frame
from .sample import Sample

__all__ = ["SampleWriter"]

log = logging.getLogger("vultr_toolkit.health")


class SampleWriter:
    """Queue samples and write them to ``store`` from a background thread.

    >>> w = SampleWriter(HistoryStore("sqlite://"), flush_rows=2)
    >>> w.add([]); w.close()["unflushed"]
    0
    """

    def __init__(self, store: HistoryStore, *, flush_rows: int = 200, flush_interval_s: float = 5.0,
                 max_buffer: int = 100_000, max_backoff_s: float = 30.0) -> None:
        if flush_rows < 1 or flush_interval_s <= 0 or max_buffer < 1:
            raise ValueError("flush_rows and max_buffer must be >= 1 and flush_interval_s > 0")
        self.store = store
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.max_backoff_s = max_backoff_s
        self._buf: collections.deque[Sample] = collections.deque()
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()  # one write at a time (thread or explicit flush)
        self._stop = False
        self._flush_requested = False
        self._inflight = 0  # samples in the write the thread is doing now (not in _buf, not yet written)
        self._inflight_since: float | None = None
        self._thread: threading.Thread | None = None
        self._failures_in_a_row = 0
        self._retry_at = 0.0
        self._last_flush = time.monotonic()
        self._stats: dict[str, Any] = {"written": 0, "dropped": 0, "flushes": 0, "flush_failures": 0,
                                       "last_error": None}

    # --- producer side --------------------------------------------------------------------------------------
    def add(self, samples: list[Sample]) -> None:
        """Queue samples (never blocks on the store); starts the writer thread on first use."""
        if not samples:
            return
        with self._cond:
            self._buf.extend(samples)
            overflow = len(self._buf) - self.max_buffer
            if overflow > 0:
                for _ in range(overflow):
                    self._buf.popleft()
                self._stats["dropped"] += overflow
            self._ensure_thread()
            if len(self._buf) >= self.flush_rows:
                self._cond.notify_all()

    def _ensure_thread(self) -> None:  # caller holds _cond
        if self._thread is None and not self._stop:
            self._thread = threading.Thread(target=self._loop, name="vtk-health-writer", daemon=True)
            self._thread.start()

    @property
    def pending(self) -> int:
        """Samples queued or being written, and not yet written."""
        with self._cond:
            return len(self._buf) + self._inflight

    def stats(self) -> dict[str, Any]:
        """written, dropped (past max_buffer), unflushed (queued + in flight), flushes, flush_failures,
        last_error (redacted), stalled_s (how long the current write has been running; 0 when idle)."""
        with self._cond:
            since = self._inflight_since
            return {**self._stats, "unflushed": len(self._buf) + self._inflight,
                    "stalled_s": round(time.monotonic() - since, 3) if since is not None else 0.0}

    # --- writing ---------------------------------------------------------------------------------------------
    def flush(self, timeout_s: float | None = None) -> bool:
        """Write everything queued now; False (samples kept queued) if the store failed or, with ``timeout_s``,
        did not finish in time.

        ``timeout_s=None`` writes in the calling thread (and blocks as long as the store does); with a timeout
        the writer thread does the write and the caller waits at most ``timeout_s`` — what the monitor uses.
        """
        if timeout_s is None:
            return self._write_now()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            if not self._buf and not self._inflight:
                return True
            failures = self._stats["flush_failures"]
            self._flush_requested = True
            self._retry_at = 0.0  # an explicit flush retries now rather than after the backoff
            self._ensure_thread()
            self._cond.notify_all()
            while self._buf or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0 or self._stats["flush_failures"] != failures or self._thread is None:
                    return False
                self._cond.wait(left)
            return True

    def _write_now(self) -> bool:
        with self._flush_lock:
            with self._cond:
                batch = list(self._buf)
                self._buf.clear()
                self._flush_requested = False
                self._inflight = len(batch)
                self._inflight_since = time.monotonic() if batch else None
            if not batch:
                return True
            try:
                self.store.write_samples(samples_frame(batch))
            except Exception as e:
                self._requeue(batch, e)
                return False
            with self._cond:
                self._inflight, self._inflight_since = 0, None
                self._cond.notify_all()
                self._stats["written"] += len(batch)
                self._stats["flushes"] += 1
                if self._failures_in_a_row:
                    log.warning("history store %s is back: wrote %d queued samples", self.store.url, len(batch))
                self._failures_in_a_row = 0
                self._retry_at = 0.0
            return True

    def _requeue(self, batch: list[Sample], exc: Exception) -> None:
        msg = exc.message if isinstance(exc, VultrToolkitError) else redact(f"{type(exc).__name__}: {exc}")
        with self._cond:
            self._inflight, self._inflight_since = 0, None
            self._cond.notify_all()
            # Back in front of anything queued meanwhile, keeping order; the bound still holds (oldest go first).
            self._buf.extendleft(reversed(batch))
            overflow = len(self._buf) - self.max_buffer
            for _ in range(max(0, overflow)):
                self._buf.popleft()
            self._stats["dropped"] += max(0, overflow)
            self._stats["flush_failures"] += 1
            self._stats["last_error"] = msg
            self._failures_in_a_row += 1
            backoff = min(self.max_backoff_s, 0.5 * 2 ** min(self._failures_in_a_row - 1, 10))
            self._retry_at = time.monotonic() + backoff
            first = self._failures_in_a_row == 1
        if first:  # once per outage, not once per retry
            log.warning("history store unreachable; keeping up to %d samples in memory and retrying: %s",
                        self.max_buffer, msg)

    def _due(self) -> bool:
        if not self._buf or time.monotonic() < self._retry_at:
            return False
        if self._flush_requested:
            return True
        return len(self._buf) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_interval_s

    def _loop(self) -> None:
        self._last_flush = time.monotonic()
        while True:
            with self._cond:
                while not self._stop and not self._due():
                    wait = self.flush_interval_s - (time.monotonic() - self._last_flush)
                    if self._retry_at:
                        wait = min(max(wait, self._retry_at - time.monotonic()), self.max_backoff_s)
                    self._cond.wait(timeout=max(0.05, wait))
                stopping = self._stop
            if stopping:  # the final attempt, made here so that close() can wait for it with a bound
                self._retry_at = 0.0
                self._write_now()
                with self._cond:
                    self._cond.notify_all()
                return
            try:
                self._write_now()
            except Exception:  # never let the writer die: the monitor depends on it
                log.exception("health sample writer failed unexpectedly")
            self._last_flush = time.monotonic()

    def close(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """Stop the thread after one final write attempt, waiting at most ``timeout_s``, and return
        :meth:`stats` (``unflushed`` > 0: the store was unreachable or hanging; those samples are counted and
        stay in the monitor's frames, not silently lost). A write still hanging is abandoned to its daemon
        thread."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        else:
            self._write_now()  # no thread ever started: nothing can be hanging, so write here
        stats = self.stats()
        if stats["unflushed"] or stats["dropped"]:
            log.warning("health sample writer closed with %d samples not written and %d dropped (store %s: %s)",
                        stats["unflushed"], stats["dropped"], self.store.url, stats["last_error"])
        return stats

    def restart(self) -> None:
        """Allow a closed writer to be used again (the monitor's ``run`` after ``stop``)."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                # A write is still hanging from before close(): let it go on, it owns its batch.
                log.warning("health sample writer: a previous write is still hanging; starting a new thread")
            self._thread = None
            self._stop = False
