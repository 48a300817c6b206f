"""The wire-truth benchmark's pcap reconstruction, on a synthetic capture written with dpkt (no tcpdump needed).

The capture has a SYN, a request split over two segments, a chunked SSE response whose first content frame is
split across two chunks AND two segments, a retransmitted segment (the same bytes again, later), and a second
request on the same keep-alive connection.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from decimal import Decimal
from pathlib import Path

import dpkt

# Load the benchmark's reader by file path: putting benchmarks/ on sys.path would make its distributed.py shadow
# the dask `distributed` package in every process spawned later in the session (Dask workers failed to start).
_spec = importlib.util.spec_from_file_location(
    "_pcap_streams", Path(__file__).resolve().parents[2] / "benchmarks" / "_pcap_streams.py")
assert _spec is not None and _spec.loader is not None
_pcap_streams = importlib.util.module_from_spec(_spec)
sys.modules["_pcap_streams"] = _pcap_streams
_spec.loader.exec_module(_pcap_streams)
wire_requests = _pcap_streams.wire_requests

SERVER = 8080
CLIENT = 50000
MS = 1_000_000
T0 = 1_700_000_000 * 1_000_000_000


class _Conn:
    def __init__(self, writer: dpkt.pcap.Writer) -> None:
        self.w = writer
        self.seq = {True: 1000, False: 5000}     # ISNs of client→server and server→client

    def seg(self, t_ms: float, to_server: bool, payload: bytes = b"", flags: int = dpkt.tcp.TH_ACK,
            seq: int | None = None) -> int:
        """Write one segment at T0 + t_ms; returns the seq it used (for a retransmission)."""
        s = self.seq[to_server] if seq is None else seq
        tcp = dpkt.tcp.TCP(sport=CLIENT if to_server else SERVER, dport=SERVER if to_server else CLIENT,
                           seq=s, flags=flags, data=payload)
        ip = dpkt.ip.IP(src=socket.inet_aton("127.0.0.1"), dst=socket.inet_aton("127.0.0.1"), p=dpkt.ip.IP_PROTO_TCP,
                        data=tcp)
        eth = dpkt.ethernet.Ethernet(src=b"\0" * 6, dst=b"\0" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        self.w.writepkt(bytes(eth), ts=Decimal(T0 + int(t_ms * MS)) / Decimal(1_000_000_000))
        if seq is None:
            self.seq[to_server] = s + len(payload) + (1 if flags & dpkt.tcp.TH_SYN else 0)
        return s


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _frame(rid: str, delta: str) -> bytes:
    return (f'data: {{"id":"{rid}","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}\n\n').encode()


BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
REQUEST = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _write_capture(path: Path) -> None:
    with path.open("wb") as f:
        c = _Conn(dpkt.pcap.Writer(f, nano=True))
        c.seg(0.0, True, flags=dpkt.tcp.TH_SYN)
        c.seg(0.1, False, flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
        # request 1 in two segments: POST time is the first one
        c.seg(2.0, True, REQUEST[:40])
        c.seg(2.5, True, REQUEST[40:])
        c.seg(3.0, False, HEAD + _chunk(_frame("r1", '{"role":"assistant","content":""}')))
        first = _frame("r1", '{"content":"Hello"}')
        wire = _chunk(first[:20]) + _chunk(first[20:])
        c.seg(52.0, False, wire[:15])              # frame incomplete here ...
        lost = c.seg(53.0, False, wire[15:])         # ... and whole here: the first content event is at 53 ms
        c.seg(60.0, False, wire[15:], seq=lost)     # a retransmission of those bytes must not move it to 60 ms
        c.seg(73.0, False, _chunk(_frame("r1", '{"content":" world"}')))
        c.seg(93.0, False, _chunk(_frame("r1", '{"content":"!"}')) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        # request 2 on the same keep-alive connection
        c.seg(100.0, True, REQUEST)
        c.seg(101.0, False, HEAD + _chunk(_frame("r2", '{"role":"assistant","content":""}')))
        c.seg(151.0, False, _chunk(_frame("r2", '{"reasoning":"hmm"}')) + _chunk(_frame("r2", '{"content":"ok"}')))
        c.seg(171.0, False, _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")


def test_reconstructs_post_and_content_times_through_retransmission_and_chunking(tmp_path: Path) -> None:
    pcap = tmp_path / "synthetic.pcap"
    _write_capture(pcap)
    r1, r2 = wire_requests(pcap, server_port=SERVER)

    assert (r1.order, r1.status, r1.response_id) == (0, 200, "r1")
    assert r1.post_ns == T0 + 2 * MS
    assert r1.connect_ns == T0
    assert r1.role_ns == T0 + 3 * MS
    assert r1.intake_ns == 1 * MS
    assert r1.content_ns == [T0 + 53 * MS, T0 + 73 * MS, T0 + 93 * MS]
    assert r1.content_chars == [5, 6, 1]
    assert r1.ttft_ns == 51 * MS
    assert r1.itl_ns == [20 * MS, 20 * MS]
    assert r1.done_ns == T0 + 93 * MS

    # the second request on the connection: its own POST, reasoning counts as content, two frames in one segment
    assert (r2.order, r2.response_id, r2.connect_ns) == (1, "r2", None)
    assert r2.post_ns == T0 + 100 * MS
    assert r2.content_ns == [T0 + 151 * MS, T0 + 151 * MS]
    assert r2.ttft_ns == 51 * MS
