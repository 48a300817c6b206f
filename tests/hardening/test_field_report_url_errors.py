"""Field report 12, item 18: malformed cache/store URLs are a ConfigError before any connection, without secrets."""

from __future__ import annotations

import pytest

import vultr_toolkit as vt
from vultr_toolkit._errors import ConfigError
from vultr_toolkit.store import HistoryStore


@pytest.mark.parametrize("url", ["valkey://127.0.0.1:notaport/0", "redis://:s3cretpw9@127.0.0.1:notaport/0"])
def test_cache_bad_port_is_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="invalid port") as err:
        vt.Cache(url)
    assert "s3cretpw9" not in str(err.value)
    assert "6379" in str(err.value)  # says what to do


def test_cache_bad_database_is_config_error() -> None:
    with pytest.raises(ConfigError, match="database must be a number"):
        vt.Cache("valkey://127.0.0.1:6379/zero")


def test_store_sqlite_url_with_host_is_config_error() -> None:
    with pytest.raises(ConfigError, match="no host") as err:
        HistoryStore("sqlite://nope/x")
    assert "sqlite:///" in str(err.value)
