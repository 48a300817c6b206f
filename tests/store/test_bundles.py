"""The generic bundle store (store_contract.md) on SQLite and PostgreSQL: dtype-exact frames, meta, listing."""

from __future__ import annotations

import datetime as dt
from typing import cast

import numpy as np
import pandas as pd
import pytest
from pandas.api.typing import NAType

from vultr_toolkit import ConfigError, StoreError
from vultr_toolkit._redact import register_secret
from vultr_toolkit.store import HistoryStore, as_store

CANARY = "sk-CANARY-bundle-0002"


def _typed_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "sent_at": pd.Series(pd.date_range("2026-01-01", periods=n, freq="250ms", tz="UTC"))
        .astype("datetime64[us, UTC]"),
        "model": pd.Categorical(["m-a", "m-b"] * (n // 2) + ["m-a"] * (n % 2)),
        "tokens": pd.array([*list(range(n - 1)), None] if n else [], dtype="Int64"),
        "ttft_s": pd.array([0.5] * (n - 1) + [None] if n else [], dtype="Float64"),
        "ok": pd.array([True] * (n - 1) + [None] if n else [], dtype="boolean"),
        "label": pd.array(["x"] * (n - 1) + [None] if n else [], dtype="string"),
        "plain": pd.Series(np.arange(n, dtype=np.float32)),
        "text": pd.Series(["é"] * n, dtype="str"),
    })


@pytest.mark.parametrize("n", [0, 1, 7])
def test_frames_round_trip_with_identical_dtypes(store: HistoryStore, n: int) -> None:
    frames = {"requests": _typed_frame(n), "summary": _typed_frame(n).head(1)}
    meta = {"model": "m-a", "concurrency": [1, 8], "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    run_id = store.save_frames("benchmark", meta, frames)
    got_meta, got = store.load_frames(run_id)
    assert list(got) == ["requests", "summary"]  # order kept
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True)
        assert got[name].dtypes.astype(str).tolist() == frame.dtypes.astype(str).tolist()
    assert got_meta == {"model": "m-a", "concurrency": [1, 8], "started_at": "2026-01-01T00:00:00+00:00"}


def test_list_runs_filters_by_kind_and_flattens_scalar_meta(store: HistoryStore) -> None:
    a = store.save_frames("benchmark", {"model": "m1", "requests": 32, "nested": {"x": 1}}, {})
    b = store.save_frames("benchmark", {"model": "m2", "fetched_at": "2026-02-01T00:00:00Z"}, {})
    store.save_frames("inventory", {"account": "acme"}, {"instances": _typed_frame(2)})
    runs = store.benchmark_runs()
    assert set(runs["run_id"]) == {a, b}
    assert set(runs["kind"].astype(str)) == {"benchmark"}
    assert str(runs["created_at"].dtype) == "datetime64[us, UTC]"
    assert runs.set_index("run_id").loc[a, "model"] == "m1"
    assert (runs.set_index("run_id").loc[a, "requests"] == 32
            and pd.isna(cast(int | NAType, runs.set_index("run_id").loc[b, "requests"])))
    assert "nested" not in runs.columns  # only scalars become columns
    assert str(runs["fetched_at"].dtype) == "datetime64[us, UTC]"
    inv = store.inventory_snapshots()
    assert inv["account"].tolist() == ["acme"]
    assert len(store.list_runs()) == 3
    empty = store.list_runs("nothing")
    assert list(empty.columns) == ["run_id", "kind", "created_at"] and empty.empty


def test_saving_under_an_existing_run_id_replaces_the_bundle(store: HistoryStore) -> None:
    store.save_frames("inventory", {"v": 1}, {"a": _typed_frame(3), "b": _typed_frame(1)}, run_id="snap-1")
    store.save_frames("inventory", {"v": 2}, {"a": _typed_frame(5)}, run_id="snap-1")
    meta, frames = store.load_frames("snap-1")
    assert meta == {"v": 2} and list(frames) == ["a"] and len(frames["a"]) == 5
    assert len(store.inventory_snapshots()) == 1
    assert store.delete_run("snap-1") is True and store.delete_run("snap-1") is False
    with pytest.raises(StoreError, match="snap-1"):
        store.load_frames("snap-1")


def test_meta_is_redacted_and_must_be_json(store: HistoryStore) -> None:
    register_secret(CANARY)
    run_id = store.save_frames("benchmark", {"note": f"key {CANARY}"}, {})
    assert CANARY not in repr(store.load_frames(run_id)[0])
    with pytest.raises(ConfigError, match="JSON"):
        store.save_frames("benchmark", {"obj": object()}, {})
    with pytest.raises(ConfigError, match="DataFrame"):
        store.save_frames("benchmark", {}, {"bad": [1, 2]})  # type: ignore[dict-item]


def test_as_store_accepts_a_store_a_url_or_none(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    s = HistoryStore("sqlite://")
    assert as_store(s) is s
    assert as_store("sqlite://").dialect == "sqlite"
    monkeypatch.setenv("VULTR_TOOLKIT_STORE", f"sqlite:///{tmp_path}/env.sqlite")
    assert as_store(None).url.endswith("env.sqlite")
