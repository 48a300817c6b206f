"""Positive control: the canary scanner finds the marker wherever the scan looks (else a clean scan means nothing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from . import canary


def test_scanner_finds_the_canary_in_text_files_parquet_and_sqlite_rows(tmp_path: Path) -> None:
    pd.DataFrame({"note": [f"key={canary.API_KEY}"]}).to_parquet(tmp_path / "leak.parquet")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "report.html").write_text(f"<p>{canary.PG_PASSWORD}</p>")
    con = sqlite3.connect(tmp_path / "store.sqlite")
    con.execute("CREATE TABLE t (x TEXT)")
    con.execute("INSERT INTO t VALUES (?)", (canary.VALKEY_PASSWORD,))
    con.commit()
    con.close()

    f = canary.Findings()
    f.text("log", f"Authorization: Bearer {canary.INFERENCE_KEY}")
    f.text("clean", "nothing here")
    assert f.files(tmp_path) == 3
    assert f.sqlite_rows(tmp_path / "store.sqlite") == 1
    assert set(f.hits) == {"log", "file leak.parquet", "file sub/report.html", "file store.sqlite",
                           "sqlite store.sqlite:t"}
    try:
        f.assert_clean()
    except AssertionError as e:
        assert "report.html" in str(e)
    else:
        raise AssertionError("assert_clean passed with hits")
