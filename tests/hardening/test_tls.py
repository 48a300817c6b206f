"""TLS defaults: HTTP verification on (off only with allow_insecure=True, warning each time), PostgreSQL sslmode
raised for non-local hosts (weaker explicit modes warn), rediss:// verification kept (turning it off warns)."""

from __future__ import annotations

import logging
import warnings

import pytest

from vultr_toolkit._tls import InsecureTLSWarning, check_redis_url, is_local_host, secure_postgres_url


def _tls_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, InsecureTLSWarning)]


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql+psycopg2://u:p%40ss@db.example.com:5432/x", "postgresql+psycopg2://u:p%40ss@db.example.com:5432/x"
                                                             "?sslmode=require"),
    ("postgresql://u@db.example.com/x?application_name=a", "postgresql://u@db.example.com/x?application_name=a"
                                                           "&sslmode=require"),
    ("postgresql://u@db.example.com/x?sslrootcert=/ca.pem", "postgresql://u@db.example.com/x?sslrootcert=/ca.pem"
                                                            "&sslmode=verify-full"),
    ("postgresql://u@/x?host=db.internal", "postgresql://u@/x?host=db.internal&sslmode=require"),
    ("postgresql://u@db.example.com/x?sslmode=verify-ca", "postgresql://u@db.example.com/x?sslmode=verify-ca"),
    ("postgresql://u@127.0.0.1:5432/x", "postgresql://u@127.0.0.1:5432/x"),
    ("postgresql://u@localhost/x", "postgresql://u@localhost/x"),
    ("postgresql://u@[::1]/x", "postgresql://u@[::1]/x"),
    ("postgresql://u@/x?host=/run/postgresql", "postgresql://u@/x?host=/run/postgresql"),
])
def test_postgres_sslmode_at_least_require_for_non_local_hosts(url: str, expected: str) -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert secure_postgres_url(url) == expected
    assert _tls_warnings(rec) == []


def test_explicit_weak_sslmode_to_a_remote_host_is_kept_and_warns_every_time(caplog: pytest.LogCaptureFixture
                                                                              ) -> None:
    url = "postgresql://u:sk-CANARY-tls@db.example.com/x?sslmode=disable"
    with caplog.at_level(logging.WARNING, logger="vultr_toolkit.tls"), warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert secure_postgres_url(url) == url
        assert secure_postgres_url(url) == url
    msgs = _tls_warnings(rec)
    assert len(msgs) == 2 and "db.example.com" in msgs[0] and "sslmode=disable" in msgs[0]
    assert len([r for r in caplog.records if r.name == "vultr_toolkit.tls"]) == 2
    assert not any("CANARY" in m for m in msgs + [r.getMessage() for r in caplog.records])
    # Local hosts: the user's choice, no warning (the test servers run plaintext on loopback).
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        secure_postgres_url("postgresql://u@127.0.0.1/x?sslmode=disable")
    assert _tls_warnings(rec) == []


@pytest.mark.parametrize(("url", "warns"), [
    ("rediss://:pw@cache.example.com:6380/0", None),
    ("rediss://:pw@cache.example.com:6380/0?ssl_cert_reqs=required", None),
    ("rediss://:pw@cache.example.com:6380/0?ssl_cert_reqs=none", "verification is OFF"),
    ("rediss://:pw@cache.example.com:6380/0?ssl_cert_reqs=OPTIONAL", "verification is OFF"),
    ("rediss://cache.example.com/0?ssl_check_hostname=false", "host-name check is OFF"),
    ("redis://:pw@cache.example.com:6379/0", "plaintext"),
    ("valkey://cache.example.com:6379/0", "plaintext"),
    ("redis://:pw@127.0.0.1:6379/0", None),
    ("rediss://127.0.0.1:6379/0?ssl_cert_reqs=none", None),
    ("unix:///tmp/valkey.sock", None),
])
def test_redis_urls_warn_when_verification_is_off(url: str, warns: str | None) -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert check_redis_url(url) == url
    msgs = _tls_warnings(rec)
    if warns is None:
        assert msgs == []
    else:
        assert len(msgs) == 1 and warns in msgs[0] and "pw" not in msgs[0].replace("password", "")


def test_local_hosts() -> None:
    assert all(is_local_host(h) for h in ("", None, "localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1",
                                          "[::1]", "/var/run/postgresql"))
    assert not any(is_local_host(h) for h in ("10.0.0.5", "db.example.com", "::2", "localhost.example.com"))
