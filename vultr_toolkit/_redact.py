"""Secret redaction: one place that knows what a secret looks like.

Two mechanisms, used together:

* **Known values.** Every secret the toolkit is handed (API keys, passwords in database URLs) is registered
  with :func:`register_secret`; :func:`redact` replaces each occurrence, wherever it appears.
* **Shapes.** Text we never saw before can still carry credentials: ``Authorization: Bearer ...`` headers,
  ``scheme://user:password@host`` URLs, ``password=...`` DSN fragments, ``sk-...`` style keys. These are masked by
  pattern.

:class:`RedactingFilter` applies :func:`redact` to log records. It is attached to *handlers* (a logger-level
filter does not see records from child loggers such as ``httpcore.http11``), see :func:`install_log_redaction`.

Example::

    >>> register_secret("sk-CANARY-123456")
    >>> redact("key sk-CANARY-123456 leaked")
    'key *** leaked'
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = [
    "RedactingFilter",
    "drop_url_password",
    "fingerprint",
    "install_log_redaction",
    "might_hold_secret",
    "redact",
    "redact_obj",
    "redact_url",
    "register_secret",
    "register_url_passwords",
    "url_passwords",
]

MASK = "***"
_MIN_SECRET_LEN = 6  # shorter strings would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None

_SHAPES: list[tuple[re.Pattern[str], str]] = [
    # Authorization / API-key style headers, in reprs, dicts and raw HTTP text.
    (re.compile(r"(?i)(\b(?:authorization|proxy-authorization)['\"]?\s*[:=]\s*['\"]?\s*(?:bearer|basic|token)\s+)"
                r"[^\s'\",}]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + MASK),
    (re.compile(r"(?i)(\b(?:x-api-key|api-key|api_key|apikey)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"), r"\1" + MASK),
    # user:password@host in any URL-ish string.
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]+(@)"), r"\1" + MASK + r"\2"),
    # libpq keyword DSNs and query strings.
    (re.compile(r"(?i)(\b(?:password|passwd|pwd|secret|s3_secret_key|s3_access_key|access_key)['\"]?\s*[:=]\s*"
                r"['\"]?)[^\s'\",}&]+"), r"\1" + MASK),
    # OpenAI-style keys and our canaries.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), MASK),
]


# Every credential shape in _SHAPES contains one of these (lower-cased) words; keep the two lists in step.
_SUSPECT_WORDS = ("auth", "bearer", "key", "://", "pass", "pwd", "secret", "sk-")


def might_hold_secret(text: str) -> bool:
    """A cheap pre-check: False means :func:`redact` would return ``text`` unchanged.

    Bulk writers (a million health samples) use it to skip the regex pass on ordinary text.

    >>> might_hold_secret("connection refused"), might_hold_secret("password=x")
    (False, True)
    """
    low = text.lower()
    if any(w in low for w in _SUSPECT_WORDS):
        return True
    secrets = _secrets
    return bool(secrets) and any(s in text for s in tuple(secrets))


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` masks it everywhere from now on.

    >>> register_secret("hunter2-very-secret")
    """
    global _secret_re
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first so that a secret containing another is masked whole.
        alts = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in alts))


def redact(text: str) -> str:
    """Mask every known secret and every credential-shaped fragment in ``text``.

    >>> redact("postgresql://app:pw123456@db:5432/x")
    'postgresql://app:***@db:5432/x'
    """
    if not text:
        return text
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for rx, repl in _SHAPES:
        text = rx.sub(repl, text)
    return text


