"""The unions that recur in public signatures, named once so tooltips read the same everywhere.

Annotation-only: the names are strings resolved by type checkers (and Jupyter's static completion), so importing
this module imports nothing heavy and creates no import cycle.

>>> from vultr_toolkit import _types
>>> sorted(_types.__all__)
['BenchTarget', 'Messages', 'StoreLike', 'TimeLike']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import pandas as pd

    from ._settings import Settings
    from .client import AsyncClient, Client
    from .sandbox import Sandbox
    from .store import HistoryStore

__all__ = ["BenchTarget", "Messages", "StoreLike", "TimeLike"]

#: Where a run, snapshot or health history goes: a store, a store URL (``"sqlite:///runs.sqlite"``,
#: ``"postgresql://..."``) or ``None`` for the default store (``VULTR_TOOLKIT_STORE_URL`` or the local SQLite file).
StoreLike: TypeAlias = "HistoryStore | str | None"

#: What a benchmark is pointed at: a client, its settings, a sandbox, or ``None`` (settings from the environment).
BenchTarget: TypeAlias = "Client | AsyncClient | Settings | Sandbox | None"

#: A moment or a look-back: ``"7d"`` / ``"2h"`` (before now), an ISO string, a datetime or a Timestamp.
TimeLike: TypeAlias = "str | dt.datetime | pd.Timestamp | None"

#: OpenAI-style chat messages: ``[{"role": "user", "content": "hi"}, ...]``.
Messages: TypeAlias = Sequence[Mapping[str, Any]]

