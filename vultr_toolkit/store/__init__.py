"""The history store: health samples, benchmark runs and inventory snapshots in SQLite or PostgreSQL.

Example:

>>> store = vt.store.HistoryStore()                   # VULTR_TOOLKIT_STORE, or a SQLite file in the data dir
>>> df = store.health_history(since="24h")            # DataFrame, dtypes in vt.store.SAMPLE_DTYPES
>>> df.dtypes.astype(str).to_dict() == {k: str(v) for k, v in vt.store.SAMPLE_DTYPES.items()}
True
>>> run_id = res.save(store)                          # a BenchmarkResult, an InventorySnapshot: any Bundle
>>> run_id
'benchmark-...'
>>> vt.bench.BenchmarkResult.load(store, run_id).summary()["requests"].tolist()   # identical dtypes
[8, 8]
>>> meta, frames = store.load_frames(run_id)          # the generic layer underneath
>>> sorted(frames)
['chunks', 'levels', 'requests']
>>> vt.inventory.InventorySnapshot.load(store, run_id)          # a run of another kind
Traceback (most recent call last):
...
vultr_toolkit.StoreError: ...
"""

from __future__ import annotations

from .bundles import BENCHMARK_KIND, INVENTORY_KIND, Bundle, new_run_id
from .core import HistoryStore, as_store, using_store
from .samples import SAMPLE_COLUMNS, SAMPLE_DTYPES, coerce_samples, empty_samples, samples_frame
from .schema import STATUS_NAMES, new_sample_id

__all__ = [
    "BENCHMARK_KIND",
    "INVENTORY_KIND",
    "SAMPLE_COLUMNS",
    "SAMPLE_DTYPES",
    "STATUS_NAMES",
    "Bundle",
    "HistoryStore",
    "as_store",
    "coerce_samples",
    "empty_samples",
    "new_run_id",
    "new_sample_id",
    "samples_frame",
    "using_store",
]
