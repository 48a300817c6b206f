"""WorkerLostError: a benchmark worker (a local process or a Dask worker) died mid-run; finished levels are kept.

One benchmark worker dying used to lose the whole run: the levels that had completed were thrown away with it, and
the message blamed a missing ``if __name__ == "__main__"`` guard whatever had happened. Now the error names the
worker (address and/or pid), how it died when that is known (signal or exit code), the level it died in, and
carries every level that finished before it on ``.partial_result`` (set by :func:`vt.bench.run
<vultr_toolkit.bench.run>` / ``arun``), with ``meta["failure"]`` saying what happened.

Example (the handler a notebook keeps around a long run; here the error is raised by hand, as ``vt.bench.run``
raises it when a worker process is killed during level 1):

>>> try:
...     raise WorkerLostError([LostWorker(address=None, pid=4242, signal=9)], level_index=1)
... except vt.bench.WorkerLostError as e:
...     print(e)                                   # doctest: +ELLIPSIS
...     err = e
benchmark worker pid 4242 (killed by signal 9, SIGKILL) died during level 1...
>>> err.workers[0].pid, err.workers[0].signal, err.partial_result is None  # run() sets the finished levels
(4242, 9, True)
"""

from __future__ import annotations

import dataclasses
import signal as _signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import VultrToolkitError

if TYPE_CHECKING:  # pragma: no cover - only for the annotation; result.py needs nothing from here
    from .result import BenchmarkResult

__all__ = ["LostWorker", "WorkerLostError"]


@dataclasses.dataclass(frozen=True)
class LostWorker:
    """One worker that died: its Dask ``address`` (None for a local worker process), its ``pid``, and the
    ``signal`` that killed it or its ``exit_code`` when either is known (None otherwise).

    >>> LostWorker(address=None, pid=42, signal=9).describe()
    'pid 42 (killed by signal 9, SIGKILL)'
    >>> LostWorker(address="tcp://10.0.0.7:4001", pid=None).describe()
    'tcp://10.0.0.7:4001 (left the cluster; cause not reported)'
    """

    address: str | None
    pid: int | None
    signal: int | None = None
    exit_code: int | None = None

    def cause(self) -> str:
        """How it died, in words: the signal (with its name), the exit code, or that nothing was reported."""
        if self.signal is not None:
            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                return f"killed by signal {self.signal}"
            return f"killed by signal {self.signal}, {name}"
        if self.exit_code is not None:
            return f"exited with code {self.exit_code}"
        return "left the cluster; cause not reported" if self.address else "cause not reported"

    def describe(self) -> str:
        """``address (pid N) (cause)``, leaving out what is unknown."""
        pid = None if self.pid is None else f"(pid {self.pid})" if self.address else f"pid {self.pid}"
        who = " ".join(p for p in (self.address, pid) if p) or "unidentified"
        return f"{who} ({self.cause()})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for ``meta["failure"]["workers"]`` (saved with the result)."""
        return dataclasses.asdict(self)


class WorkerLostError(VultrToolkitError, RuntimeError):
    """A benchmark worker died during a run. ``.workers`` lists the lost :class:`LostWorker` (s), ``.level_index``
    the level that was running (-1: the warm-up), and ``.partial_result`` the :class:`BenchmarkResult` of every
    level that finished before the loss (set by ``vt.bench.run`` / ``arun``; ``meta["failure"]`` =
    ``{"kind": "worker_lost", "workers": [...], "level_index": i}``). A ``RuntimeError`` as before, so existing
    ``except RuntimeError`` handlers still catch it.

    >>> e = WorkerLostError([LostWorker(address=None, pid=7, signal=9)], level_index=2)
    >>> str(e)  # doctest: +NORMALIZE_WHITESPACE
    'benchmark worker pid 7 (killed by signal 9, SIGKILL) died during level 2; the levels that finished
     (0..1) are kept in .partial_result. Rerun the remaining levels; if workers keep dying, check their memory
     (a kernel OOM kill is signal 9) or use fewer workers='
    >>> e.error_kind, e.failure()["level_index"]
    ('worker_lost', 2)
    """

    #: the ``error_kind`` vocabulary's name for this failure (see :func:`vultr_toolkit._errors.error_kind`)
    error_kind: ClassVar[str] = "worker_lost"

    def __init__(self, workers: Sequence[LostWorker], *, level_index: int, what: str = "benchmark worker") -> None:
        self.workers: list[LostWorker] = list(workers)
        self.level_index = level_index
        self.partial_result: BenchmarkResult | None = None
        who = ", ".join(w.describe() for w in self.workers) or "(unidentified)"
        during = "the warm-up" if level_index < 0 else f"level {level_index}"
        kept = (f"the levels that finished (0..{level_index - 1}) are kept in .partial_result" if level_index > 0
                else "no level had finished yet")
        super().__init__(f"{what}{'s' if len(self.workers) > 1 else ''} {who} died during {during}; {kept}. "
                         "Rerun the remaining levels; if workers keep dying, check their memory (a kernel OOM "
                         "kill is signal 9) or use fewer workers=")

    def failure(self) -> dict[str, Any]:
        """What ``meta["failure"]`` of the partial result records (JSON-safe)."""
        return {"kind": self.error_kind, "workers": [w.as_dict() for w in self.workers],
                "level_index": self.level_index}
