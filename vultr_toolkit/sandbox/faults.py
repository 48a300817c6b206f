"""Fault injection for the sandbox: seeded, per route pattern, applied to real HTTP responses.

A :class:`FaultRule` holds probabilities of each fault kind for the paths its ``pattern`` matches
(:func:`fnmatch.fnmatchcase` on the URL path, e.g. ``"/v2/instances*"``) plus an added-latency distribution. The
most recently set rule that matches a path wins. Each rule draws from its own :class:`random.Random`, so a given
seed and request order always give the same faults.

What each kind looks like on the wire (shaped after what the live Vultr API and its inference gateway send):

=============  ==================================================================================================
``p429``       429 ``{"status": 429, "error": "rate limit exceeded"}`` + ``Retry-After`` (seconds or HTTP-date)
``p500/2/3``   JSON ``{"error": ..., "status": ...}``
``p504``       an HTML maintenance page (``text/html``), as during Vultr's 2023 maintenance window
``reset``      the TCP connection is aborted with RST before any byte of the response
``truncated``  200 whose JSON body is cut: a correct ``Content-Length`` of the cut body (``truncated_mode=
               "length"``), or the full length announced and the connection closed mid-body (``"close"``)
``malformed``  200 with a body that is not valid JSON
=============  ==================================================================================================

Example::

    >>> inj = FaultInjector(seed=0)
    >>> _ = inj.set("/v2/*", p503=1.0)
    >>> inj.draw("/v2/instances").kind, inj.draw("/v1/models").kind
    ('p503', 'none')
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal

from aiohttp import web

from .._errors import ConfigError

__all__ = [
    "FAULT_KINDS",
    "MAINTENANCE_HTML",
    "FaultDecision",
    "FaultInjector",
    "FaultRule",
    "LatencySpec",
    "abort_connection",
    "draw_latency_ms",
    "error_response",
    "retry_after_header",
]

# Every value of the request log's ``fault`` column (a fixed category set, the same for 0 or N requests).
FAULT_KINDS: tuple[str, ...] = ("none", "p429", "p500", "p502", "p503", "p504", "reset", "truncated", "malformed",
                                "rate_limited")
_DRAWN_KINDS = ("p429", "p500", "p502", "p503", "p504", "reset", "truncated", "malformed")

LatencySpec = float | int | tuple[float, float] | Callable[[], float] | None

MAINTENANCE_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Vultr - Maintenance</title></head>\n<body>\n"
    "<h1>We'll be back soon!</h1>\n"
    "<p>We are currently conducting some software upgrades. Check back in a few minutes!</p>\n"
    "</body></html>\n"
)
_ERROR_TEXT = {
    400: "Bad request.",
    401: "Invalid API token.",
    404: "Not found.",
    405: "Method not allowed.",
    429: "rate limit exceeded",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service temporarily unavailable.",
    504: "Gateway timeout.",
}


def error_response(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    """A Vultr-style JSON error: ``{"error": <message>, "status": <status>}``.

    >>> error_response(404).status
    404
    """
    body = {"error": message or _ERROR_TEXT.get(status, "Error."), "status": status}
    return web.json_response(body, status=status, headers=headers)


def retry_after_header(retry_after_s: float | str | None, now: float | None = None) -> str | None:
    """The ``Retry-After`` value: whole seconds (rounded up), an HTTP-date for ``"date"``, or None for no header.

    An HTTP-date has one-second resolution, so ``"date"`` points 2 s ahead to stay in the future after rounding.

    >>> retry_after_header(1.2)
    '2'
    >>> retry_after_header("date", now=0.0)
    'Thu, 01 Jan 1970 00:00:02 GMT'
    """
    if retry_after_s is None:
        return None
    if retry_after_s == "date":
        return formatdate((time.time() if now is None else now) + 2, usegmt=True)
    if isinstance(retry_after_s, str):
        raise ConfigError(f"retry_after_s must be a number of seconds, 'date' or None, got {retry_after_s!r}")
    return str(max(0, math.ceil(retry_after_s)))


def draw_latency_ms(spec: LatencySpec, rng: random.Random) -> float:
    """Milliseconds to add: a constant, a normal ``(mean, sd)`` (clipped at 0), or whatever a callable returns.

    >>> draw_latency_ms((20.0, 0.0), random.Random(0)), draw_latency_ms(None, random.Random(0))
    (20.0, 0.0)
    """
    if spec is None:
        return 0.0
    if callable(spec):
        return max(0.0, float(spec()))
    if isinstance(spec, tuple):
        mean, sd = spec
        return max(0.0, rng.gauss(mean, sd)) if sd else max(0.0, float(mean))
    return max(0.0, float(spec))


@dataclass
class FaultRule:
    """Fault probabilities and added latency for the paths matching ``pattern``."""

    pattern: str
    probabilities: dict[str, float]
    latency_ms: LatencySpec = None
    retry_after_s: float | str | None = 1
    truncated_mode: Literal["length", "close"] = "length"
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def draw(self) -> tuple[str, float]:
        """Pick the fault kind for one request (``"none"`` most of the time) and its added latency in ms."""
        u = self.rng.random()
        kind = "none"
        acc = 0.0
        for name in _DRAWN_KINDS:
            p = self.probabilities.get(name, 0.0)
            if p and u < acc + p:
                kind = name
                break
            acc += p
        return kind, draw_latency_ms(self.latency_ms, self.rng)


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one request: the fault kind, the added latency, and the rule it came from."""

    kind: str
    latency_ms: float
    rule: FaultRule | None


