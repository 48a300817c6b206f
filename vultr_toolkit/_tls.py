"""TLS defaults for the connections that are not HTTP: PostgreSQL (libpq ``sslmode``) and Valkey/Redis.

HTTP verification lives in :mod:`vultr_toolkit._http` (on by default; ``verify=False`` needs
``allow_insecure=True`` and warns). Here, the same stance for the database URLs, applied where each connection is
made (history store, probes, cache, shared rate limiter):

* **PostgreSQL** — libpq's default ``sslmode=prefer`` silently falls back to plaintext and never verifies a
  certificate. For a non-local host without ``sslmode`` we add ``sslmode=verify-full`` when a CA file is given
  (``sslrootcert=``), else ``sslmode=require``. An explicit weaker mode (``disable``/``allow``/``prefer``) to a
  non-local host is kept — it is the user's explicit choice — and warns every time. Local hosts (loopback, Unix
  sockets) are left alone.
* **Valkey/Redis** — ``rediss://`` already verifies (redis-py's ``ssl_cert_reqs="required"``); turning that off in
  the URL (``ssl_cert_reqs=none|optional``, ``ssl_check_hostname=false``) is kept and warns every time, and so
  does a plaintext ``redis://`` to a non-local host (the password crosses the network in clear).

Warnings are :class:`InsecureTLSWarning` (``warnings.warn``) and a WARNING on the ``vultr_toolkit.tls`` logger, so
they show even where Python's once-per-location warning filter would hide a repeat. Messages name the host,
never a password.

Example::

    >>> secure_postgres_url("postgresql+psycopg2://app:pw@db.example.com/prod")
    'postgresql+psycopg2://app:pw@db.example.com/prod?sslmode=require'
    >>> secure_postgres_url("postgresql+psycopg2://app@127.0.0.1:5432/prod")
    'postgresql+psycopg2://app@127.0.0.1:5432/prod'
"""

from __future__ import annotations

import ipaddress
import logging
import warnings
from urllib.parse import parse_qsl, urlsplit

from ._redact import check_url_userinfo

__all__ = ["InsecureTLSWarning", "check_redis_url", "is_local_host", "secure_postgres_url"]

log = logging.getLogger("vultr_toolkit.tls")

_WEAK_SSLMODES = frozenset({"disable", "allow", "prefer"})
_NO_VERIFY = frozenset({"none", "optional"})


class InsecureTLSWarning(UserWarning):
    """A connection will not verify (or not use) TLS to a non-local host, because its URL says so."""


def _warn(message: str) -> None:
    warnings.warn(message, InsecureTLSWarning, stacklevel=3)
    log.warning(message)


def is_local_host(host: str | None) -> bool:
    """True for loopback names/addresses, Unix-socket directories and an empty host (libpq's local default).

    >>> is_local_host("127.0.0.1"), is_local_host("localhost"), is_local_host("/run/postgresql"), is_local_host("db")
    (True, True, True, False)
    """
    if not host or host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pg_hosts(url: str) -> list[str]:
    parts = urlsplit(url)
    hosts = [h for k, v in parse_qsl(parts.query) if k == "host" for h in v.split(",")]
    if parts.hostname:
        hosts.append(parts.hostname)
    return hosts or [""]


def secure_postgres_url(url: str) -> str:
    """``url`` with ``sslmode`` raised to ``require`` (``verify-full`` with a CA file) for a non-local host.

    An explicit weaker ``sslmode`` is kept and warns (:class:`InsecureTLSWarning`).

    >>> secure_postgres_url("postgresql://u@db.example.com/x?sslrootcert=/etc/ca.pem")
    'postgresql://u@db.example.com/x?sslrootcert=/etc/ca.pem&sslmode=verify-full'
    """
    check_url_userinfo(url, "the PostgreSQL URL")
    hosts = _pg_hosts(url)
    if all(is_local_host(h) for h in hosts):
        return url
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    mode = query.get("sslmode")
    remote = ", ".join(h for h in hosts if not is_local_host(h))
    if mode is None:
        added = "verify-full" if query.get("sslrootcert") else "require"
        # Appended as text so the rest of the URL (password escapes included) stays byte for byte.
        base, sep, fragment = url.partition("#")
        joined = "&" if urlsplit(url).query else ("" if base.endswith("?") else "?")
        return f"{base}{joined}sslmode={added}{sep}{fragment}"
    if mode.lower() in _WEAK_SSLMODES:
        _warn(f"PostgreSQL connection to {remote} with sslmode={mode}: traffic (and the password) may travel "
              "unencrypted; use sslmode=require or verify-full")
    return url


def check_redis_url(url: str) -> str:
    """Warn when a Valkey/Redis URL turns certificate checks off or sends a password in clear to a non-local host.

    Returns ``url`` unchanged (rediss:// already verifies by default).

    >>> check_redis_url("rediss://:pw@cache.example.com:6380/0")
    'rediss://:pw@cache.example.com:6380/0'
    """
    check_url_userinfo(url, "the Valkey/Redis URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme == "unix" or is_local_host(host):
        return url
    query = {k.lower(): v.lower() for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    if scheme in ("rediss", "valkeys"):
        if query.get("ssl_cert_reqs") in _NO_VERIFY:
            _warn(f"Valkey/Redis TLS certificate verification is OFF for {host} (ssl_cert_reqs="
                  f"{query['ssl_cert_reqs']} in the URL); anyone on the path can impersonate the server")
        elif query.get("ssl_check_hostname") in ("false", "0", "no", "off"):
            _warn(f"Valkey/Redis TLS host-name check is OFF for {host} (ssl_check_hostname in the URL)")
    elif scheme in ("redis", "valkey"):
        _warn(f"Valkey/Redis connection to {host} is plaintext ({scheme}://): the password and data travel "
              "unencrypted; use rediss://")
    return url
