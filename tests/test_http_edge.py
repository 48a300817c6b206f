"""Answers the sandbox does not produce (403, redirects, ``retry-after-ms``, ``x-should-retry``), from a scripted
stdlib HTTP server on loopback, plus byte-level body edge cases through httpx2.MockTransport."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import USER_AGENT, HTTPCore, RetryPolicy

KEY = "sk-CANARY-edge-31415926"
POLICY = RetryPolicy(attempts=3, multiplier_s=0.01, budget_min_retries_per_s=10)

Reply = tuple[int, dict[str, str], bytes]


class Scripted:
    """Serves queued replies in order (the last one repeats) and records what arrived."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.seen: list[tuple[float, str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                outer.seen.append((time.monotonic(), self.command, self.path, dict(self.headers.items())))
                if int(self.headers.get("Content-Length") or 0):
                    self.rfile.read(int(self.headers["Content-Length"]))
                status, headers, body = outer.replies[0] if len(outer.replies) == 1 else outer.replies.popleft()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script(self, *replies: Reply) -> None:
        self.replies = deque(replies)
        self.seen.clear()


@pytest.fixture
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.server.shutdown()
    s.server.server_close()


def js(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_identity_headers_reach_the_server(server: Scripted) -> None:
    server.script((200, {}, js({"ok": True})))
    with vt.Client(api_url=server.url, api_key=KEY) as c:
        assert c.management.get("/account") == {"ok": True}
    _, method, path, headers = server.seen[0]
    assert (method, path) == ("GET", "/v2/account")
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["User-Agent"] == USER_AGENT and headers["Accept"] == "application/json"


def test_403_mentions_ip_restriction(server: Scripted) -> None:
    server.script((403, {}, js({"error": "Unauthorized IP address: 198.51.100.7", "status": 403})))
    with vt.Client(api_url=server.url, api_key=KEY, retry=POLICY) as c, \
            pytest.raises(vt.PermissionDeniedError) as ei:
        c.management.get("/account")
    msg = str(ei.value)
    assert "IP-restricted" in msg and "Unauthorized IP address" in msg and KEY not in msg
    assert ei.value.status == 403 and len(server.seen) == 1


def test_redirect_is_not_followed(server: Scripted) -> None:
    server.script((302, {"Location": "http://203.0.113.5/steal"}, b""))
    with vt.Client(api_url=server.url, api_key=KEY, retry=POLICY) as c, \
            pytest.raises(vt.APIStatusError, match=r"redirected to http://203\.0\.113\.5/steal") as ei:
        c.management.get("/account")
    assert ei.value.status == 302 and len(server.seen) == 1


def test_retry_after_ms_is_honoured(server: Scripted) -> None:
    server.script((429, {"retry-after-ms": "400"}, js({"error": {"message": "slow down"}})), (200, {}, js({})))
    with HTTPCore(server.url, api_key=KEY, policy=POLICY) as core:
        core.request_json("POST", "/chat", json={"x": 1})
    (t0, *_), (t1, *_) = server.seen
    assert t1 - t0 >= 0.4


def test_x_should_retry_false_stops_a_503(server: Scripted) -> None:
    server.script((503, {"x-should-retry": "false"}, js({"error": "overloaded"})))
    with HTTPCore(server.url, api_key=KEY, policy=POLICY) as core, pytest.raises(vt.ServerError):
        core.request_json("GET", "/x")
    assert len(server.seen) == 1


def test_x_should_retry_true_retries_a_post_500(server: Scripted) -> None:
    server.script((500, {"x-should-retry": "true"}, js({"error": "transient"})), (200, {}, js({"done": 1})))
    with HTTPCore(server.url, api_key=KEY, policy=POLICY) as core:
        assert core.request_json("POST", "/x", json={}) == {"done": 1}
    assert len(server.seen) == 2


def test_absolute_urls_are_refused_so_the_key_stays_home(server: Scripted) -> None:
    with HTTPCore(server.url, api_key=KEY) as core, pytest.raises(vt.ConfigError, match="relative"):
        core.request_json("GET", "http://203.0.113.5/v2/account")
    assert server.seen == []


# -- byte-level body edge cases (MockTransport: the sandbox cannot produce these exact bytes) --------------------
def mock_core(status: int, content: bytes, headers: dict[str, str] | None = None) -> HTTPCore:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=content, headers=headers or {})

    return HTTPCore("http://127.0.0.1:9/v2", api_key=KEY, policy=POLICY, transport=httpx2.MockTransport(handler))


def test_empty_204_body_is_an_empty_object() -> None:
    assert mock_core(204, b"").request_json("DELETE", "/x") == {}


def test_json_array_is_a_response_error_not_retried() -> None:
    core = mock_core(200, b"[1, 2]")
    with pytest.raises(vt.APIResponseError, match="expected a JSON object, got list"):
        core.request_json("GET", "/x")
    assert core.stats()["requests"] == 1


def test_non_utf8_error_body_still_gives_a_message() -> None:
    with pytest.raises(vt.ServerError) as ei:
        mock_core(502, b"bad \xff\xfe gateway", {"Content-Type": "text/plain"}).request_json("POST", "/x")
    assert ei.value.api_message is not None and "gateway" in ei.value.api_message
