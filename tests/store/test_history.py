"""Health samples through a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from vultr_toolkit import ConfigError, Settings, StoreError
from vultr_toolkit._redact import register_secret
from vultr_toolkit.store import SAMPLE_DTYPES, HistoryStore, empty_samples, samples_frame

CANARY = "sk-CANARY-store-0001"
T0 = pd.Timestamp("2026-03-01T12:00:00.123456Z")


def _records(n: int, *, start: pd.Timestamp = T0, monitor_id: str | None = None) -> list[dict[str, object]]:
    statuses = ["up", "degraded", "down", "maintenance"]
    return [{
        "checked_at": start + pd.Timedelta(seconds=10 * i),
        "service": ["postgres", "valkey"][i % 2],
        "target": ["postgresql://app@127.0.0.1:5432/db", "redis://127.0.0.1:6379/0"][i % 2],
        "status": statuses[i % 4],
        "latency_ms": None if i % 4 == 2 else 1.5 + i,
        "error_kind": "connection" if i % 4 == 2 else None,
        "message": "connection refused" if i % 4 == 2 else None,
        "details": {"version": "15.18", "connections_used": i},
        "monitor_id": monitor_id,
    } for i in range(n)]


def assert_sample_dtypes(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(SAMPLE_DTYPES)
    for col, dtype in SAMPLE_DTYPES.items():
        assert str(df[col].dtype) == str(dtype), col
    assert list(df["status"].cat.categories) == ["up", "degraded", "down", "maintenance"]


def test_round_trip_keeps_values_and_dtypes(store: HistoryStore) -> None:
    written = samples_frame(_records(8, monitor_id="m1"))
    assert store.write_samples(written) == 8
    got = store.health_history()
    assert_sample_dtypes(got)
    assert len(got) == 8
    pd.testing.assert_series_equal(got["checked_at"], written["checked_at"])  # µs precision survives
    assert got["status"].tolist() == ["up", "degraded", "down", "maintenance"] * 2
    assert got["latency_ms"].isna().tolist() == [i % 4 == 2 for i in range(8)]
    assert got["latency_ms"].iloc[0] == 1.5
    assert json.loads(got["details"].iloc[3]) == {"version": "15.18", "connections_used": 3}
    assert got["message"].iloc[2] == "connection refused" and pd.isna(got["message"].iloc[0])
    assert set(got["monitor_id"].astype(str)) == {"m1"}
    assert got["sample_id"].tolist() == written["sample_id"].tolist()


def test_empty_history_has_the_same_dtypes(store: HistoryStore) -> None:
    df = store.health_history(since="1h")
    assert df.empty
    assert_sample_dtypes(df)
    assert_sample_dtypes(empty_samples())


def test_filters_by_time_service_target_and_monitor(store: HistoryStore) -> None:
    store.write_samples(_records(10, monitor_id="a"))
    store.write_samples(_records(4, start=T0 + pd.Timedelta(days=1), monitor_id="b"))
    assert len(store.health_history()) == 14
    assert len(store.health_history(since=T0 + pd.Timedelta(seconds=50))) == 5 + 4
    # until is exclusive
    assert len(store.health_history(until=T0 + pd.Timedelta(seconds=50))) == 5
    assert set(store.health_history(services=["valkey"])["service"]) == {"valkey"}
    pg = store.health_history(targets=["postgresql://app@127.0.0.1:5432/db"], until=T0 + pd.Timedelta(hours=1))
    assert len(pg) == 5 and set(pg["service"]) == {"postgres"}
    assert len(store.health_history(monitor_ids=["b"])) == 4
    assert store.health_history(services=[]).empty
    got = store.health_history(since=T0.isoformat(), until=(T0 + pd.Timedelta(seconds=20)).to_pydatetime())
    assert len(got) == 2


def test_rewriting_the_same_samples_stores_them_once(store: HistoryStore) -> None:
    """A flush retried after an ambiguous commit must not duplicate samples (and must store the new ones)."""
    first = samples_frame(_records(6))
    store.write_samples(first)
    more = samples_frame(_records(3, start=T0 + pd.Timedelta(days=2)))
    store.write_samples(pd.concat([first, more], ignore_index=True))
    got = store.health_history()
    assert len(got) == 9
    assert got["sample_id"].is_unique


def test_prune_deletes_only_older_samples(store: HistoryStore) -> None:
    now = pd.Timestamp.now(tz="UTC")
    store.write_samples(_records(7, start=now - pd.Timedelta(days=40)))
    store.write_samples(_records(3, start=now - pd.Timedelta(hours=1)))
    assert store.prune(older_than="30d") == 7
    left = store.health_history()
    assert len(left) == 3 and (left["checked_at"] > now - pd.Timedelta(days=1)).all()
    assert store.prune(older_than=dt.timedelta(days=30)) == 0


def test_secrets_never_reach_the_table(store: HistoryStore) -> None:
    register_secret(CANARY)
    rec = _records(1)[0]
    rec.update(target=f"postgresql://app:{CANARY}@127.0.0.1/db", message=f"auth failed for {CANARY}",
               details={"dsn": f"host=x password={CANARY}", "nested": [CANARY]})
    store.write_samples([rec])
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM health_sample")).all()
    dumped = repr(rows)
    assert CANARY not in dumped
    assert "***" in dumped
    assert CANARY not in repr(store.health_history())


def test_invalid_status_is_rejected_before_writing(store: HistoryStore) -> None:
    rec = _records(1)[0]
    rec["status"] = "sideways"
    with pytest.raises(ConfigError, match="sideways"):
        store.write_samples([rec])
    assert store.health_history().empty


def test_many_rows_in_one_batch(store: HistoryStore) -> None:
    n = 60_000  # above the size where SQLite writes get a bigger page cache
    df = pd.DataFrame({
        "checked_at": T0 + pd.to_timedelta(np.arange(n), unit="s"),
        "service": "valkey", "target": "redis://127.0.0.1:6379/0",
        "status": np.where(np.arange(n) % 10 == 0, "down", "up"),
        "latency_ms": np.arange(n, dtype=float) / 10,
    })
    assert store.write_samples(df) == n
    got = store.health_history()
    assert len(got) == n and got["checked_at"].is_monotonic_increasing
    assert (got["status"] == "down").sum() == n // 10
    assert got["latency_ms"].iloc[-1] == (n - 1) / 10


def test_sqlite_uses_wal_busy_timeout_and_the_target_index(tmp_path: Path) -> None:
    s = HistoryStore(f"sqlite:///{tmp_path / 'sub' / 'h.sqlite'}")  # the directory is created
    s.write_samples(_records(2))
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM health_sample WHERE target = 'x' AND checked_at >= 0").all()
    assert "ix_health_sample_target_checked_at" in repr(plan)


def test_postgres_plan_uses_the_target_index(pg_url: str) -> None:
    s = HistoryStore(pg_url)
    s.write_samples(_records(2))
    with s.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # a 2-row table would be scanned otherwise
        plan = conn.exec_driver_sql("EXPLAIN SELECT * FROM health_sample WHERE target = 'x' AND "
                                    "checked_at >= now() - interval '1 day'").all()
    assert "ix_health_sample_target_checked_at" in repr(plan)


def test_url_defaults_and_normalisation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from-settings.sqlite'}"
    assert HistoryStore(settings=Settings(store=url)).url == url
    pg = HistoryStore(f"postgresql://app:{CANARY}@127.0.0.1:1/db")
    assert pg.url.startswith("postgresql+psycopg2://app:***@")
    assert CANARY not in repr(pg)
    with pytest.raises(ConfigError, match="VULTR_TOOLKIT_STORE"):
        HistoryStore("mysql://u@h/db")


def test_unreachable_database_raises_a_redacted_store_error() -> None:
    # Constructing works (the monitor must be able to buffer); using it fails clearly.
    s = HistoryStore(f"postgresql://app:{CANARY}@127.0.0.1:1/db")
    with pytest.raises(StoreError) as ei:
        s.health_history()
    assert "127.0.0.1" in str(ei.value)
    assert CANARY not in str(ei.value) and CANARY not in repr(ei.value)
    assert s.ping() is False


def test_sqlite_writer_and_reader_at_the_same_time(tmp_path: Path) -> None:
    """WAL + busy timeout: a writer thread and a reader never see 'database is locked' (research T18)."""
    import threading

    url = f"sqlite:///{tmp_path / 'concurrent.sqlite'}"
    writer_store, reader_store = HistoryStore(url), HistoryStore(url)
    writer_store.ensure_schema()
    errors: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(40):
                writer_store.write_samples(_records(50, start=T0 + pd.Timedelta(hours=i)))
        except BaseException as e:  # the assertion below reports it
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=write)
    t.start()
    while not done.is_set():
        try:
            seen.append(len(reader_store.health_history()))
        except BaseException as e:
            errors.append(e)
            break
    t.join()
    assert errors == []
    assert len(reader_store.health_history()) == 2000
    assert seen == sorted(seen)  # each read saw a committed prefix, never a partial batch
    assert all(n % 50 == 0 for n in seen)


def test_mixed_precision_iso_strings_are_accepted(store: HistoryStore) -> None:
    store.write_samples([
        {"checked_at": "2026-01-01T00:00:00.5Z", "service": "s", "target": "t", "status": "up"},
        {"checked_at": "2026-01-01T00:00:01Z", "service": "s", "target": "t", "status": "up"},
        {"checked_at": dt.datetime(2026, 1, 1, 0, 0, 2), "service": "s", "target": "t", "status": "up"},  # naive=UTC
    ])
    got = store.health_history()["checked_at"]
    assert got.tolist() == [pd.Timestamp("2026-01-01T00:00:00.5Z"), pd.Timestamp("2026-01-01T00:00:01Z"),
                            pd.Timestamp("2026-01-01T00:00:02Z")]
    with pytest.raises(ConfigError, match="checked_at"):
        store.write_samples([{"checked_at": "yesterday-ish", "service": "s", "target": "t", "status": "up"}])


def test_copy_without_pyarrow_writes_the_same_rows(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The csv-module fallback of the PostgreSQL COPY path (used when pyarrow is missing) stores identical rows."""
    from vultr_toolkit.store import history

    recs = _records(8)
    recs[0]["message"] = 'quote " and, comma'
    a, b = HistoryStore(pg_url), HistoryStore(pg_url)
    a.write_samples(samples_frame(recs[:4]))
    monkeypatch.setattr(history, "_csv_for_copy", history._csv_module_for_copy)
    b.write_samples(samples_frame(recs[4:]))
    got = a.health_history()
    expected = samples_frame(recs)
    cols = ["checked_at", "status", "latency_ms", "message", "details", "error_kind"]
    pd.testing.assert_frame_equal(got[cols], expected[cols], check_categorical=False)


