"""The sandbox's server-side request log: one row per request, so tests check retries and limits from the server.

Rows never hold headers (so never the ``Authorization`` key); the query string is passed through
:func:`vultr_toolkit._redact.redact` in case a caller put a secret there.

Example::

    >>> log = RequestLog()
    >>> log.record(at=0.0, t_mono=1.0, method="GET", path="/v2/account", query="", status=200,
    ...            latency_ms=1.5, fault="none", client="127.0.0.1")
    >>> log.to_frame()["status"].tolist()
    [200]
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from .._redact import redact
from .faults import FAULT_KINDS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "RequestLog"]

# column -> dtype; the frame has exactly these, in this order, for 0, 1 or N rows.
COLUMNS: dict[str, str] = {
    "at": "datetime64[us, UTC]",
    "t_mono": "float64",
    "method": "category",
    "path": "string",
    "query": "string",
    "status": "Int64",
    "latency_ms": "float64",
    "fault": "category",
    "client": "string",
}


class RequestLog:
    """Append-only, thread-safe list of request records (the server thread writes, tests read).

    ``max_rows`` bounds it (oldest rows are dropped first); None keeps everything.
    """

    def __init__(self, max_rows: int | None = None) -> None:
        # A bounded deque drops the oldest rows first: a long benchmark keeps its recent history.
        self._rows: deque[tuple[Any, ...]] = deque(maxlen=max_rows)
        self._lock = threading.Lock()

    def record(self, *, at: float, t_mono: float, method: str, path: str, query: str, status: int | None,
               latency_ms: float, fault: str, client: str) -> None:
        """Append one request (``at`` is epoch seconds, ``t_mono`` :func:`time.monotonic` at arrival)."""
        row = (at, t_mono, method, path, redact(query) if query else "", status, latency_ms, fault, client)
        with self._lock:
            self._rows.append(row)

    def clear(self) -> None:
        """Forget every row."""
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)

    def to_frame(self) -> pd.DataFrame:
        """The log as a DataFrame with :data:`COLUMNS` (``status`` is ``<NA>`` for a reset connection)."""
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        cols = list(COLUMNS)
        data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
        df = pd.DataFrame({
            "at": pd.to_datetime(pd.Series(data["at"], dtype="float64"), unit="s", utc=True)
                    .astype("datetime64[us, UTC]"),
            "t_mono": pd.Series(data["t_mono"], dtype="float64"),
            "method": pd.Series(data["method"], dtype="string").astype("category"),
            "path": pd.Series(data["path"], dtype="string"),
            "query": pd.Series(data["query"], dtype="string"),
            "status": pd.Series(data["status"], dtype="Int64"),
            "latency_ms": pd.Series(data["latency_ms"], dtype="float64"),
            "fault": pd.Categorical(data["fault"], categories=list(FAULT_KINDS)),
            "client": pd.Series(data["client"], dtype="string"),
        })
        return df
