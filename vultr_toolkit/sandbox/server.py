"""The sandbox server: both Vultr APIs over real HTTP on 127.0.0.1, in a background thread.

One aiohttp application serves the management half (``/v2``, :mod:`.management`) and the inference half
(``/v1``, :mod:`.inference`) on a private event loop (uvloop when installed) in a daemon thread, so it works from
scripts, tests and a running Jupyter kernel alike. One middleware wraps every request in this order:

1. stamp arrival (:func:`time.time` and :func:`time.monotonic`);
2. ``/v2`` only: the per-IP rolling rate limit (429 with ``Retry-After``), then the constructor's ``latency_ms``;
3. the fault rule matching the path (:mod:`.faults`): added latency, a canned 429/5xx, a reset, or a body fault
   applied to the real response;
4. record the row in the request log (:mod:`.reqlog`) — never a header, so never a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from .._errors import ConfigError
from .._validate import as_float, as_int
from .faults import FaultInjector, LatencySpec, abort_connection, draw_latency_ms, error_response
from .fleet import Fleet, build_fleet
from .management import ManagementAPI
from .ratelimit import RollingWindowLimiter
from .reqlog import RequestLog

if TYPE_CHECKING:
    import pandas as pd

    from .._settings import Settings
    from .inference import InferenceEmulator

__all__ = ["Sandbox"]

logger = logging.getLogger(__name__)


class Sandbox:
    """An emulator of the Vultr v2 API and the Serverless Inference API on ``127.0.0.1``.

    Args:
        seed: seeds the fleet and every random draw (same seed, same fleet, byte for byte).
        fleet: sizes overriding the defaults, e.g. ``{"instances": 10000, "bare_metals": 2000}``; keys are those
            of :data:`vultr_toolkit.sandbox.fleet.DEFAULT_SIZES`.
        port: 0 picks a free port.
        host: the address to bind; keep it on loopback.
        api_key: the management key the server accepts; a random ``sandbox-…`` string by default.
        rate_limit: requests per rolling second per client IP on ``/v2`` before 429 (Vultr: 30); None disables.
        latency_ms: latency added to every ``/v2`` request (a constant, ``(mean, sd)`` or a callable).
        inference: options passed to :class:`~vultr_toolkit.sandbox.inference.InferenceEmulator` (built here, so
            bad options fail at once and its state survives a restart; reachable as ``.inference``).
        time_scale: multiplies every inference delay (TTFT, inter-token gaps): ``0.05`` makes the emulated
            models 20x faster for quick notebooks and tests; same as ``inference={"time_scale": 0.05}``.
        log_limit: the request log keeps the newest this many rows (None: unbounded), so a long benchmark run
            cannot eat the memory.

    Example::

        >>> import httpx2
        >>> with Sandbox(seed=0) as sb:
        ...     r = httpx2.get(sb.api_url + "/instances?per_page=2",
        ...                    headers={"Authorization": f"Bearer {sb.api_key}"})
        >>> r.status_code, len(r.json()["instances"])
        (200, 2)

    A fast inference emulator for a quick benchmark::

        >>> with Sandbox(seed=0, time_scale=0.05) as sb:
        ...     res = vt.bench.run(sb, model="qwen3.8-27b", concurrency=[1, 4], requests=8, max_tokens=16)
        >>> res.summary()["requests"].tolist()
        [8, 8]
    """

    def __init__(self, seed: int = 0, *, fleet: Mapping[str, int] | None = None, port: int = 0,
                 host: str = "127.0.0.1", api_key: str | None = None, rate_limit: float | None = 30.0,
                 latency_ms: LatencySpec = 0.0, inference: Mapping[str, Any] | None = None,
                 log_limit: int | None = 1_000_000, time_scale: float | None = None) -> None:
        seed = as_int("Sandbox(seed=)", seed, hint=", e.g. Sandbox(seed=0)")
        if time_scale is not None:
            inference = {**(inference or {}), "time_scale": as_float("Sandbox(time_scale=)", time_scale,
                                                                     positive=True)}
        if rate_limit is not None and not rate_limit > 0:
            raise ConfigError(f"Sandbox(rate_limit={rate_limit!r}): use a positive number of requests/s or None")
        if not 0 <= port <= 65535:
            raise ConfigError(f"Sandbox(port={port!r}): use 0 (a free port) or a port number")
        self.seed = seed
        self.host = host
        self._requested_port = port
        self._api_key = api_key or f"sandbox-{secrets.token_hex(12)}"
        self._fleet: Fleet = build_fleet(seed, fleet)
        self._inference_options = dict(inference or {})
        self._latency_ms = latency_ms
        self._latency_rng = random.Random(f"{seed}:latency")
        self.limiter = RollingWindowLimiter(rate_limit) if rate_limit is not None else None
        self.faults = FaultInjector(seed)
        self.log = RequestLog(max_rows=log_limit)
        self.management = ManagementAPI(self._fleet, self._api_key)
        self.inference: InferenceEmulator = _make_inference(seed, self._inference_options)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start serving (idempotent); returns ``self`` once the port accepts connections."""
        with self._lock:
            if self._thread is not None:
                return self
            ready: Future[int] = Future()
            thread = threading.Thread(target=self._serve, args=(ready,), name=f"vultr-sandbox-{self.seed}",
                                      daemon=True)
            thread.start()
            try:
                self._port = ready.result(timeout=30)
            except BaseException:
                thread.join(timeout=5)
                raise
            self._thread = thread
        return self

    def stop(self) -> None:
        """Stop serving (idempotent): close connections, join the thread, free the port."""
        with self._lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(loop.stop)
            if thread is not threading.current_thread():  # e.g. __del__ running on the server thread
                thread.join(timeout=30)
            self._thread = None
            self._port = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    def __repr__(self) -> str:
        state = f"listening on {self.host}:{self._port}" if self._port else "stopped"
        return f"<Sandbox seed={self.seed} {state}>"

    def _serve(self, ready: Future[int]) -> None:
        loop = _new_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            # A short shutdown grace: stop() must not wait a minute for a stalled stream or a slow fault.
            runner = web.AppRunner(self._make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self._requested_port, backlog=1024)
            loop.run_until_complete(site.start())
            self._runner = runner
            sockets = getattr(site._server, "sockets", None) or []
            ready.set_result(int(sockets[0].getsockname()[1]))
        except BaseException as e:
            ready.set_exception(e)
            loop.close()
            return
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._runner = None

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=8 * 1024**2)
        self.management.add_routes(app)
        self.inference.add_routes(app)
        return app

    # --- the per-request pipeline -----------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        at, t_mono = time.time(), time.monotonic()
        client = request.remote or ""
        response: web.StreamResponse | None = None
        fault = "none"
        try:
            response, fault = await self._handle(request, handler, t_mono, client)
        finally:
            # Recorded even when the handler raised or the client went away; a reset has no status.
            self.log.record(at=at, t_mono=t_mono, method=request.method, path=request.path,
                            query=request.query_string,
                            status=response.status if response is not None and fault != "reset" else None,
                            latency_ms=(time.monotonic() - t_mono) * 1000.0, fault=fault, client=client)
        return response

    async def _handle(self, request: web.Request, handler: Any, t_mono: float,
                      client: str) -> tuple[web.StreamResponse, str]:
        path = request.path
        if path.startswith("/v2/") or path == "/v2":
            if self.limiter is not None:
                retry_after = self.limiter.admit(client, t_mono)
                if retry_after is not None:
                    return error_response(429, "rate limit exceeded",
                                          headers={"Retry-After": str(retry_after)}), "rate_limited"
            base = draw_latency_ms(self._latency_ms, self._latency_rng)
            if base:
                await asyncio.sleep(base / 1000.0)
        decision = self.faults.draw(path)
        if decision.latency_ms:
            await asyncio.sleep(decision.latency_ms / 1000.0)
        if decision.kind == "reset":
            abort_connection(request, rst=True)
            # Nothing reaches the client: aiohttp finds the transport closed and drops this response.
            return web.Response(status=599), "reset"
        canned = self.faults.status_response(decision)
        if canned is not None:
            return canned, decision.kind
        response = await _call(handler, request)
        if decision.kind in ("truncated", "malformed") and response.status == 200:
            return await self.faults.corrupt(request, response, decision), decision.kind
        return response, "none"

    # --- public properties ------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (starts the server if needed)."""
        if self._port is None:
            self.start()
        assert self._port is not None
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no API prefix)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The management API root, ``http://127.0.0.1:<port>/v2``."""
        return f"{self.base_url}/v2"

    @property
    def inference_url(self) -> str:
        """The inference API root, ``http://127.0.0.1:<port>/v1``."""
        return f"{self.base_url}/v1"

    @property
    def api_key(self) -> str:
        """The management API key the sandbox accepts (a sandbox value, not a real secret)."""
        return self._api_key

    @property
    def inference_api_key(self) -> str:
        """The key the inference half accepts."""
        return str(self.inference.api_key)

    @property
    def fleet(self) -> dict[str, list[dict[str, Any]]]:
        """The generated objects by kind (``instances``, ``databases``, ``plans``, …), as served."""
        return self._fleet.resources

    @property
    def fleet_data(self) -> Fleet:
        """The whole :class:`~vultr_toolkit.sandbox.fleet.Fleet` (also ``account``, ``bandwidth``, invoice items)."""
        return self._fleet

    def secret_values(self) -> set[str]:
        """Every secret value the sandbox serves (passwords, keys, certificates), to scan outputs for leaks."""
        return self._fleet.secret_values()

    def settings(self, **overrides: Any) -> Settings:
        """A :class:`vultr_toolkit.Settings` pointing at this sandbox (``overrides`` win).

        >>> with Sandbox() as sb:
        ...     sb.settings().api_url == sb.api_url
        True
        """
        from .._settings import Settings

        values: dict[str, Any] = {"api_url": self.api_url, "api_key": self.api_key,
                                  "inference_url": self.inference_url, "inference_api_key": self.inference_api_key}
        values.update(overrides)
        return Settings(**values)

    # --- test controls ----------------------------------------------------------------------------------------
    def set_faults(self, pattern: str = "/v2/*", *, p429: float = 0.0, p500: float = 0.0, p502: float = 0.0,
                   p503: float = 0.0, p504: float = 0.0, reset: float = 0.0, truncated: float = 0.0,
                   malformed: float = 0.0, latency_ms: LatencySpec = None, retry_after_s: float | str | None = 1,
                   truncated_mode: Literal["length", "close"] = "length", seed: int | None = None) -> None:
        """Inject faults into requests whose path matches ``pattern`` (fnmatch; the last rule set wins).

        Probabilities are per request and must add up to at most 1. ``latency_ms`` adds latency (a constant,
        ``(mean, sd)`` normal, or a callable returning ms). ``retry_after_s`` is the 429's ``Retry-After``: seconds,
        ``"date"`` for an HTTP-date, or None for no header. ``truncated_mode="close"`` announces the full length
        and closes mid-body instead of sending a shorter body with a matching ``Content-Length``. ``seed`` fixes
        the rule's random draws (default: derived from the sandbox seed). Setting a pattern again replaces it.

        >>> with Sandbox() as sb:
        ...     sb.set_faults("/v2/instances*", p503=0.5, seed=1)
        ...     sb.clear_faults()
        """
        self.faults.set(pattern, p429=p429, p500=p500, p502=p502, p503=p503, p504=p504, reset=reset,
                        truncated=truncated, malformed=malformed, latency_ms=latency_ms,
                        retry_after_s=retry_after_s, truncated_mode=truncated_mode, seed=seed)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.faults.clear()

    def set_pagination_bug(self, bug: Literal["repeat_cursor", "endless"] | None) -> None:
        """Make every paged route misbehave: ``"repeat_cursor"`` (the next cursor repeats forever), ``"endless"``
        (always a new next cursor; items wrap around) or None to restore the correct pager."""
        self.management.set_pagination_bug(bug)

    def requests_log(self) -> pd.DataFrame:
        """Every request served so far (``/v2`` and ``/v1``), one row each.

        Columns: ``at`` (datetime64[us, UTC]), ``t_mono`` (monotonic seconds at arrival), ``method``, ``path``,
        ``query``, ``status`` (Int64, ``<NA>`` for a reset), ``latency_ms``, ``fault`` (category: none, p429,
        p500, p502, p503, p504, reset, truncated, malformed, rate_limited) and ``client`` (peer address).
        """
        return self.log.to_frame()

    def clear_requests_log(self) -> None:
        """Forget the request log (the rate limiter keeps its window; see :meth:`reset_rate_limit`)."""
        self.log.clear()

    def reset_rate_limit(self) -> None:
        """Forget the rate limiter's history (the next requests start from an empty window)."""
        if self.limiter is not None:
            self.limiter.reset()

    def connection_info(self) -> dict[str, Any]:
        """URLs and keys as one JSON-serialisable dict (what ``vultr-toolkit sandbox`` prints)."""
        return {"api_url": self.api_url, "inference_url": self.inference_url, "api_key": self.api_key,
                "inference_api_key": self.inference_api_key, "port": self.port, "seed": self.seed}

    def connection_json(self) -> str:
        """:meth:`connection_info` as one line of JSON."""
        return json.dumps(self.connection_info())


async def _call(handler: Any, request: web.Request) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as e:
        if e.content_type == "application/json":
            return web.Response(status=e.status, text=e.text, content_type="application/json")
        return error_response(e.status, "Invalid route." if e.status == 404 else None,
                              headers={"Allow": e.headers["Allow"]} if "Allow" in e.headers else None)
    except (asyncio.CancelledError, ConnectionError):
        raise  # the client went away or the server is stopping
    except Exception:
        # A bug in an emulator route: answer like the real API would, and leave a trace for whoever debugs it.
        logger.exception("sandbox route %s %s failed", request.method, request.path)
        return error_response(500)
    return response


def _make_inference(seed: int, options: Mapping[str, Any]) -> InferenceEmulator:
    from .inference import InferenceEmulator

    try:
        return InferenceEmulator(seed=seed, **options)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"Sandbox(inference=...): {e}") from None


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a core dependency on Linux
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
