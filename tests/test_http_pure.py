"""The pure half of the HTTP core: Retry-After parsing, API message extraction, error mapping, retry rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest

from vultr_toolkit._errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamStalledError,
    StreamTruncatedError,
)
from vultr_toolkit._http import (
    USER_AGENT,
    client_kwargs,
    error_from_exception,
    error_from_response,
    extract_api_message,
    is_idempotent,
    key_label,
    parse_retry_after,
    retry_hint,
    should_retry,
)
from vultr_toolkit._redact import register_secret
from vultr_toolkit._version import __version__

CANARY = "sk-CANARY-pure-0123456789"
register_secret(CANARY)


# -- Retry-After ---------------------------------------------------------------------------------------------------
def test_retry_after_delta_seconds_and_ms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": " 0 "}) == 0.0
    # retry-after-ms (OpenAI-compatible servers) wins over Retry-After.
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_retry_after({}) is None


def test_retry_after_http_date_future_and_past() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    future = format_datetime(now + timedelta(seconds=42), usegmt=True)
    past = format_datetime(now - timedelta(hours=1), usegmt=True)
    assert parse_retry_after({"Retry-After": future}, now=now) == pytest.approx(42.0)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0  # T3: a date in the past means "now"


@pytest.mark.parametrize("value", ["soon", "-3", "nan", "inf", ""])
def test_retry_after_garbage_is_ignored(value: str) -> None:
    assert parse_retry_after({"Retry-After": value}) is None


# -- API message -------------------------------------------------------------------------------------------------
def test_api_message_shapes() -> None:
    assert extract_api_message(b'{"error":"Invalid API token.","status":401}') == "Invalid API token."
    assert extract_api_message(b'{"error":{"message":"No credits","code":402}}') == "No credits"
    assert extract_api_message(b'{"message":"Model not found"}') == "Model not found"
    assert extract_api_message(b'{"status": 500}') is None
    assert extract_api_message(b"") is None
    assert extract_api_message(b"upstream connect error", "text/plain") == "upstream connect error"


def test_api_message_from_vultr_maintenance_html() -> None:
    page = (b"<!DOCTYPE html><html><head><title>Maintenance</title><style>body{color:red}</style></head>"
            b"<body><script>var x = 1;</script><h1>We are currently conducting some software upgrades.</h1>"
            b"<p>Check back in a few minutes!&nbsp;&amp; thanks</p></body></html>")
    msg = extract_api_message(page, "text/html; charset=utf-8")
    assert msg == "We are currently conducting some software upgrades. Check back in a few minutes! & thanks"
    assert "<" not in msg and "color" not in msg and "var x" not in msg


def test_api_message_is_truncated() -> None:
    msg = extract_api_message(b"x" * 5000, "text/plain")
    assert msg is not None and len(msg) <= 300 and msg.endswith("…")


# -- error mapping -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError),
     (422, BadRequestError), (429, RateLimitError), (500, ServerError), (502, ServerError), (503, ServerError),
     (504, ServerError)],
)
def test_status_maps_to_typed_error(status: int, cls: type) -> None:
    err = error_from_response("get", "/instances", status, {}, b'{"error": "nope"}')
    assert type(err) is cls
    assert (err.method, err.path, err.status, err.api_message) == ("GET", "/instances", status, "nope")
    assert str(err).startswith(f"GET /instances failed: HTTP {status}")


def test_403_mentions_ip_restriction_and_401_the_variable() -> None:
    e403 = error_from_response("GET", "/account", 403, {}, b'{"error":"Unauthorized IP address: 203.0.113.9"}')
    assert "IP-restricted" in str(e403) and "Unauthorized IP address" in str(e403)
    e401 = error_from_response("GET", "/account", 401, {}, b'{"error":"Invalid API token."}')
    assert "VULTR_API_KEY" in str(e401)


def test_rate_limit_error_carries_retry_after() -> None:
    err = error_from_response("GET", "/x", 429, {"Retry-After": "12"}, b'{"error":"rate limit exceeded"}')
    assert isinstance(err, RateLimitError) and err.retry_after_s == 12.0
    assert "retry after 12 s" in str(err)


def test_echoed_key_is_redacted_from_errors() -> None:
    body = f'{{"error": "bad token {CANARY}"}}'.encode()
    err = error_from_response("GET", f"/x?k={CANARY}", 401, {}, body)
    for text in (str(err), repr(err), err.api_message or "", err.path or ""):
        assert CANARY not in text


@pytest.mark.parametrize(
    ("status", "idempotent", "expected"),
    [(429, False, True), (503, False, True), (429, True, True), (503, True, True),
     (500, True, True), (502, True, True), (504, True, True),
     (500, False, False), (502, False, False), (504, False, False),
     (400, True, False), (401, True, False), (403, True, False), (404, True, False), (408, True, False),
     (422, True, False), (501, True, False)],
)
def test_status_retry_rules(status: int, idempotent: bool, expected: bool) -> None:
    assert should_retry(error_from_response("POST", "/x", status, {}, b""), idempotent) is expected


def test_x_should_retry_overrides_the_table() -> None:
    assert should_retry(error_from_response("POST", "/x", 500, {"x-should-retry": "true"}, b""), False)
    assert not should_retry(error_from_response("GET", "/x", 503, {"X-Should-Retry": "false"}, b""), True)


def test_transport_errors_map_and_classify() -> None:
    req = httpx2.Request("GET", "http://127.0.0.1:9/v2/x")
    cases = [
        (httpx2.ConnectError("refused", request=req), APIConnectionError, "always"),
        (httpx2.ConnectTimeout("slow", request=req), APITimeoutError, "always"),
        (httpx2.PoolTimeout("pool", request=req), APITimeoutError, "always"),
        (httpx2.ReadTimeout("read", request=req), APITimeoutError, "idempotent"),
        (httpx2.RemoteProtocolError("reset", request=req), APIConnectionError, "idempotent"),
        (httpx2.ReadError("reset by peer", request=req), APIConnectionError, "idempotent"),
    ]
    for exc, cls, when in cases:
        err = error_from_exception("GET", "/x", exc, host="127.0.0.1")
        assert type(err) is cls, exc
        assert retry_hint(err).when == when, exc
        assert should_retry(err, idempotent=False) is (when == "always")
        assert should_retry(err, idempotent=True)


def test_body_and_stream_phases() -> None:
    body_err = error_from_exception("GET", "/x", ValueError("Expecting value"), phase="body")
    assert isinstance(body_err, APIResponseError) and retry_hint(body_err).when == "idempotent"
    assert isinstance(error_from_exception("POST", "/c", httpx2.ReadTimeout("t"), phase="stream"), StreamStalledError)
    trunc = error_from_exception("POST", "/c", httpx2.RemoteProtocolError("incomplete"), phase="stream")
    assert isinstance(trunc, StreamTruncatedError) and not should_retry(trunc, idempotent=True)


def test_foreign_exceptions_are_never_retried() -> None:
    assert not should_retry(RuntimeError("boom"), idempotent=True)


# -- idempotency, factory ------------------------------------------------------------------------------------------
def test_idempotent_methods() -> None:
    assert all(is_idempotent(m) for m in ("GET", "get", "HEAD", "PUT", "DELETE", "OPTIONS"))
    assert not is_idempotent("POST") and not is_idempotent("PATCH")
    assert is_idempotent("POST", idempotent=True) and not is_idempotent("GET", idempotent=False)


def test_client_factory_headers_auth_and_tls() -> None:
    kw = client_kwargs("https://api.example.test/v2", api_key=CANARY, timeout_s=12.0)
    assert kw["headers"]["User-Agent"] == USER_AGENT == f"vultr-toolkit/{__version__}"
    assert kw["headers"]["Accept"] == "application/json"
    assert "Authorization" not in kw["headers"]  # the key lives only in the auth object
    assert CANARY not in repr(kw["auth"]) and CANARY not in repr(kw)
    assert kw["verify"] is True and kw["follow_redirects"] is False
    assert kw["timeout"].read == 12.0 and kw["timeout"].connect == 10.0
    assert kw["base_url"] == "https://api.example.test/v2/"
    with pytest.raises(ConfigError, match="allow_insecure"):
        client_kwargs("https://api.example.test/v2", verify=False)
    with pytest.warns(UserWarning, match="verification is OFF"):
        client_kwargs("https://api.example.test/v2", verify=False, allow_insecure=True)


def test_bearer_auth_is_added_per_request() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={})

    with httpx2.Client(transport=httpx2.MockTransport(handler),
                       **client_kwargs("http://127.0.0.1:9/v2", api_key=CANARY)) as c:
        c.get("instances")
    assert seen[0].headers["Authorization"] == f"Bearer {CANARY}"
    assert str(seen[0].url) == "http://127.0.0.1:9/v2/instances"
    assert CANARY not in repr(seen[0].headers)  # httpx masks Authorization in reprs


def test_key_label() -> None:
    assert key_label(None) == "<unset>"
    assert key_label(CANARY).startswith("<sha256:") and CANARY not in key_label(CANARY)
