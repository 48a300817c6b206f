"""The store stays generic: objects save and load themselves through one small protocol (kind, to/from frames).

The store package names no domain type (an AST scan below); a run of the wrong kind is a typed error; ``save()``
behaves the same for every type (closes only a store it opened itself, one id policy).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import vultr_toolkit
from vultr_toolkit import StoreError
from vultr_toolkit.bench.result import BenchmarkResult, build_frames
from vultr_toolkit.inventory.snapshot import InventorySnapshot
from vultr_toolkit.store import HistoryStore

STORE_DIR = Path(vultr_toolkit.__file__).parent / "store"
DOMAIN = ("bench", "inventory", "health")


def _benchmark() -> BenchmarkResult:
    requests, chunks, levels = build_frames([], [], [], wall_ns=0, mono_ns=0)
    return BenchmarkResult(requests, chunks, levels, {"model": "m", "label": "empty"})


def _snapshot() -> InventorySnapshot:
    return InventorySnapshot({}, source="http://127.0.0.1:1/v2")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from ... import`` names in ``path``, as an absolute dotted name."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against vultr_toolkit.store
                base = ["vultr_toolkit", "store"][: 2 - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
                # "from .. import bench" imports the subpackage by name
                out += [(node.lineno, mod)] + [(node.lineno, f"{mod}.{a.name}") for a in node.names]
            else:
                out += [(node.lineno, node.module or "")]
    return out


def test_the_store_package_imports_no_domain_module() -> None:
    files = sorted(STORE_DIR.glob("*.py"))
    assert len(files) >= 5  # the scan looks at the real package, not an empty glob
    bad = [f"{f.name}:{line} imports {mod}" for f in files for line, mod in _imported_modules(f)
           if any(mod == f"vultr_toolkit.{d}" or mod.startswith(f"vultr_toolkit.{d}.") for d in DOMAIN)]
    assert bad == []


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'history.sqlite'}"


def test_loading_a_run_of_the_wrong_kind_is_a_typed_error(sqlite_url: str) -> None:
    store = HistoryStore(sqlite_url)
    bench_id = _benchmark().save(store)
    inv_id = _snapshot().save(store)
    with pytest.raises(StoreError, match=rf"{bench_id}.*'benchmark' run.*not an? 'inventory'"):
        InventorySnapshot.load(store, bench_id)
    with pytest.raises(StoreError, match=rf"{inv_id}.*'inventory' run.*not an? 'benchmark'"):
        BenchmarkResult.load(store, inv_id)
    with pytest.raises(StoreError, match="no stored run"):
        BenchmarkResult.load(store, "benchmark-missing")
    store.close()


def test_the_deprecated_loaders_warn_and_refuse_the_wrong_kind_too(sqlite_url: str) -> None:
    store = HistoryStore(sqlite_url)
    res, snap = _benchmark(), _snapshot()
    bench_id, inv_id = res.save(store), snap.save(store)
    with pytest.warns(DeprecationWarning, match=r"BenchmarkResult\.load\(store, run_id\)"):
        back = store.load_benchmark(bench_id)
    assert isinstance(back, BenchmarkResult) and back.meta == res.meta
    with pytest.warns(DeprecationWarning, match=r"InventorySnapshot\.load\(store, run_id\)"):
        again = store.load_inventory(inv_id)
    assert isinstance(again, InventorySnapshot) and again.snapshot_id == inv_id
    # On the old code this returned a bogus, empty InventorySnapshot built from a benchmark's frames.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(StoreError, match=r"'benchmark' run"):
            store.load_inventory(bench_id)
        with pytest.raises(StoreError, match=r"'inventory' run"):
            store.load_benchmark(inv_id)
    store.close()


@pytest.fixture
def disposed() -> Iterator[list[Engine]]:
    """Every SQLAlchemy engine disposed while the test runs (``HistoryStore.close`` disposes its engine)."""
    seen: list[Engine] = []

    def note(engine: Engine) -> None:
        seen.append(engine)

    sa.event.listen(Engine, "engine_disposed", note)
    yield seen
    sa.event.remove(Engine, "engine_disposed", note)


@pytest.mark.parametrize("make", [_benchmark, _snapshot], ids=["benchmark", "inventory"])
def test_save_closes_a_store_it_opened_and_only_that(make: Any, sqlite_url: str, disposed: list[Engine]) -> None:
    make().save(sqlite_url)  # a URL: save opens a store, so it must close it
    assert len(disposed) == 1
    mine = HistoryStore(sqlite_url)
    make().save(mine)  # the caller's store: left open for the caller
    assert disposed[1:] == []
    mine.close()
    assert disposed[1:] == [mine.engine]


@pytest.mark.parametrize("make", [_benchmark, _snapshot], ids=["benchmark", "inventory"])
def test_one_id_policy_for_every_type(make: Any, sqlite_url: str) -> None:
    store = HistoryStore(sqlite_url)
    obj = make()
    assert obj.run_id is None
    rid = obj.save(store)
    assert rid.startswith(f"{obj.KIND}-") and obj.run_id == rid
    assert obj.save(store) == rid  # saving again replaces the same run, for both types
    assert store.list_runs(obj.KIND)["run_id"].tolist() == [rid]
    loaded = type(obj).load(store, rid)
    assert type(loaded) is type(obj) and loaded.run_id == rid
    other = make()
    assert other.save(store) != rid  # a different object gets a new id
    store.close()


class _Note:
    """A third kind of bundle the store has never heard of: the protocol is all it needs."""

    KIND: ClassVar[str] = "note"

    def __init__(self, text: str, run_id: str | None = None) -> None:
        self.text, self.run_id = text, run_id

    def to_frames(self) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
        return {"text": self.text}, {"words": pd.DataFrame({"w": pd.array(self.text.split(), dtype="string")})}

    @classmethod
    def from_frames(cls, meta: Mapping[str, Any], frames: Mapping[str, pd.DataFrame]) -> _Note:
        assert frames["words"]["w"].tolist() == str(meta["text"]).split()
        return cls(str(meta["text"]))


def test_history_store_saves_and_loads_any_bundle(sqlite_url: str) -> None:
    with HistoryStore(sqlite_url) as store:
        note = _Note("hello generic store")
        rid = store.save(note)
        assert note.run_id == rid and rid.startswith("note-")
        back = store.load(rid, _Note)
        assert isinstance(back, _Note) and back.text == "hello generic store" and back.run_id == rid
        assert store.save(_Note("chosen"), run_id="note-mine") == "note-mine"
        with pytest.raises(StoreError, match=r"'note' run.*not a 'benchmark'"):
            store.load(rid, BenchmarkResult)
        bench_id = store.save(_benchmark())
        with pytest.raises(StoreError, match=r"'benchmark' run.*not a 'note'"):
            store.load(bench_id, _Note)


def test_a_failed_save_leaves_the_object_unsaved(sqlite_url: str) -> None:
    secret = InventorySnapshot({"instances": pd.DataFrame({"id": ["a"], "x": [{"password": "hunter2-secret"}]})})
    with HistoryStore(sqlite_url) as store, pytest.raises(StoreError, match="secret fields"):
        store.save(secret)
    assert secret.snapshot_id is None and secret.run_id is None
    with pytest.raises(StoreError, match="secret fields"):
        secret.save(sqlite_url)
    assert secret.snapshot_id is None
    assert HistoryStore(sqlite_url).list_runs().empty
