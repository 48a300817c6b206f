"""The history store's tests run on both SQLite and PostgreSQL: ``store`` is parametrised over the two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vultr_toolkit.store import HistoryStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    url = f"sqlite:///{tmp_path / 'history.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = HistoryStore(url)
    yield s
    s.close()