def test_copy_in_slices_stores_every_row_once(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The COPY source renders the CSV slice by slice while the server parses: slice edges lose or repeat nothing."""
    from vultr_toolkit.store import history

    monkeypatch.setattr(history, "COPY_SLICE_ROWS", 7)   # 50 rows -> 8 slices, the last one short
    recs = _records(50)
    recs[13]["message"] = 'a "quoted", multi\nline message'
    store = HistoryStore(pg_url)
    assert store.write_samples(samples_frame(recs)) == 50
    got = store.health_history()
    expected = samples_frame(recs)
    cols = ["checked_at", "status", "latency_ms", "message", "details", "error_kind"]
    pd.testing.assert_frame_equal(got[cols], expected[cols], check_categorical=False)
    # byte-exact with the one-buffer rendering, whatever read sizes psycopg2 asks for
    stored = history._stored_columns(history.coerce_samples(samples_frame(recs)))
    src = history._CopySource(stored)
    parts = iter(lambda: src.read(100), b"")
    assert b"".join(parts) == history._csv_for_copy(stored).getvalue()
    store.close()


def test_several_stores_creating_the_schema_at_once(store: HistoryStore) -> None:
    """Monitors started together against one fresh database all get a working store (lost creation races on
    PostgreSQL used to fail with duplicate catalog rows)."""
    from concurrent.futures import ThreadPoolExecutor

    url = store.engine.url.render_as_string(hide_password=False)
    stores = [HistoryStore(url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        written = list(pool.map(lambda s: s.write_samples(_records(3, monitor_id=str(id(s)))), stores))
    assert written == [3, 3, 3, 3]
    assert len(stores[0].health_history()) == 12
    for s in stores:
        s.close()


def test_writing_never_modifies_the_callers_frame(store: HistoryStore) -> None:
    frame = samples_frame(_records(3))
    before = frame.copy()
    store.write_samples(frame, monitor_id="filled-in")
    pd.testing.assert_frame_equal(frame, before)
    assert set(store.health_history()["monitor_id"].astype(str)) == {"filled-in"}


def test_prune_works_in_chunks(store: HistoryStore) -> None:
    from vultr_toolkit.store.history import prune_samples

    now = pd.Timestamp.now(tz="UTC")
    store.write_samples(_records(11, start=now - pd.Timedelta(days=3)))
    store.write_samples(_records(2, start=now))
    assert prune_samples(store.engine, "2d", chunk=4) == 11  # 4 + 4 + 3 on SQLite; one statement on PostgreSQL
    assert len(store.health_history()) == 2
