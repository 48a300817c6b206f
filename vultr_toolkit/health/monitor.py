"""HealthMonitor: probe every target at an interval, record samples, survive anything.

Per tick every target is probed in parallel (each probe bounded by its timeout), then:

* a target is reported ``down`` only after ``retries_before_down`` + 1 consecutive failures; the failures before
  that are ``degraded`` samples with ``details["pending"] = true`` (Uptime Kuma's PENDING), so one lost packet
  is not an outage;
* samples inside a maintenance window become ``maintenance`` (excluded from uptime by
  :func:`vultr_toolkit.health.summarize`);
* an ``overall`` row sums the tick up — the original integration's ``checkVultrHealth()`` shape
  (postgres, valkey, inference, overall): down if any target is down, degraded if any is degraded; its
  ``latency_ms`` is the tick's wall time (the probes run in parallel) and ``details`` counts targets by status.

With a ``store``, samples go through a :class:`~vultr_toolkit.health.writer.SampleWriter` (buffered, batched,
bounded, retried): a slow or unreachable store delays the history, never the probes. ``check()``, ``stop()``
and ``close()`` wait at most ``store_timeout_s`` for the store, so a hanging store cannot make them hang.

Termination: a monitor with a store makes SIGTERM exit through the normal interpreter shutdown (``SystemExit``,
status 143) when the process has not installed its own SIGTERM handler, so the exit-time close writes the
queued samples. SIGKILL cannot be caught: it loses what is queued, at most ``flush_rows`` samples or
``flush_interval_s`` seconds of them (lower those to lose less). The buffer is deliberately not made durable
(a disk write per tick would put the store's latency back on the probe path, which the buffer exists to avoid).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import datetime as dt
import logging
import os
import secrets
import signal
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal, overload

import pandas as pd

from .._errors import ConfigError
from .._settings import DEFAULT_INFERENCE_URL, Settings
from ..store.core import HistoryStore, as_store
from ..store.samples import samples_frame
from .probes import (
    DEFAULT_TIMEOUT_S,
    APIProbe,
    InferenceProbe,
    PostgresProbe,
    Probe,
    Sample,
    ValkeyProbe,
)
from .writer import SampleWriter

__all__ = ["HealthMonitor", "MaintenanceWindow", "default_probes", "probe_for"]

log = logging.getLogger("vultr_toolkit.health")

# A window: (start, end) for every target, or (start, end, [service or target names]).
MaintenanceWindow = tuple[Any, Any] | tuple[Any, Any, Sequence[str]]


def probe_for(target: str | Probe, settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Probe:
    """A probe for a target given as a Probe, a URL, or a name of a configured service.

    Names: ``"postgres"``, ``"valkey"``, ``"inference"``, ``"api"`` (from ``settings``). URLs: ``postgresql://``
    → PostgreSQL, ``redis://``/``rediss://``/``valkey://`` → Valkey, ``http(s)://`` → an OpenAI-compatible
    inference endpoint (with ``settings``' inference key when it is the configured endpoint).

    >>> probe_for("redis://127.0.0.1:6379/0", Settings()).service
    'valkey'
    """
    if isinstance(target, Probe):
        return target
    name = target.strip()
    if name in ("postgres", "postgresql"):
        if settings.postgres_url is None:
            raise ConfigError("target 'postgres' needs VULTR_POSTGRES_URL (or pass the URL itself)")
        return PostgresProbe(settings.postgres_url.get_secret_value(), timeout_s=timeout_s)
    if name == "valkey":
        if settings.valkey_url is None:
            raise ConfigError("target 'valkey' needs VULTR_VALKEY_URL (or pass the URL itself)")
        return ValkeyProbe(settings.valkey_url.get_secret_value(), timeout_s=timeout_s)
    if name == "inference":
        return InferenceProbe.from_settings(settings, timeout_s=timeout_s)
    if name == "api":
        return APIProbe.from_settings(settings, timeout_s=timeout_s)
    scheme = name.split("://", 1)[0].lower() if "://" in name else ""
    if scheme.startswith("postgres"):
        return PostgresProbe(name, timeout_s=timeout_s)
    if scheme in ("redis", "rediss", "valkey", "valkeys", "unix"):
        return ValkeyProbe(name, timeout_s=timeout_s)
    if scheme in ("http", "https"):
        key = settings.secret("inference_api_key") if name.rstrip("/") == settings.inference_url else None
        return InferenceProbe(name, key, timeout_s=timeout_s)
    raise ConfigError(f"cannot tell what to probe from target {name[:60]!r}: give a postgresql://, redis:// or "
                      "http(s):// URL, one of 'postgres', 'valkey', 'inference', 'api', or a Probe")


def default_probes(settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Probe]:
    """The targets ``settings`` configures: PostgreSQL and Valkey when their URLs are set, the inference endpoint
    when a key or a non-default URL is set, the Vultr API when an API key is set."""
    probes: list[Probe] = []
    if settings.postgres_url is not None:
        probes.append(probe_for("postgres", settings, timeout_s=timeout_s))
    if settings.valkey_url is not None:
        probes.append(probe_for("valkey", settings, timeout_s=timeout_s))
    if settings.inference_api_key is not None or settings.inference_url != DEFAULT_INFERENCE_URL:
        probes.append(probe_for("inference", settings, timeout_s=timeout_s))
    if settings.api_key is not None:
        probes.append(probe_for("api", settings, timeout_s=timeout_s))
    return probes


def _default_monitor_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


_RANK = {"up": 0, "maintenance": 0, "degraded": 1, "down": 2}


class HealthMonitor:
    """Probe PostgreSQL, Valkey, the inference endpoint and the Vultr API; keep and store the samples.

    ``settings``: where the targets come from (default ``Settings()``). ``targets``: URLs, names or
    :class:`~vultr_toolkit.health.probes.Probe` objects instead of the configured ones. ``store``: a
    :class:`~vultr_toolkit.store.HistoryStore` or URL to record into (None: keep samples in memory only).

    Example::

        mon = vt.HealthMonitor(sb.settings(), store="sqlite:///health.sqlite")
        mon.check()                                    # one row per target + overall
        df = mon.run(interval_s=0.5, count=3)          # samples of this run
        mon.run(interval_s=30, background=True)        # returns at once; mon.stop() -> samples
    """

    def __init__(self, settings: Settings | None = None, targets: Sequence[str | Probe] | None = None,
                 store: HistoryStore | str | None = None, *, retries_before_down: int = 2,
                 timeout_s: float = DEFAULT_TIMEOUT_S, maintenance: Sequence[MaintenanceWindow] = (),
                 flush_rows: int = 200, flush_interval_s: float = 5.0, max_buffer: int = 100_000,
                 keep: int = 100_000, monitor_id: str | None = None, store_timeout_s: float = 5.0) -> None:
        if not store_timeout_s > 0:
            raise ConfigError(f"store_timeout_s must be positive seconds, got {store_timeout_s!r}")
        self.store_timeout_s = store_timeout_s
        self.settings = settings or Settings()
        if retries_before_down < 0:
            raise ConfigError(f"retries_before_down must be >= 0, got {retries_before_down}")
        self.probes: list[Probe] = ([probe_for(t, self.settings, timeout_s=timeout_s) for t in targets]
                                    if targets is not None else default_probes(self.settings, timeout_s=timeout_s))
        if not self.probes:
            raise ConfigError("nothing to monitor: set VULTR_POSTGRES_URL, VULTR_VALKEY_URL, VULTR_INFERENCE_API_KEY "
                              "or VULTR_API_KEY, or pass targets=[...]")
        self.retries_before_down = retries_before_down
        self.monitor_id = monitor_id or _default_monitor_id()
        self.maintenance = [self._window(w) for w in maintenance]
        self.store: HistoryStore | None = as_store(store) if store is not None else None
        self._owns_store = store is not None and not isinstance(store, HistoryStore)  # made from a URL: ours
        self._writer = (SampleWriter(self.store, flush_rows=flush_rows, flush_interval_s=flush_interval_s,
                                     max_buffer=max_buffer) if self.store is not None else None)
        self._failures: dict[int, int] = {}
        self._kept: deque[Sample] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(self.probes),
                                                           thread_name_prefix="vtk-health")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Bounded like _kept: a background run without a count lasts for weeks, and an unbounded list here grew
        # the process by every sample it ever took (found by scripts/soak.py).
        self._run_samples: deque[Sample] = deque(maxlen=keep)
        self._ticks = 0
        self._closed = False
        atexit.register(_close_at_exit, weakref.ref(self))
        if self._writer is not None:
            _exit_cleanly_on_sigterm()

    def __repr__(self) -> str:
        targets = ", ".join(f"{p.service}:{p.target}" for p in self.probes)
        return f"HealthMonitor([{targets}], store={self.store.url if self.store else None!r})"

    # --- one tick ------------------------------------------------------------------------------------------------
    @staticmethod
    def _window(w: MaintenanceWindow) -> tuple[pd.Timestamp, pd.Timestamp, frozenset[str] | None]:
        start = pd.Timestamp(w[0])
        end = pd.Timestamp(w[1])
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
        names = frozenset(w[2]) if len(w) > 2 else None
        return start, end, names

    def _in_maintenance(self, s: Sample) -> bool:
        at = pd.Timestamp(s.checked_at)
        return any(start <= at < end and (names is None or s.service in names or s.target in names)
                   for start, end, names in self.maintenance)

    def _apply_state(self, i: int, s: Sample) -> Sample:
        """Consecutive-failure accounting (pending before down) and maintenance windows."""
        if s.status == "down":
            n = self._failures.get(i, 0) + 1
            self._failures[i] = n
            s.details = {**s.details, "consecutive_failures": n}
            if n <= self.retries_before_down:
                s.status = "degraded"
                s.details["pending"] = True
                s.message = f"pending ({n} of {self.retries_before_down + 1} failures before down): {s.message}"
        else:
            self._failures[i] = 0
        if self.maintenance and self._in_maintenance(s):
            s.details = {**s.details, "probe_status": s.status}
            s.status = "maintenance"
        s.monitor_id = self.monitor_id
        return s

    def _overall(self, started: dt.datetime, samples: list[Sample], elapsed_ms: float) -> Sample:
        counts = {k: sum(1 for s in samples if s.status == k) for k in ("up", "degraded", "down", "maintenance")}
        active = [s for s in samples if s.status != "maintenance"]
        status = max((s.status for s in active), key=_RANK.__getitem__) if active else "maintenance"
        bad = [f"{s.service} {s.status}" for s in samples if s.status in ("down", "degraded")]
        return Sample(checked_at=started, service="overall", target="overall", status=status,
                      latency_ms=round(elapsed_ms, 3), message="; ".join(bad) or None,
                      details={**counts, "targets": len(samples)}, monitor_id=self.monitor_id)

    def _tick(self) -> list[Sample]:
        started = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        futures = [self._pool.submit(p.check) for p in self.probes]
        samples = []
        for probe, fut in zip(self.probes, futures, strict=True):
            try:
                s = fut.result()
            except Exception as e:  # Probe.check never raises; a custom probe might
                s = Sample(checked_at=started, service=probe.service, target=probe.target, status="down",
                           error_kind=type(e).__name__, message=f"probe crashed: {e}")
            samples.append(s)
        with self._lock:
            samples = [self._apply_state(i, s) for i, s in enumerate(samples)]
            samples.append(self._overall(started, samples, (time.perf_counter() - t0) * 1000))
            self._kept.extend(samples)
            self._ticks += 1
        if self._writer is not None:
            self._writer.add(samples)
        return samples

    def check(self) -> pd.DataFrame:
        """Probe every target once: one row per target plus an ``overall`` row (recorded like any tick).

        >>> vt.HealthMonitor(sb.settings()).check()[["service", "status"]]
             service status
        0  inference     up
        1        api     up
        2    overall     up
        """
        samples = self._tick()
        if self._writer is not None:
            # A one-off check should be in the store when it returns (if the store is up), but a hanging store
            # must not stop the caller from probing again: wait a bounded time, the writer keeps the samples.
            self._writer.flush(timeout_s=self.store_timeout_s)
        return samples_frame(samples)

    # --- loops ---------------------------------------------------------------------------------------------------
    def _loop(self, interval_s: float, count: int | None, duration_s: float | None, progress: bool) -> None:
        bar = None
        if progress and count is not None and count * interval_s > 2:
            from tqdm.auto import tqdm

            bar = tqdm(total=count, desc="health checks", unit="tick")
        start = time.monotonic()
        n = 0
        try:
            while not self._stop.is_set():
                try:
                    self._run_samples.extend(self._tick())
                except Exception:  # survive anything: log it and keep the clock going
                    log.exception("health monitor tick failed")
                n += 1
                if bar is not None:
                    bar.update(1)
                if count is not None and n >= count:
                    break
                now = time.monotonic()
                if duration_s is not None and now - start >= duration_s:
                    break
                # The next slot on the fixed grid start + k*interval; slots missed by a slow tick are skipped.
                k = int((now - start) // interval_s) + 1
                wait = start + k * interval_s - now
                if duration_s is not None:
                    wait = min(wait, max(0.0, start + duration_s - now))
                if self._stop.wait(wait):
                    break
                if duration_s is not None and time.monotonic() - start >= duration_s:
                    break
        finally:
            if bar is not None:
                bar.close()

    @overload
    def run(self, interval_s: float = ..., count: int | None = ..., duration_s: float | None = ...,
            background: Literal[False] = ..., *, progress: bool = ...) -> pd.DataFrame: ...

    @overload
    def run(self, interval_s: float, count: int | None, duration_s: float | None, background: Literal[True], *,
            progress: bool = ...) -> HealthMonitor: ...

    @overload
    def run(self, interval_s: float = ..., count: int | None = ..., duration_s: float | None = ..., *,
            background: Literal[True], progress: bool = ...) -> HealthMonitor: ...

    def run(self, interval_s: float = 30.0, count: int | None = None, duration_s: float | None = None,
            background: bool = False, *, progress: bool = True) -> pd.DataFrame | HealthMonitor:
        """Probe every ``interval_s`` seconds, ``count`` times or for ``duration_s`` seconds (forever if neither).

        Foreground: returns this run's samples (Ctrl-C / KeyboardInterrupt stops early and still returns them).
        ``background=True``: returns the monitor at once; the loop runs in a daemon thread until :meth:`stop`,
        which returns the samples. Either way the frame's ``attrs["monitor"]`` holds :meth:`stats`.

        >>> df = vt.HealthMonitor(sb.settings()).run(interval_s=0.05, count=3)
        >>> df.groupby("service", observed=True)["status"].size().to_dict()
        {'api': 3, 'inference': 3, 'overall': 3}
        """
        if not interval_s > 0:
            raise ConfigError(f"interval_s must be positive, got {interval_s!r}")
        if self._closed:
            raise ConfigError("this monitor is closed; create a new HealthMonitor")
        if self.running:
            raise ConfigError("this monitor is already running in the background; call stop() first")
        if self._writer is not None:
            self._writer.restart()
        self._stop.clear()
        self._run_samples = deque(maxlen=self._kept.maxlen)
        if background:
            self._thread = threading.Thread(target=self._loop, args=(interval_s, count, duration_s, False),
                                            name="vtk-health-monitor", daemon=True)
            self._thread.start()
            return self
        try:
            self._loop(interval_s, count, duration_s, progress)
        except KeyboardInterrupt:
            log.info("health monitor interrupted; returning the samples so far")
        return self._finish()

    @property
    def running(self) -> bool:
        """True while a background run is active."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float | None = None) -> pd.DataFrame:
        """Stop a background run (waits for the current tick), flush the store, return the run's samples.

        Waits at most ``timeout_s`` in all (default: ``store_timeout_s`` for the store after the tick); samples
        the store did not take in time are in the returned frame and counted in ``attrs["monitor"]["unflushed"]``.
        """
        deadline = time.monotonic() + timeout_s if timeout_s is not None else None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        left = self.store_timeout_s if deadline is None else max(0.0, deadline - time.monotonic())
        return self._finish(left)

    def _finish(self, store_timeout_s: float | None = None) -> pd.DataFrame:
        if self._writer is not None:
            self._writer.flush(timeout_s=self.store_timeout_s if store_timeout_s is None else store_timeout_s)
        df = samples_frame(self._run_samples)
        df.attrs["monitor"] = self.stats()
        return df

    # --- state ---------------------------------------------------------------------------------------------------
    def samples(self) -> pd.DataFrame:
        """Every sample kept in memory (the last ``keep``), across runs and checks."""
        with self._lock:
            kept = list(self._kept)
        return samples_frame(kept)

    def stats(self) -> dict[str, Any]:
        """Counters: ticks, samples kept, and the writer's written / unflushed / dropped / flush_failures /
        last_error (when a store is attached)."""
        out: dict[str, Any] = {"monitor_id": self.monitor_id, "ticks": self._ticks, "kept": len(self._kept)}
        if self._writer is not None:
            out.update(self._writer.stats())
        return out

    def close(self) -> dict[str, Any]:
        """Stop any background run, write what is queued (one final attempt), release connections; returns
        :meth:`stats` — ``unflushed``/``dropped`` say what could not be stored."""
        if self._closed:
            return self.stats()
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.store_timeout_s + 60.0)  # a tick is bounded by the probes' timeouts
            self._thread = None
        if self._writer is not None:
            self._writer.close(timeout_s=self.store_timeout_s)
        if self._owns_store and self.store is not None:
            self.store.close()
        self._pool.shutdown(wait=False)
        for p in self.probes:
            try:
                p.close()
            except Exception:
                log.debug("closing probe %r failed", p, exc_info=True)
        return self.stats()

    def __enter__(self) -> HealthMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sigterm_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds like sys.exit: finally blocks, context managers and atexit run


def _exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the atexit close writes the queued samples (the default action kills the
    process without running atexit). Only from the main thread, and only when nobody installed a handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _sigterm_exit)


def _close_at_exit(ref: weakref.ref[HealthMonitor]) -> None:
    mon = ref()
    if mon is not None and not mon._closed:
        with contextlib.suppress(Exception):  # interpreter shutdown: best effort only
            mon.close()
