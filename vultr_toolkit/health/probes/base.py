"""The :class:`Probe` base class: a check of one target that never raises and never overruns its deadline.

A probe never takes longer than ``timeout_s`` + 10 %: the blocking work (:meth:`Probe._check`) runs in a daemon
thread and the caller stops waiting at the deadline (a down sample with ``error_kind="timeout"``); while that
thread is still stuck, the next check of the same probe fails fast instead of piling up threads.

Adding a probe means adding one module beside this one: a ``Probe`` subclass with a ``service`` name and a
``_check`` returning a :class:`~vultr_toolkit.health.sample.ProbeOutcome` (raise on failure), plus, if wanted, a
one-shot ``probe_x`` function built on :func:`check_once`; then re-export it from ``probes/__init__.py``.

>>> from vultr_toolkit.health.probes.base import Probe, ProbeOutcome
>>> class Always(Probe):
...     service = "always"
...     def _check(self) -> ProbeOutcome:
...         return ProbeOutcome(latency_ms=0.1, details={"answer": 42})
>>> s = check_once(Always("anything", timeout_s=1))
>>> s.service, s.status, s.details
('always', 'up', {'answer': 42})
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ..._errors import ConfigError
from ..._redact import check_url_userinfo
from ..classify import classify, display_target, failure_message
from ..sample import ProbeOutcome, Sample

__all__ = ["DEFAULT_TIMEOUT_S", "Probe", "ProbeOutcome", "Sample", "check_once", "elapsed_ms"]

DEFAULT_TIMEOUT_S = 5.0


class Probe(ABC):
    """A health check of one target. :meth:`check` never raises and returns within ``timeout_s`` + 10 %.

    Subclasses implement :meth:`_check` (may raise; the base class turns exceptions into down samples).
    """

    service: ClassVar[str] = "custom"

    def __init__(self, target: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise ConfigError(f"timeout_s must be positive, got {timeout_s!r}")
        self.target = display_target(check_url_userinfo(target, "the probe URL")) if "://" in target else target
        self.timeout_s = float(timeout_s)
        self._busy: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r}, timeout_s={self.timeout_s})"

    @abstractmethod
    def _check(self) -> ProbeOutcome:
        """Do the blocking work; raise on failure."""

    def close(self) -> None:  # noqa: B027 - optional hook: most probes hold nothing
        """Release connections held between checks."""

    def _sample(self, started: dt.datetime, status: str, *, latency_ms: float | None = None,
                error_kind: str | None = None, message: str | None = None,
                details: dict[str, Any] | None = None) -> Sample:
        return Sample(checked_at=started, service=self.service, target=self.target, status=status,
                      latency_ms=latency_ms, error_kind=error_kind, message=message, details=details or {})

    def check(self) -> Sample:
        """Run the probe once: one :class:`Sample` (status up, degraded or down), never an exception."""
        started = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        with self._lock:
            if self._busy is not None and self._busy.is_alive():
                return self._sample(started, "down", error_kind="timeout",
                                    message=f"{self.service} probe of {self.target}: the previous check is still "
                                            f"blocked after {self.timeout_s:g}s; not starting another")
            box: dict[str, Any] = {}

            def work() -> None:
                try:
                    box["outcome"] = self._check()
                except BaseException as e:
                    box["error"] = e

            worker = threading.Thread(target=work, name=f"vtk-probe-{self.service}", daemon=True)
            self._busy = worker
            worker.start()
        # 5 % headroom for the thread start and the sample itself keeps the whole call under timeout + 10 %.
        worker.join(max(0.0, self.timeout_s * 1.05 - (time.monotonic() - t0)))
        if worker.is_alive():
            return self._sample(started, "down", error_kind="timeout",
                                message=f"{self.service} probe of {self.target} gave no answer within "
                                        f"{self.timeout_s:g}s")
        if "error" in box:
            exc = box["error"]
            return self._sample(started, "down", error_kind=classify(exc), message=failure_message(exc),
                                details={"elapsed_ms": round((time.monotonic() - t0) * 1000, 3)})
        out: ProbeOutcome = box["outcome"]
        return self._sample(started, out.status, latency_ms=out.latency_ms, message=out.message,
                            details=out.details)


def elapsed_ms(t0: float) -> float:
    """Milliseconds since ``t0`` (a ``time.perf_counter()`` reading), rounded to µs."""
    return round((time.perf_counter() - t0) * 1000, 3)


def check_once(probe: Probe) -> Sample:
    """Run ``probe`` once and close it: what the one-shot ``probe_*`` functions do."""
    try:
        return probe.check()
    finally:
        probe.close()
