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


# ---- wired in where connections are made (no connection is opened: engines and redis clients are lazy) --------
# 192.0.2.0/24 is TEST-NET-1 (RFC 5737): non-local, never routed, so nothing could leave the machine anyway.
REMOTE = "192.0.2.10"


def test_history_store_engine_raises_sslmode_for_a_remote_host_and_keeps_local_ones(pg_url: str) -> None:
    from vultr_toolkit.store.engine import create_store_engine

    remote = create_store_engine(f"postgresql://app:p%40ss@{REMOTE}:5432/prod")
    assert remote.url.query.get("sslmode") == "require"
    assert remote.url.password == "p@ss" and remote.url.host == REMOTE  # the rest of the URL is intact
    local = create_store_engine(pg_url)
    assert "sslmode" not in local.url.query
    with local.connect():  # and the local test server still accepts the (plaintext) connection
        pass
    remote.dispose()
    local.dispose()


def test_cache_and_limiter_warn_when_rediss_verification_is_off() -> None:
    from vultr_toolkit._ratelimit import RedisRateLimiter

    url = f"rediss://:pw@{REMOTE}:6380/0?ssl_cert_reqs=none"
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        cache = __import__("vultr_toolkit").Cache(url)
        RedisRateLimiter(url, name="tls-test", rate=5)
    msgs = _tls_warnings(rec)
    assert len(msgs) == 2 and all("verification is OFF" in m and REMOTE in m for m in msgs), msgs
    close = getattr(cache, "close", None)
    if callable(close):
        close()


def test_cache_on_local_valkey_does_not_warn(valkey_url: str) -> None:
    import vultr_toolkit as vt

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        cache = vt.Cache(valkey_url)
        cache.set("k", 1)
        assert cache.get("k") == 1
    assert _tls_warnings(rec) == []
    cache.close()


def test_http_verification_off_needs_allow_insecure_and_warns_each_time() -> None:
    import vultr_toolkit as vt

    s = vt.Settings(_env_file=None, api_key="CANARYTLSKEY000000000000000000000000",
                    api_url=f"https://{REMOTE}/v2")
    with pytest.raises(vt.ConfigError, match="allow_insecure"):
        vt.Client(s, verify=False)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for _ in range(2):
            with vt.Client(s, verify=False, allow_insecure=True) as c:
                c.management  # noqa: B018 - building the HTTP core is what warns
    off = [str(w.message) for w in rec if "verification is OFF" in str(w.message)]
    assert len(off) >= 2 and not any("CANARY" in m for m in off)


def test_health_probes_apply_the_tls_defaults() -> None:
    """The probes build their engine/client lazily on first use; build them (no connection is made) and look."""
    from vultr_toolkit.health.probes import PostgresProbe, ValkeyProbe

    pg = PostgresProbe(f"postgresql://app:pw@{REMOTE}:5432/prod")
    engine = pg._get_engine()
    assert engine.url.query.get("sslmode") == "require" and engine.url.password == "pw"
    pg.close()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        vk = ValkeyProbe(f"rediss://:pw@{REMOTE}:6380/0?ssl_cert_reqs=none")
        vk._get_client()
    assert any("verification is OFF" in m for m in _tls_warnings(rec))
    vk.close()
