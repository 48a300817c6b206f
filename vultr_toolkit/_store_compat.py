"""Deprecated ``HistoryStore.load_benchmark`` / ``load_inventory``: kept one release, then deleted with this module.

The store is generic and its package imports no domain module (``tests/store/test_generic.py`` checks it). These
two old loaders cannot be generic (each names a domain type), so they live here, outside ``store/``, as a mixin
of :class:`~vultr_toolkit.store.HistoryStore`. The imports are lazy and this is the only module that has them:
deleting it removes the last store → domain edge. Use ``BenchmarkResult.load(store, run_id)`` and
``InventorySnapshot.load(store, run_id)`` (or ``store.load(run_id, cls)``) instead.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .bench.result import BenchmarkResult
    from .inventory.snapshot import InventorySnapshot
    from .store.bundles import B

__all__ = ["DeprecatedLoaders"]


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"HistoryStore.{old}() is deprecated; use {new}", DeprecationWarning, stacklevel=3)


class DeprecatedLoaders:
    """The two typed loaders of the old store API, as thin wrappers of ``HistoryStore.load(run_id, cls)``."""

    def load(self, run_id: str, cls: type[B]) -> B:  # pragma: no cover - implemented by HistoryStore
        raise NotImplementedError

    def load_benchmark(self, run_id: str) -> BenchmarkResult:
        """Deprecated: ``BenchmarkResult.load(store, run_id)``."""
        from .bench.result import BenchmarkResult

        _deprecated("load_benchmark", "BenchmarkResult.load(store, run_id)")
        return self.load(run_id, BenchmarkResult)

    def load_inventory(self, snapshot_id: str) -> InventorySnapshot:
        """Deprecated: ``InventorySnapshot.load(store, run_id)``."""
        from .inventory.snapshot import InventorySnapshot

        _deprecated("load_inventory", "InventorySnapshot.load(store, run_id)")
        return self.load(snapshot_id, InventorySnapshot)