_NO_FAULT = FaultDecision("none", 0.0, None)


class FaultInjector:
    """The set of active :class:`FaultRule` objects; thread-safe (tests configure it while the server runs)."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._count = 0  # distinct default seeds for successive rules

    def set(self, pattern: str = "/v2/*", *, p429: float = 0.0, p500: float = 0.0, p502: float = 0.0,
            p503: float = 0.0, p504: float = 0.0, reset: float = 0.0, truncated: float = 0.0,
            malformed: float = 0.0, latency_ms: LatencySpec = None, retry_after_s: float | str | None = 1,
            truncated_mode: Literal["length", "close"] = "length", seed: int | None = None) -> FaultRule:
        """Install (or replace) the rule for ``pattern``; see :meth:`Sandbox.set_faults`."""
        probs = {"p429": p429, "p500": p500, "p502": p502, "p503": p503, "p504": p504, "reset": reset,
                 "truncated": truncated, "malformed": malformed}
        for name, p in probs.items():
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"set_faults({name}={p!r}): a probability must be between 0 and 1")
        if sum(probs.values()) > 1.0 + 1e-9:
            raise ConfigError(f"set_faults: the probabilities add up to {sum(probs.values()):.3f}; keep the sum <= 1")
        if truncated_mode not in ("length", "close"):
            raise ConfigError(f"set_faults(truncated_mode={truncated_mode!r}): use 'length' or 'close'")
        retry_after_header(retry_after_s)  # validates
        if isinstance(latency_ms, tuple) and len(latency_ms) != 2:
            raise ConfigError("set_faults(latency_ms=...): a tuple must be (mean_ms, sd_ms)")
        with self._lock:
            self._count += 1
            rule_seed = seed if seed is not None else f"{self._seed}:faults:{pattern}:{self._count}"
            rule = FaultRule(pattern, {k: v for k, v in probs.items() if v}, latency_ms, retry_after_s,
                             truncated_mode, random.Random(rule_seed))
            self._rules = [r for r in self._rules if r.pattern != pattern] + [rule]
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules = []

    @property
    def rules(self) -> list[FaultRule]:
        """The active rules, oldest first (the last matching one wins)."""
        with self._lock:
            return list(self._rules)

    def draw(self, path: str) -> FaultDecision:
        """The decision for a request to ``path``."""
        rules = self._rules  # a list is replaced, never mutated in place: reading it needs no lock
        for rule in reversed(rules):
            if fnmatch.fnmatchcase(path, rule.pattern):
                kind, latency = rule.draw()
                return FaultDecision(kind, latency, rule)
        return _NO_FAULT

    # --- applying a decision ----------------------------------------------------------------------------------
    @staticmethod
    def status_response(decision: FaultDecision) -> web.Response | None:
        """The canned response for a status fault (429/5xx), or None for the other kinds."""
        kind = decision.kind
        if kind == "p429":
            value = retry_after_header(decision.rule.retry_after_s if decision.rule else 1)
            return error_response(429, headers={"Retry-After": value} if value is not None else None)
        if kind in ("p500", "p502", "p503"):
            return error_response(int(kind[1:]))
        if kind == "p504":
            return web.Response(status=504, text=MAINTENANCE_HTML, content_type="text/html")
        return None

    @staticmethod
    async def corrupt(request: web.Request, response: web.StreamResponse,
                      decision: FaultDecision) -> web.StreamResponse:
        """Turn a finished 200 JSON response into a truncated or malformed one (body faults).

        Streaming responses (already sent) are returned unchanged.
        """
        if not isinstance(response, web.Response) or not isinstance(response.body, bytes | bytearray):
            return response
        body = bytes(response.body)
        rng = decision.rule.rng if decision.rule else random.Random(0)
        if decision.kind == "malformed":
            cut = len(body) // 2
            # Inject garbage in the middle: a parser fails however lenient it is about whitespace or trailing data.
            return web.Response(status=200, body=body[:cut] + b"\x00}{<garbage" + body[cut:],
                                content_type="application/json")
        cut = max(1, min(len(body) - 1, int(len(body) * rng.uniform(0.2, 0.8))))
        if decision.rule is not None and decision.rule.truncated_mode == "close":
            stream = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            stream.content_length = len(body)
            await stream.prepare(request)
            await stream.write(body[:cut])
            abort_connection(request, rst=False)
            return stream
        return web.Response(status=200, body=body[:cut], content_type="application/json")


def abort_connection(request: web.Request, *, rst: bool = True) -> None:
    """Drop the client's TCP connection now.

    With ``rst`` the socket lingers 0 s, so the kernel answers with RST and the peer sees "connection reset";
    without it, what was written is flushed and then the connection is closed (FIN) — a body cut short.
    """
    transport = request.transport
    if transport is None:
        return
    if not rst:
        transport.close()
        return
    sock: Any = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
