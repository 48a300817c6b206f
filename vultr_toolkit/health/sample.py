"""What a probe produces: a :class:`Sample` (one row of a health history) and, inside a probe, a
:class:`ProbeOutcome` (what its check returns when the service answered).

The frame those samples become is :mod:`vultr_toolkit.store.samples` (columns and dtypes).

>>> import datetime as dt
>>> from vultr_toolkit.health.sample import Sample
>>> s = Sample(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "valkey", "redis://:pw@127.0.0.1:6379/0", "up", 0.4)
>>> s.ok, s.target, len(s.sample_id)            # redacted on construction; a time-ordered id is made
(True, 'redis://:***@127.0.0.1:6379/0', 32)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .._redact import redact, redact_obj
from ..store.samples import MESSAGE_MAX_CHARS
from ..store.schema import new_sample_id, to_epoch_us

__all__ = ["ProbeOutcome", "Sample"]


@dataclass
class Sample:
    """One probe result (a row of a health history; see :data:`vultr_toolkit.store.SAMPLE_DTYPES`)."""

    checked_at: dt.datetime
    service: str
    target: str
    status: str  # up | degraded | down | maintenance
    latency_ms: float | None = None
    error_kind: str | None = None
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    monitor_id: str | None = None
    sample_id: str = ""

    def __post_init__(self) -> None:
        # Redact on construction, so nothing downstream (frames, logs, the store) ever sees a raw secret.
        self.target = redact(self.target)
        if self.message is not None:
            self.message = redact(self.message)[:MESSAGE_MAX_CHARS]
        self.details = redact_obj(self.details)
        if not self.sample_id:
            self.sample_id = new_sample_id(to_epoch_us(self.checked_at))

    @property
    def ok(self) -> bool:
        """True for up and degraded (the service answers)."""
        return self.status in ("up", "degraded")


@dataclass
class ProbeOutcome:
    """What a probe's check returns when the service answered."""

    latency_ms: float | None
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "up"  # or "degraded"
    message: str | None = None
