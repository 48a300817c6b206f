"""Field report item 16: passwords holding a raw '/', '#', '?' (Valkey) or '@' (PostgreSQL) are refused, on
every surface that accepts a URL, with a message that echoes no part of them (canary test)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import vultr_toolkit as vt
from vultr_toolkit.health.probes import probe_postgres, probe_valkey
from vultr_toolkit.store.core import HistoryStore

HEAD, TAIL = "cAnHeAd", "cAnTaIl"  # neither half of the password may show anywhere
VALKEY = [f"redis://:{HEAD}{c}{TAIL}@127.0.0.1:1/0" for c in ("/", "#", "?", "/#", "?/")]
PG = [f"postgresql://app:{HEAD}{c}{TAIL}@127.0.0.1:1/db" for c in ("@", "@/", "@?", "@#")]
VARIANTS = VALKEY + PG  # the reporter's 9 raw variants


def assert_clean(text: str) -> None:
    assert HEAD not in text and TAIL not in text, text


def surfaces(url: str, tmp_path: Path) -> list[Callable[[], Any]]:
    is_pg = url.startswith("postgresql")
    out: list[Callable[[], Any]] = [
        lambda: vt.Settings(postgres_url=url) if is_pg else vt.Settings(valkey_url=url),
        lambda: probe_postgres(url, timeout_s=1) if is_pg else probe_valkey(url, timeout_s=1),
    ]
    if is_pg:
        out += [lambda: vt.Settings(store=url), lambda: HistoryStore(url)]
    else:
        out += [lambda: vt.Settings(limiter_url=url), lambda: vt.Cache(url)]
    return out


@pytest.mark.parametrize("url", VARIANTS)
def test_raw_password_is_refused_without_echo_on_every_api_surface(
        url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for make in surfaces(url, tmp_path):
        with pytest.raises(vt.ConfigError) as ei:
            make()
        assert "percent-encode" in str(ei.value)
        assert_clean(str(ei.value) + repr(ei.value))
    assert_clean("\n".join(r.getMessage() for r in caplog.records))


def test_percent_encoded_password_is_accepted() -> None:
    s = vt.Settings(valkey_url=f"redis://:{HEAD}%2F%23{TAIL}@127.0.0.1:1/0",
                    postgres_url=f"postgresql://app:{HEAD}%40{TAIL}@127.0.0.1:1/db")
    assert_clean(repr(s))
    sample = probe_valkey(f"redis://:{HEAD}%2F{TAIL}@127.0.0.1:1/0", timeout_s=0.5)
    assert sample.error_kind == "connection"
    assert_clean(repr(sample) + str(sample.target) + str(getattr(sample, "message", "")))


@pytest.mark.parametrize("url", [VALKEY[0], VALKEY[1], PG[0]])
def test_cli_refuses_without_echo(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "VULTR_VALKEY_URL" if url.startswith("redis") else "VULTR_POSTGRES_URL": url,
           "VULTR_TOOLKIT_STORE": f"sqlite:///{tmp_path}/h.sqlite", "VULTR_TOOLKIT_LOG_LEVEL": "DEBUG"}
    r = subprocess.run([sys.executable, "-m", "vultr_toolkit.cli", "health"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert "percent-encode" in r.stderr + r.stdout
    assert_clean(r.stderr + r.stdout)
    r = subprocess.run([sys.executable, "-m", "vultr_toolkit.cli", "health", "--target", url], capture_output=True,
                       text=True, timeout=60, env={**os.environ, "VULTR_TOOLKIT_STORE": f"sqlite:///{tmp_path}/h"})
    assert_clean(r.stderr + r.stdout)


@pytest.mark.parametrize("url", ["postgresql://h/db?application_name=a@b", "postgresql://u@h:5432/db?options=x@y",
                                 "redis://127.0.0.1:6379/0", "unix:///tmp/v.sock?db=0",
                                 "postgresql://u:p%40w@h:5432/db", "sqlite:///tmp/a@b/h.sqlite"])
def test_urls_without_a_raw_password_are_not_refused(url: str) -> None:
    from vultr_toolkit._redact import check_url_userinfo

    assert check_url_userinfo(url) == url
