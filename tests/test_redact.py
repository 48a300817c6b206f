"""Redaction: known values, credential shapes, the logging filter and exception messages."""

from __future__ import annotations

import logging
import traceback

import pytest

import vultr_toolkit as vt
from vultr_toolkit._redact import (
    RedactingFilter,
    fingerprint,
    redact,
    redact_url,
    register_secret,
    register_url_passwords,
    url_passwords,
)

CANARY = "sk-CANARY-redact-0003"


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abcdefghijkl", "abcdefghijkl"),
        ("{'authorization': 'Bearer tok123456789'}", "tok123456789"),
        ("postgresql://app:hunter2pass@db:5432/x", "hunter2pass"),
        ("redis://:vkpassword99@127.0.0.1:6379/0", "vkpassword99"),
        ("host=db password=libpqsecret dbname=x", "libpqsecret"),
        ('{"api_key": "inference-key-123"}', "inference-key-123"),
        ("x-api-key: zzzzzzzz1", "zzzzzzzz1"),
        ("key is sk-live-abcdef0123", "sk-live-abcdef0123"),
    ],
)
def test_shapes_are_masked(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out
    assert "***" in out


def test_registered_value_masked_anywhere() -> None:
    register_secret("plainvalue-without-shape-42")
    assert redact("x=plainvalue-without-shape-42;") == "x=***;"


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc def") == "abc def"


def test_non_secret_text_untouched() -> None:
    text = "GET /v2/instances?per_page=500 -> 200 in 12.5 ms"
    assert redact(text) == text


def test_fingerprint_is_stable_and_short() -> None:
    assert fingerprint("a") == fingerprint("a") != fingerprint("b")
    assert len(fingerprint("a")) == len("sha256:") + 8
    assert fingerprint(None) == "<unset>"


def test_errors_redact_their_message_and_fields() -> None:
    register_secret(CANARY)
    err = vt.AuthenticationError(f"bad key {CANARY}", method="GET", path=f"/x?key={CANARY}", status=401,
                                 api_message=f"token {CANARY} invalid")
    try:
        raise err
    except vt.AuthenticationError as e:
        rendered = "".join(traceback.format_exception(e)) + repr(e) + str(e) + str(e.path) + str(e.api_message)
    assert CANARY not in rendered
    assert err.kind == "http_401"


def test_logging_filter_on_handler_redacts_child_logger_records(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(CANARY)
    handler = logging.StreamHandler()
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    collect = Collect()
    collect.addFilter(RedactingFilter())
    child = logging.getLogger("httpcore.http11.test")
    child.addHandler(collect)
    child.setLevel(logging.DEBUG)
    try:
        child.debug("send headers %s", {"authorization": f"Bearer {CANARY}"})
        try:
            raise RuntimeError(f"failed with {CANARY}")
        except RuntimeError:
            child.exception("boom")
    finally:
        child.removeHandler(collect)
        handler.close()
    joined = "\n".join(records)
    assert "send headers" in joined and "boom" in joined
    assert CANARY not in joined


def test_error_kind_vocabulary() -> None:
    assert vt.RateLimitError("x", status=429).kind == "http_429"
    assert vt.ServerError("x", status=504).kind == "http_5xx"
    assert vt.InBandStreamError("x").kind == "in_band_error"
    assert vt.StreamTruncatedError("x").kind == "truncated"
    assert vt.StreamStalledError("x").kind == "stalled"
    assert vt.APITimeoutError("x").kind == "timeout"
    assert vt.NotFoundError("x", status=404).kind == "http_404"


def test_precheck_never_skips_text_that_redact_would_change() -> None:
    from vultr_toolkit._redact import might_hold_secret

    register_secret("opaque-registered-value-77")
    samples = [
        "Authorization: Bearer abcdefghijkl", "postgresql://app:hunter2pass@db:5432/x", "host=db password=x1y2z3",
        '{"api_key": "inference-key-123"}', "x-api-key: zzzzzzzz1", "key is sk-live-abcdef0123",
        "s3_secret_key=abcdefgh", "PASSWD=abcdefgh", "got opaque-registered-value-77 back", "connection refused",
        "GET /v2/instances -> 200", "",
    ]
    for text in samples:
        if redact(text) != text:
            assert might_hold_secret(text), text
    assert not might_hold_secret("connection refused")


# Found by the settings fuzzer: urllib ends a URL's authority at '?', so a password holding '?' (or a control
# character, which the shape regex treats as whitespace) was never registered and showed in repr(Settings).
@pytest.mark.parametrize("password", ["pw?CANARY-q1", "pwCANARY\x1d-ctrl2", "p/w#CANARY-3", "a@bCANARY-at4"])
def test_odd_url_passwords_are_registered_and_masked(password: str) -> None:
    url = f"postgresql://u:{password}@h:5432/db"
    assert password in url_passwords(url)
    assert "CANARY" not in redact_url(url)
    register_url_passwords(url)
    assert redact(f"could not connect with {password}") == "could not connect with ***"
    if any(c in password for c in "/?#@"):  # refused since field report item 16, without echo
        with pytest.raises(vt.ConfigError, match="percent-encode") as ei:
            vt.Settings(store=url, _env_file=None)
        assert "CANARY" not in str(ei.value)
        return
    s = vt.Settings(store=url, _env_file=None)
    assert "CANARY" not in repr(s) and "CANARY" not in str(s)


def test_url_passwords_reads_nothing_from_urls_without_one() -> None:
    assert url_passwords("redis://127.0.0.1:6379/0") == set()
    assert url_passwords("postgresql://h/db?application_name=a@b") == set()
    assert url_passwords("not a url") == set()
