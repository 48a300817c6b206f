"""Shared pieces of the canary scan: canary values, the environment that carries them, and the scanner.

Every secret the toolkit can hold is set to a value containing ``CANARY``: the management and inference API keys
(which are also the keys the sandbox accepts, so the happy path really authenticates with them), the PostgreSQL
password (a password-protected role on the test cluster), the Valkey password (``requirepass``) and the status
service's bearer token. Anything the toolkit prints, logs, raises, stores or serves is then searched for the marker.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARK = "CANARY"
# Shaped like the real thing, NOT like ``sk-...`` keys: the redactor masks ``sk-`` strings by pattern, which would
# hide a leak of a value the toolkit failed to register. Vultr API keys are 36 upper-case letters and digits.
API_KEY = "CANARYAPIKEY5D1F0C9E71A2B3C4D5E6F7G8"
INFERENCE_KEY = "CANARYINFKEY7B2E44A1C3D4E5F6A7B8C9D0"
PG_PASSWORD = "pgCANARYpass93ac11f0"
VALKEY_PASSWORD = "vkCANARYpass61f0de2b"
SERVICE_TOKEN = "svcCANARYtoken0a9b8c7d"
WRONG_KEY = "WRONGCANARYKEY3E3E3E3E3E3E3E3E3E3E3E"
ALL = (API_KEY, INFERENCE_KEY, PG_PASSWORD, VALKEY_PASSWORD, SERVICE_TOKEN, WRONG_KEY)


@dataclass
class Findings:
    """Where a canary showed up (``where`` → a short excerpt around it)."""

    hits: dict[str, str] = field(default_factory=dict)
    scanned: list[str] = field(default_factory=list)

    def text(self, where: str, value: Any) -> None:
        s = value if isinstance(value, str) else repr(value)
        self.scanned.append(where)
        i = s.find(MARK)
        if i >= 0:
            self.hits[where] = s[max(0, i - 80): i + 60]

    def data(self, where: str, raw: bytes) -> None:
        self.scanned.append(where)
        for needle in (MARK.encode(), MARK.encode("utf-16-le")):
            i = raw.find(needle)
            if i >= 0:
                self.hits[where] = repr(raw[max(0, i - 80): i + 60])
                return

    def files(self, root: Path, *, skip: Iterable[Path] = ()) -> int:
        """Scan every file under ``root`` (bytes: HTML, Markdown, PNG, Parquet, SQLite pages, logs ...)."""
        skipped = {p.resolve() for p in skip}
        n = 0
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.resolve() not in skipped:
                self.data(f"file {p.relative_to(root)}", p.read_bytes())
                n += 1
        return n

    def sqlite_rows(self, path: Path) -> int:
        """Every row of every table, as text (stored history rows, snapshots, benchmark runs)."""
        con = sqlite3.connect(path)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            n = 0
            for t in tables:
                rows = con.execute(f'SELECT * FROM "{t}"').fetchall()
                self.text(f"sqlite {path.name}:{t}", rows)
                n += len(rows)
            return n
        finally:
            con.close()

    def postgres_rows(self, url: str) -> int:
        """Every row of every table of the database behind ``url`` (cast to text server-side)."""
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                tables = [r[0] for r in conn.execute(sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"))]
                n = 0
                for t in tables:
                    rows = conn.execute(sa.text(f'SELECT t::text FROM "{t}" AS t')).scalars().all()
                    self.text(f"postgres:{t}", rows)
                    n += len(rows)
                return n
        finally:
            engine.dispose()

    def assert_clean(self) -> None:
        assert self.scanned, "nothing was scanned"
        assert not self.hits, "canary found in:\n" + "\n".join(f"  {k}: {v!r}" for k, v in self.hits.items())