def redact_obj(obj: Any) -> Any:
    """Redact strings inside nested dicts/lists (for JSON ``details`` before they are stored)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


def redact_url(url: str) -> str:
    """A URL with its password (and any known secret) removed, for ``target`` columns and reprs.

    >>> redact_url("redis://:s3cretpass@127.0.0.1:6379/0")
    'redis://:***@127.0.0.1:6379/0'
    """
    text = redact(url)
    # The shapes stop a password at whitespace or '/', and urllib ends the authority at '?' or '#', but
    # SQLAlchemy and libpq read a password up to '@' whatever it holds (control characters included). For a
    # string known to be one URL, mask from the user's ':' to the last '@' — over-masking beats a leak.
    return _URL_USERINFO.sub(r"\1:" + MASK + r"\2", text)


def drop_url_password(url: str) -> str:
    """``url`` without its password, read the widest way (from the user's ``:`` up to the last ``@``).

    >>> drop_url_password("postgresql://app:p?w@db:5432/x")
    'postgresql://app@db:5432/x'
    """
    return _URL_USERINFO.sub(r"\1\2", url)


# scheme://user (group 1), ':' + anything, then the last '@' and what follows (group 2)
_URL_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*):.*(@[^@]*)$", re.IGNORECASE | re.DOTALL)


# '@' then something shaped like host[:port] and the end of an authority: in a URL's path, query or fragment this is
# the tail of a password holding a raw '/', '?' or '#'.
_HOST_AFTER_AT = re.compile(r"@[\w.\-\[\]%]+(?::\d+)?(?:[/?#]|$)")


def check_url_userinfo(url: str, what: str = "the URL") -> str:
    """Refuse a URL whose password holds a raw ``/``, ``?``, ``#`` or ``@``; return it unchanged otherwise.

    Such a URL has no single reading: urllib ends the authority at the first ``/``/``?``/``#`` (the rest of the
    password becomes the path, which then shows in targets, errors and logs), SQLAlchemy and libpq split at a
    different ``@`` than urllib. Guessing would make the password leak through whichever parser guessed otherwise,
    so it is refused, for every scheme, with a message that echoes no part of it.

    >>> check_url_userinfo("redis://:p%2Fw@127.0.0.1:6379/0")
    'redis://:p%2Fw@127.0.0.1:6379/0'
    >>> check_url_userinfo("redis://:p/w@127.0.0.1:6379/0")
    Traceback (most recent call last):
    ...
    vultr_toolkit.ConfigError: the URL: the user name or password holds a raw '/', '?', '#' or '@' ...
    """
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    host, _, port = authority.rpartition(":") if "@" not in authority else ("", "", "")
    # The authority as urllib cut it cannot be a whole one: it ends in '@' (no host), or it is 'user:pa' with
    # no '@' (a "port" that is not a number, or no host before it).
    cut_short = authority.endswith("@") or (":" in authority and "@" not in authority
                                            and (not host or not port.isdigit()))
    if authority.count("@") > 1 or (cut_short and _HOST_AFTER_AT.search(tail)):
        from ._errors import ConfigError  # _errors imports this module

        raise ConfigError(f"{what}: the user name or password holds a raw '/', '?', '#' or '@' (... the rest is "
                          "not shown); percent-encode it, e.g. urllib.parse.quote(password, safe='') turns '/' "
                          "into %2F and '@' into %40")
    return url


def url_passwords(url: str) -> set[str]:
    """Every string a client library could take for the password in ``url`` (to register as secrets).

    urllib ends the authority at ``?``/``#`` and splits at the last ``@``; SQLAlchemy reads the password up to the
    first ``@``. Both readings are returned so that neither can leak.

    >>> sorted(url_passwords("postgresql://u:p?ss@h/db"))
    ['p?ss']
    """
    from urllib.parse import urlsplit

    found: set[str] = set()
    try:
        if (pw := urlsplit(url).password):
            found.add(pw)
    except ValueError:  # a malformed port or IPv6 literal: the regex reading below still applies
        pass
    m = _SQLALCHEMY_USERINFO.match(url)
    if m and m.group(1):
        found.add(m.group(1))
    return found


def register_url_passwords(url: str) -> None:
    """Register every reading of ``url``'s password (see :func:`url_passwords`) with :func:`register_secret`.

    >>> register_url_passwords("redis://:a-long-password@h:6379/0")
    >>> redact("auth failed for a-long-password")
    'auth failed for ***'
    """
    for password in url_passwords(url):
        register_secret(password)


# SQLAlchemy's URL grammar: ``name://username[:password]@...`` with username ``[^:/]*`` and password ``[^@]*``.
_SQLALCHEMY_USERINFO = re.compile(r"[\w+]+://[^:/]*:([^@]*)@", re.DOTALL)


def fingerprint(secret: str | None) -> str:
    """A short, non-reversible fingerprint of a secret: enough to tell two keys apart, useless to an attacker.

    >>> fingerprint("abc")[:7]
    'sha256:'
    """
    if not secret:
        return "<unset>"
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]


class RedactingFilter(logging.Filter):
    """A logging filter that renders the record's message, redacts it, and freezes the result.

    Attach it to handlers (not only loggers) so that records from child loggers pass through it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken %-format must not kill logging; keep the raw template
            msg = str(record.msg)
        record.msg = redact(msg)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so handlers print the safe text instead of re-rendering it.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_LOGGERS = ("vultr_toolkit", "httpx", "httpx2", "httpcore", "httpcore2", "tenacity", "aiohttp", "redis",
            "sqlalchemy", "urllib3")
_installed: set[int] = set()


def install_log_redaction(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Attach :class:`RedactingFilter` to the given handlers, or to every handler of the root logger and of the
    loggers the toolkit talks through (httpx2/httpcore, tenacity, aiohttp, redis, sqlalchemy).

    Called on import of :mod:`vultr_toolkit`; call it again after you add handlers of your own.

    >>> install_log_redaction()
    """
    if handlers is None:
        hs: list[logging.Handler] = list(logging.getLogger().handlers)
        for name in _LOGGERS:
            hs.extend(logging.getLogger(name).handlers)
    else:
        hs = list(handlers)
    for h in hs:
        if id(h) in _installed or any(isinstance(f, RedactingFilter) for f in h.filters):
            continue
        h.addFilter(RedactingFilter())
        _installed.add(id(h))
    # Logger-level too: catches records logged directly on these loggers before any handler sees them.
    for name in _LOGGERS:
        lg = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in lg.filters):
            lg.addFilter(RedactingFilter())
