"""Field report item 9: ``deadline_s`` bounds the whole call, body included (a loopback server trickles bytes)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import AsyncHTTPCore, HTTPCore, RetryPolicy

BODY = b'{"account": "' + b"x" * 200 + b'"}'


@pytest.fixture
def trickle_url() -> Iterator[str]:
    """A loopback HTTP server that sends headers at once, then the body one byte every 0.5 s."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(BODY))
            for b in BODY:
                if stop.wait(0.5):
                    return
                try:
                    conn.sendall(bytes([b]))
                except OSError:
                    return

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v2"
    stop.set()
    t.join(5)
    srv.close()


POLICY = RetryPolicy(deadline_s=2.0, multiplier_s=0.01)


def test_sync_request_raises_timeout_at_the_deadline_while_the_body_trickles(trickle_url: str) -> None:
    core = HTTPCore(trickle_url, api_key="sk-test-000000", policy=POLICY, timeout_s=5)
    t0 = time.monotonic()
    with pytest.raises(vt.APITimeoutError, match="deadline of 2 s"):
        core.request("GET", "/account")
    core.close()
    assert time.monotonic() - t0 < 6  # the body alone takes > 100 s at this pace


def test_async_request_raises_timeout_at_the_deadline_while_the_body_trickles(trickle_url: str) -> None:
    async def main() -> None:
        core = AsyncHTTPCore(trickle_url, api_key="sk-test-000000", policy=POLICY, timeout_s=5)
        try:
            await core.request("GET", "/account")
        finally:
            await core.aclose()

    t0 = time.monotonic()
    with pytest.raises(vt.APITimeoutError, match="deadline of 2 s"):
        asyncio.run(main())
    assert time.monotonic() - t0 < 6
