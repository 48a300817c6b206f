"""Wire truth from a loopback capture: per HTTP request, the POST time and the time of every SSE content frame.

Reads a pcap (tcpdump, nanosecond or microsecond precision) with ``dpkt``, reassembles each TCP direction by
sequence number (a retransmitted segment keeps the timestamp of the byte's FIRST appearance on the wire),
pairs requests and responses in order on each keep-alive connection, undoes chunked transfer encoding and
splits the body into SSE messages. A message's wire time is the capture time of the segment that carried its
last byte (the ``\\n\\n``) — the earliest instant a client could have had it whole.

    >>> reqs = wire_requests("run.pcap", server_port=8080)        # doctest: +SKIP
    >>> reqs[0].post_ns, reqs[0].role_ns, reqs[0].content_ns[:2]  # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import itertools
import json
import socket
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import dpkt

_SEQ_MOD = 1 << 32


@dataclass
class WireRequest:
    """One request/response exchange as seen on the wire (all times in pcap nanoseconds)."""

    conn: tuple[str, int]            # client (address, port)
    order: int                       # position on its keep-alive connection
    post_ns: int                     # first segment of the request
    status: int | None = None
    response_id: str = ""
    role_ns: int | None = None       # the role-only frame (delta with empty content)
    content_ns: list[int] = field(default_factory=list)   # every frame carrying content/reasoning
    content_chars: list[int] = field(default_factory=list)
    done_ns: int | None = None
    connect_ns: int | None = None    # the connection's SYN (first request on a connection only)

    @property
    def ttft_ns(self) -> int | None:
        return self.content_ns[0] - self.post_ns if self.content_ns else None

    @property
    def intake_ns(self) -> int | None:
        """Emulator intake: role-only frame − POST (the server's queue + handler start)."""
        return self.role_ns - self.post_ns if self.role_ns is not None else None

    @property
    def itl_ns(self) -> list[int]:
        c = self.content_ns
        return [b - a for a, b in itertools.pairwise(c)]


class _Stream:
    """One direction of a TCP connection: bytes in sequence order, each run tagged with its first wire time."""

    def __init__(self) -> None:
        self.isn: int | None = None
        self.syn_ns: int | None = None
        self.segments: list[tuple[int, int, bytes]] = []   # (ts_ns, seq, payload) in capture order

    def add(self, ts_ns: int, seq: int, payload: bytes, syn: bool) -> None:
        if syn:
            self.isn = (seq + 1) % _SEQ_MOD
            self.syn_ns = ts_ns
        elif payload:
            self.segments.append((ts_ns, seq, payload))

    def assemble(self) -> tuple[bytes, list[int], list[int]]:
        """(data, run starts, run times): data[off] was first on the wire at times[bisect(starts, off) - 1]."""
        if not self.segments:
            return b"", [], []
        base = self.isn if self.isn is not None else min(s for _, s, _ in self.segments)
        # relative offsets; capture order breaks ties so a retransmission sorts after the original
        segs = sorted(((seq - base) % _SEQ_MOD, i, ts, p) for i, (ts, seq, p) in enumerate(self.segments))
        data = bytearray()
        starts: list[int] = []
        times: list[int] = []
        end = 0
        for off, _, ts, p in segs:
            if off + len(p) <= end:
                continue                      # a pure retransmission: those bytes were on the wire already
            if off > end:
                break                         # a hole (capture dropped a segment): stop at the last whole byte
            piece = p[end - off:]
            starts.append(len(data))
            times.append(ts)
            data += piece
            end += len(piece)
        # a retransmitted byte may have been captured earlier than a lower-seq one only if the capture is
        # reordered; keep times monotone so "the message was whole at" never goes backwards
        for i in range(1, len(times)):
            times[i] = max(times[i], times[i - 1])
        return bytes(data), starts, times


def _time_at(starts: list[int], times: list[int], off: int) -> int:
    return times[bisect.bisect_right(starts, off) - 1]


def _headers(block: bytes) -> tuple[str, dict[str, str]]:
    lines = block.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs


def _requests(data: bytes) -> list[int]:
    """Start offsets of the HTTP requests in a client→server byte stream."""
    out = []
    pos = 0
    while pos < len(data):
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        _, hdrs = _headers(data[pos:head_end])
        out.append(pos)
        pos = head_end + 4 + int(hdrs.get("content-length", "0"))
    return out


def _responses(data: bytes) -> list[tuple[int, bytes, list[tuple[int, int, int]]]]:
    """Per response: (status, decoded body, [(raw end offset, start, end) of each SSE message in the body])."""
    out: list[tuple[int, bytes, list[tuple[int, int, int]]]] = []
    pos = 0
    while pos < len(data):
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        status_line, hdrs = _headers(data[pos:head_end])
        status = int(status_line.split()[1])
        pos = head_end + 4
        body = bytearray()
        raw_at: list[tuple[int, int]] = []           # (decoded start, raw start) of each decoded piece
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            while True:
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    pos = len(data)
                    break
                size = int(data[pos:line_end].split(b";")[0], 16)
                pos = line_end + 2
                if size == 0:
                    trailer_end = data.find(b"\r\n", pos)
                    pos = len(data) if trailer_end < 0 else trailer_end + 2
                    break
                raw_at.append((len(body), pos))
                body += data[pos:pos + size]
                pos += size + 2
        else:
            n = int(hdrs.get("content-length", str(len(data) - pos)))
            raw_at.append((0, pos))
            body += data[pos:pos + n]
            pos += n
        dec_starts = [d for d, _ in raw_at]

        def raw(off: int, dec_starts: list[int] = dec_starts, raw_at: list[tuple[int, int]] = raw_at) -> int:
            i = bisect.bisect_right(dec_starts, off) - 1
            return raw_at[i][1] + off - raw_at[i][0]

        frames = []
        start = 0
        while (end := body.find(b"\n\n", start)) >= 0:
            frames.append((raw(end + 1), start, end))
            start = end + 2
        out.append((status, bytes(body), frames))
    return out


def _classify(message: bytes) -> tuple[str, str, int]:
    """(kind, response id, content chars) of one SSE message: role / content / done / other."""
    text = message.strip()
    if not text.startswith(b"data:"):
        return "other", "", 0
    payload = text[5:].strip()
    if payload == b"[DONE]":
        return "done", "", 0
    try:
        doc = json.loads(payload)
    except ValueError:
        return "other", "", 0
    rid = doc.get("id", "") if isinstance(doc, dict) else ""
    choices = doc.get("choices") or [] if isinstance(doc, dict) else []
    if not choices:
        return "other", rid, 0
    delta = choices[0].get("delta") or {}
    chars = sum(len(delta.get(k) or "") for k in ("content", "reasoning", "reasoning_content"))
    if chars:
        return "content", rid, chars
    if "role" in delta:
        return "role", rid, 0
    return "other", rid, 0


def wire_requests(pcap: str | Path, server_port: int) -> list[WireRequest]:
    """Every request to ``server_port`` in the capture, with its wire times (see the module docstring)."""
    streams: dict[tuple[tuple[str, int], bool], _Stream] = {}
    with open(pcap, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        link = reader.datalink()
        # dpkt gives a Decimal for nanosecond pcaps (exact) and a float for microsecond ones
        for ts, buf in reader:
            ts_ns = int(ts * 1_000_000_000) if isinstance(ts, Decimal) else round(ts * 1e6) * 1000
            ip = _ip(buf, link)
            if ip is None or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            tcp = ip.data
            src = (_addr(ip.src), tcp.sport)
            dst = (_addr(ip.dst), tcp.dport)
            if tcp.dport == server_port:
                key, to_server = src, True
            elif tcp.sport == server_port:
                key, to_server = dst, False
            else:
                continue
            streams.setdefault((key, to_server), _Stream()).add(ts_ns, tcp.seq, bytes(tcp.data),
                                                                bool(tcp.flags & dpkt.tcp.TH_SYN))
    out: list[WireRequest] = []
    for (conn, to_server), up in sorted(streams.items()):
        if not to_server:
            continue
        cdata, cstarts, ctimes = up.assemble()
        down = streams.get((conn, False), _Stream())
        sdata, sstarts, stimes = down.assemble()
        responses = _responses(sdata)
        for order, off in enumerate(_requests(cdata)):
            req = WireRequest(conn=conn, order=order, post_ns=_time_at(cstarts, ctimes, off),
                              connect_ns=up.syn_ns if order == 0 else None)
            if order < len(responses):
                status, body, frames = responses[order]
                req.status = status
                for raw_end, s, e in frames:
                    kind, rid, chars = _classify(body[s:e])
                    t = _time_at(sstarts, stimes, raw_end)
                    req.response_id = req.response_id or rid
                    if kind == "role" and req.role_ns is None:
                        req.role_ns = t
                    elif kind == "content":
                        req.content_ns.append(t)
                        req.content_chars.append(chars)
                    elif kind == "done":
                        req.done_ns = t
            out.append(req)
    out.sort(key=lambda r: r.post_ns)
    return out


def _ip(buf: bytes, link: int) -> dpkt.ip.IP | dpkt.ip6.IP6 | None:
    if link == dpkt.pcap.DLT_EN10MB:
        eth = dpkt.ethernet.Ethernet(buf)
        data = eth.data
    elif link == dpkt.pcap.DLT_LINUX_SLL:
        data = dpkt.sll.SLL(buf).data
    elif link == dpkt.pcap.DLT_RAW or link == 101:
        data = dpkt.ip.IP(buf)
    else:
        return None
    return data if isinstance(data, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def _addr(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
