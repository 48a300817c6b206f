"""How a probe failure is named: a short, stable ``error_kind`` and a one-line, redacted message.

>>> from vultr_toolkit.health.classify import classify, failure_message
>>> classify(ConnectionRefusedError(111, "Connection refused"))
'connection'
>>> failure_message(ImportError("no psycopg2", name="psycopg2"))
"psycopg2 is not installed: pip install 'vultr-toolkit[postgres]'"
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from .._errors import APIError, ConfigError, error_kind
from .._redact import drop_url_password, first_error_line, redact

__all__ = ["classify", "display_target", "failure_message"]

_TEXT_KINDS: tuple[tuple[str, str], ...] = (
    ("password authentication failed", "auth"),
    ("wrongpass", "auth"),
    ("noauth", "auth"),
    ("invalid username-password", "auth"),
    ("authentication", "auth"),
    ("noperm", "permission"),
    ("permission denied", "permission"),
    ("statement timeout", "timeout"),
    ("timeout expired", "timeout"),
    ("timed out", "timeout"),
    ("connection refused", "connection"),
    ("could not connect", "connection"),
    ("could not translate host name", "dns"),
    ("name or service not known", "dns"),
    ("temporary failure in name resolution", "dns"),
    ("does not exist", "not_found"),
    ("server closed the connection", "connection"),
    ("no such file or directory", "connection"),  # libpq: the Unix socket is missing (server not running)
    ("connection reset", "connection"),
    ("terminating connection", "connection"),
    ("the database system is starting up", "starting"),
    ("the database system is shutting down", "connection"),
    ("loading the dataset in memory", "starting"),
    ("invalid dsn", "config"),
    ("invalid port", "config"),
    ("invalid integer value", "config"),
)


def classify(exc: BaseException) -> str:
    """A short, stable ``error_kind`` for any probe failure (auth, timeout, connection, dns, config, http_...).

    >>> classify(TimeoutError())
    'timeout'
    """
    if isinstance(exc, APIError | ConfigError):
        return error_kind(exc)
    if isinstance(exc, ImportError):  # e.g. psycopg2 or redis not installed
        return "missing_dependency"
    text = f"{type(exc).__name__} {exc}".lower()
    for needle, kind in _TEXT_KINDS:
        if needle in text:
            return kind
    name = type(exc).__name__
    if name in ("ArgumentError", "ValueError", "NoSuchModuleError", "InvalidURL") or ("url" in text and "invalid" \
            in text):
        return "config"
    if "timeout" in name.lower():
        return "timeout"
    if "connection" in name.lower() or name == "OperationalError" or isinstance(exc, ConnectionError):
        return "connection"
    if "auth" in name.lower():
        return "auth"
    return error_kind(exc)


_EXTRAS = {"psycopg2": "postgres", "redis": "valkey"}


def failure_message(exc: BaseException) -> str:
    """The message of a down sample: the driver's first line, or how to install a missing driver."""
    if isinstance(exc, ImportError) and exc.name:
        extra = _EXTRAS.get(exc.name.split(".")[0])
        hint = f"pip install 'vultr-toolkit[{extra}]'" if extra else f"pip install {exc.name}"
        return f"{exc.name} is not installed: {hint}"
    return first_error_line(exc, with_type=True)


def display_target(url: str) -> str:
    """An endpoint URL with its credentials removed (password and query string; the user name stays).

    >>> display_target("postgresql+psycopg2://app:pw@db.example:5432/prod?sslmode=require")
    'postgresql://app@db.example:5432/prod'
    """
    # Drop the password first, reading it the widest way (up to the last '@'): urllib alone ends the authority
    # at '?', so "u:pw?x@h" parsed as host "u", port "pw" and the fallback below showed the "pw".
    url = drop_url_password(url)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (f"{parts.username}@" if parts.username else "") + host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit((scheme, netloc, parts.path, "", ""))
    except ValueError:  # malformed (e.g. a non-numeric port): show what we can, without the password
        return redact(re.sub(r"(://[^/@:]*):[^@/]*@", r"\1@", url.split("?", 1)[0]))
