"""The REST status service: the original integration's ``/api/vultr/...`` routes, answered by the library.

==========================================================  ============================================================
route                                                       body (from)
==========================================================  ============================================================
``GET  /api/vultr/health``                                  ``{"status", "checked_at", "services": {name: check}}``
                                                            (:func:`vultr_toolkit.check_health`); **503** when down
``GET  /api/vultr/stats``                                   ``{"checked_at", "services": {name: {stat: v}}, "rows"}``
                                                            (:func:`vultr_toolkit.get_stats`; counts as integers)
``POST /api/vultr/test``                                    ``{"ok", "services": {name: ok}, "steps": [...]}``
                                                            (:func:`vultr_toolkit.test_services`)
``GET  /api/vultr/management/account``                      ``{"account": {...}}``
``GET  /api/vultr/management/databases[?engine=pg]``        ``{"databases": [...], "count"}``
``GET  /api/vultr/management/databases/{id}``               ``{"database": {...}}``; 404 when unknown
``GET  /api/vultr/management/databases/{id}/health``        ``DatabaseHealth.to_dict()`` (``?period=day|week|month``)
``GET  /api/vultr/management/valkey``                       ``{"valkey": [...], "count"}``
``GET  /api/vultr/management/instances``                    ``{"instances": [...], "count"}``
``GET  /api/vultr/management/summary``                      ``{"summary": [...], "resource_count",
                                                            "total_monthly_cost_usd"}``
``GET  /api/vultr``                                         the list of routes
==========================================================  ============================================================

Rows are the library's DataFrames as JSON records (timestamps ISO 8601 UTC, missing values ``null``, lineage
columns ``_*`` left out). Every error is JSON, ``{"error": "<one line>", "status": <code>}``: 400 bad parameter,
401 missing/wrong bearer token, 404 unknown route or object, 405 wrong method, 502 the Vultr API failed, 503 the
service lacks configuration (e.g. ``VULTR_API_KEY`` for the management routes). Every body passes through
:func:`vultr_toolkit._redact.redact` last, so no secret leaves even if a message carried one.

Binds ``127.0.0.1`` by default. With a token (``token=`` or ``VULTR_TOOLKIT_SERVICE_TOKEN``) every route needs
``Authorization: Bearer <token>``, compared in constant time.

Example::

    >>> import httpx2, vultr_toolkit as vt
    >>> from vultr_toolkit.service import StatusService
    >>> with vt.Sandbox(seed=0) as sb, StatusService(sb.settings(), port=0) as svc:
    ...     httpx2.get(svc.url + "/api/vultr/management/instances").json()["count"]
    25

From the shell: ``vultr-toolkit serve --port 3001`` (add ``--sandbox`` to serve a throwaway sandbox's data).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hmac
import json
import logging
import math
import os
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pandas as pd
from aiohttp import web

from ._errors import APIError, ConfigError, NotFoundError, VultrToolkitError
from ._redact import redact, register_secret
from ._settings import Settings

__all__ = ["DEFAULT_PORT", "TOKEN_ENV", "StatusService", "frame_records", "serve"]

log = logging.getLogger("vultr_toolkit.service")

DEFAULT_PORT = 3001
# Threads for management calls (each may wait on a slow Vultr API for up to its timeout) and, separately, for the
# probes behind /health, /stats and /test: a burst of slow management calls queues on its own pool and can never
# take the threads that health needs (the field report measured /health at 36 s behind busy management routes).
MANAGEMENT_WORKERS = 4
PROBE_WORKERS = 4
TOKEN_ENV = "VULTR_TOOLKIT_SERVICE_TOKEN"
PREFIX = "/api/vultr"
_PERIODS = ("day", "week", "month")
# Vultr object ids are UUIDs; anything outside this alphabet is a client error, not an upstream lookup.
_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- JSON --------------------------------------------------------------------------------------------------------
def _plain(v: Any) -> Any:
    """A JSON-safe value: NA/NaN -> None, timestamps -> ISO 8601, numpy scalars -> Python, containers recursed."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, pd.Timestamp | dt.datetime):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-safe records (lineage ``_*`` columns dropped).

    >>> frame_records(pd.DataFrame({"a": [1.5, None], "_fetched_at": [1, 2]}))
    [{'a': 1.5}, {'a': None}]
    """
    cols = [c for c in df.columns if not str(c).startswith("_")]
    out = []
    for row in df[cols].astype(object).itertuples(index=False, name=None):
        out.append({str(c): _plain(v) for c, v in zip(cols, row, strict=True)})
    return out


def _details(text: Any) -> Any:
    if isinstance(text, str):
        with contextlib.suppress(ValueError):
            return json.loads(text)
    return None


def _dumps(body: Any) -> str:
    return redact(json.dumps(_plain(body), allow_nan=False, separators=(",", ":")))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=_dumps(body), status=status, content_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": redact(message), "status": status}, status, headers)


def _unparsable(status: int, message: str | None) -> str:
    """The one-line error for a request aiohttp answered itself: its reason, never the request's own bytes.

    >>> _unparsable(400, "Invalid character in chunk size:\\n\\n  b'zz'")
    'the request is not valid HTTP/1.1 (Invalid character in chunk size); fix the request line, headers or body'
    """
    if status >= 500:
        return f"internal error ({status}); see the service log"
    # aiohttp's reasons put the offending bytes after a colon (a header's value may be a credential): keep the
    # head of the first line only, printable, and short.
    head = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    head = "".join(c for c in head.split(":", 1)[0] if c.isprintable()).strip(" \"'")[:80]
    return f"the request is not valid HTTP/1.1 ({head or 'rejected by the parser'}); fix the request line, " \
           "headers or body"


class _JSONErrorProtocol(web.RequestHandler):
    """aiohttp's connection protocol, answering what it rejects itself with the service's JSON error body.

    aiohttp's HTTP parser rejects a bad request line, an oversized header or a broken chunked body before any
    middleware runs and answers through ``RequestHandler.handle_error`` with text/plain (there is no application
    hook for it, aio-libs/aiohttp#3287). Overriding that public method is the one place every such response
    passes, so every error the service sends stays ``{"error", "status"}`` JSON.
    """

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp does: a response has begun, the connection is broken
            raise ConnectionError("a response was already sent; cannot send the error response")
        if status >= 500:
            log.error("status service: error handling a request (%d)", status, exc_info=exc)
        else:  # a client's malformed request: not the service's fault, and its text may hold the request's bytes
            log.debug("status service: rejected an unparsable request (%d, %s)", status, type(exc).__name__)
        response = _error(status, _unparsable(status, message))
        response.force_close()  # the parser's state is unknown after an error: never reuse the connection
        return response


class _HTTPError(Exception):
    """Raised inside a handler to answer with a JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- bodies (pure: DataFrame in, dict out) -----------------------------------------------------------------------
def health_body(df: pd.DataFrame) -> tuple[dict[str, Any], int]:
    """``check_health()`` frame -> (body, HTTP status): 503 when the overall status is down."""
    records = frame_records(df)
    services: dict[str, Any] = {}
    for r in records:
        r["details"] = _details(r.get("details"))
        r.pop("monitor_id", None)
        r.pop("sample_id", None)
        services[str(r["service"])] = r
    overall = services.get("overall", {})
    status = str(overall.get("status", "unknown"))
    body = {"status": status, "checked_at": overall.get("checked_at"), "services": services}
    return body, 503 if status == "down" else 200


def stats_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`~vultr_toolkit.health.utils.stat_records` -> ``{"checked_at", "services": {service: {"target",
    stat: value}}, "rows"}``; counters stay JSON integers (the ``get_stats()`` frame holds them as floats)."""
    rows = [_plain(r) for r in records]
    services: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = services.setdefault(str(r["service"]), {"target": r["target"]})
        entry[str(r["stat"])] = r["value"]
    checked = max((r["checked_at"] for r in rows if r["checked_at"]), default=None)
    return {"checked_at": checked, "services": services, "rows": rows}


def test_body(df: pd.DataFrame) -> dict[str, Any]:
    """``test_services()`` frame -> ``{"ok", "services": {service: ok}, "steps"}``."""
    steps = frame_records(df)
    services: dict[str, bool] = {}
    for s in steps:
        name = str(s["service"])
        services[name] = services.get(name, True) and bool(s["ok"])
    return {"ok": bool(services) and all(services.values()), "services": services, "steps": steps}


test_body.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def summary_body(df: pd.DataFrame) -> dict[str, Any]:
    """``get_infrastructure_summary()`` frame -> rows plus the grand totals."""
    rows = frame_records(df)
    total = next((r for r in rows if r["resource_type"] == "total" and r["region"] == "total"), None)
    return {"summary": rows, "resource_count": total["count"] if total else 0,
            "total_monthly_cost_usd": total["monthly_cost_usd"] if total else None}


# --- the service ---------------------------------------------------------------------------------------------------
class StatusService:
    """The ``/api/vultr`` routes on an aiohttp server in a background thread (or the foreground via :func:`serve`).

    ``settings`` configure the probes and the Vultr client (default: ``Settings()`` from the environment). ``port``
    0 picks a free port (tests). ``token``: require ``Authorization: Bearer <token>`` (default: the
    ``VULTR_TOOLKIT_SERVICE_TOKEN`` variable; ``""`` turns auth off even when it is set). ``management_workers``:
    how many management calls run at once (more wait their turn); health, stats and test probes have threads of
    their own, so they answer however slow the Vultr API is.

    >>> import httpx2
    >>> with StatusService(sb.settings(), port=0, token="s3cret-token") as svc:
    ...     ok = httpx2.get(svc.url + "/api/vultr/health", headers={"Authorization": "Bearer s3cret-token"})
    ...     denied = httpx2.get(svc.url + "/api/vultr/health")
    >>> ok.status_code, denied.status_code
    (200, 401)
    """

    def __init__(self, settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 token: str | None = None, timeout_s: float = 5.0,
                 management_workers: int = MANAGEMENT_WORKERS) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"port must be 0 (a free port) or 1-65535, got {port}")
        if isinstance(management_workers, bool) or not isinstance(management_workers, int) \
                or management_workers < 1:
            raise ConfigError(f"management_workers must be an int >= 1 (threads for management calls), "
                              f"got {management_workers!r}")
        self.management_workers = management_workers
        self.settings = settings or Settings()
        self.host = host
        self.timeout_s = timeout_s
        raw = os.environ.get(TOKEN_ENV) if token is None else token
        self._token = raw.encode() if raw else None
        if raw:
            register_secret(raw)
        self._requested_port = port
        self._port: int | None = None
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._pools_lock = threading.Lock()
        self._lock = threading.Lock()

    @property
    def auth_enabled(self) -> bool:
        """True when a bearer token is required."""
        return self._token is not None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._port is None:
            raise ConfigError("the service is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://<host>:<port>`` of the running service."""
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port else "stopped"
        return f"<StatusService {where} auth={'on' if self.auth_enabled else 'off'}>"

    # --- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> StatusService:
        """Serve in a daemon thread with its own event loop (idempotent; safe inside Jupyter's loop)."""
        with self._lock:
            if self._thread is not None:
                return self
            ready: Future[int] = Future()
            self._executor("probes")  # the pools now, so a failed start can shut them down below
            thread = threading.Thread(target=self._serve, args=(ready,), name="vtk-status-service", daemon=True)
            thread.start()
            try:
                self._port = ready.result(timeout=30)
            except BaseException:
                self._shutdown_pools()
                raise
            self._thread = thread
        return self

    def stop(self) -> None:
        """Stop serving, join the thread and close the Vultr client (idempotent)."""
        with self._lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            self._thread = None
            self._port = None
            self._shutdown_pools()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _executor(self, pool: str) -> ThreadPoolExecutor:
        # Made on first use (also when app() is served by another runner) and again after stop().
        with self._pools_lock:
            if not self._pools:
                self._pools = {"management": ThreadPoolExecutor(self.management_workers, "vtk-service-management"),
                               "probes": ThreadPoolExecutor(PROBE_WORKERS, "vtk-service-probes")}
            return self._pools[pool]

    def _shutdown_pools(self) -> None:
        # Do not wait for management calls still blocked on a slow API: queued ones are dropped, running ones end
        # at their own timeout (their responses have nowhere to go once the loop is stopped).
        with self._pools_lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> StatusService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, ready: Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        listener: asyncio.Server | None = None
        try:
            loop.run_until_complete(runner.setup())
            manager = runner.server
            assert manager is not None  # set by setup()
            # Not web.TCPSite: it serves aiohttp's own protocol, whose parser-error responses are text/plain.
            # Each connection gets _JSONErrorProtocol instead, bound to the same manager (the runner still tracks
            # and closes its connections on cleanup).
            quiet: dict[str, Any] = {"access_log": None}  # no access log, as AppRunner(access_log=None) above
            listener = loop.run_until_complete(loop.create_server(
                lambda: _JSONErrorProtocol(manager, loop=loop, **quiet), self.host, self._requested_port))
            ready.set_result(int(listener.sockets[0].getsockname()[1]))
        except BaseException as e:
            ready.set_exception(ConfigError(f"cannot listen on {self.host}:{self._requested_port}: {e}")
                                if isinstance(e, OSError) else e)
            with contextlib.suppress(Exception):  # the error above is the one to report
                loop.run_until_complete(runner.cleanup())
            loop.close()
            return
        try:
            loop.run_forever()
        finally:
            listener.close()
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(listener.wait_closed())
            loop.close()

    # --- the application -------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        """The aiohttp application (routes + JSON errors + auth), e.g. for ``aiohttp.web.run_app`` or tests.

        Served that way, requests aiohttp's own parser rejects get aiohttp's text/plain 400; :meth:`start` and
        :func:`serve` answer those with the JSON error too (see ``_JSONErrorProtocol``).
        """
        app = web.Application(middlewares=[self._middleware])
        m = f"{PREFIX}/management"
        app.router.add_get(PREFIX, self._index)
        app.router.add_get(f"{PREFIX}/health", self._health)
        app.router.add_get(f"{PREFIX}/stats", self._stats)
        app.router.add_post(f"{PREFIX}/test", self._test)
        app.router.add_get(f"{m}/account", self._account)
        app.router.add_get(f"{m}/databases", self._databases)
        app.router.add_get(f"{m}/databases/{{id}}", self._database)
        app.router.add_get(f"{m}/databases/{{id}}/health", self._database_health)
        app.router.add_get(f"{m}/valkey", self._valkey)
        app.router.add_get(f"{m}/instances", self._instances)
        app.router.add_get(f"{m}/summary", self._summary)
        return app

    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        # compare_digest on bytes: constant time in the token's content (and no early exit on a wrong scheme).
        ok = hmac.compare_digest(given.strip().encode(), self._token)
        return ok and scheme.lower() == "bearer"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, "missing or invalid token: send it as a Bearer token in the Authorization header",
                          {"WWW-Authenticate": 'Bearer realm="vultr-toolkit"'})
        try:
            return await handler(request)
        except _HTTPError as e:
            return _error(e.status, str(e))
        except web.HTTPException as e:  # aiohttp's own 404 / 405 as JSON
            text = {404: f"no route {request.method} {request.path}; see GET {PREFIX}",
                    405: f"method {request.method} not allowed on {request.path}"}.get(e.status, e.reason)
            return _error(e.status, text, {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None)
        except NotFoundError as e:
            return _error(404, e.message)
        except ConfigError as e:
            return _error(503, f"the service is not configured for this: {e.message}")
        except APIError as e:
            return _error(502, f"the upstream API failed: {e.message}")
        except VultrToolkitError as e:
            return _error(500, e.message)
        except Exception as e:  # never a traceback (or whatever it holds) in a response
            log.exception("status service: %s %s failed", request.method, request.path)
            return _error(500, f"internal error ({type(e).__name__}); see the service log")

    async def _run(self, pool: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # The library is synchronous; run it off the event loop so that concurrent requests are served, on the
        # pool of its kind so that slow management calls never delay a health check.
        executor = self._executor(pool)
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args, **kwargs))

    async def _probe(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a health/stats/test probe on the probe threads."""
        return await self._run("probes", fn, *args, **kwargs)

    async def _manage(self, fn: Callable[[], Any]) -> Any:
        """Run a management (Vultr API) call on the management threads, at most ``management_workers`` at once."""
        return await self._run("management", fn)

    def _vultr(self) -> Any:
        if self.settings.api_key is None:
            raise ConfigError("VULTR_API_KEY is not set (start the service with it, or with --sandbox)")
        with self._client_lock:
            if self._client is None:
                from .client import Client

                self._client = Client(self.settings)
            return self._client

    # --- handlers ----------------------------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.Response:
        routes = sorted({f"{r.method} {r.resource.canonical}" for r in request.app.router.routes()
                         if r.resource is not None and r.method != "HEAD"})
        return _json({"service": "vultr-toolkit", "routes": routes})

    async def _health(self, request: web.Request) -> web.Response:
        from .health import check_health

        body, status = health_body(await self._probe(check_health, self.settings, timeout_s=self.timeout_s))
        return _json(body, status)

    async def _stats(self, request: web.Request) -> web.Response:
        from .health import check_health
        from .health.utils import stat_records

        health = await self._probe(check_health, self.settings, timeout_s=self.timeout_s)
        return _json(stats_body(stat_records(health)))

    async def _test(self, request: web.Request) -> web.Response:
        from .health import test_services

        return _json(test_body(await self._probe(test_services, self.settings, timeout_s=self.timeout_s)))

    async def _account(self, request: web.Request) -> web.Response:
        df = await self._manage(lambda: self._vultr().inventory.get_account_info())
        rows = frame_records(df)
        return _json({"account": rows[0] if rows else None})

    async def _databases(self, request: web.Request) -> web.Response:
        engine = request.query.get("engine") or None
        if engine is not None and not re.fullmatch(r"[a-z]{1,20}", engine):
            raise _HTTPError(400, "engine must be a lowercase engine name such as pg, mysql, valkey or kafka")
        rows = frame_records(await self._manage(lambda: self._vultr().inventory.list_databases(engine=engine)))
        return _json({"databases": rows, "count": len(rows)})

    def _db_id(self, request: web.Request) -> str:
        db_id = request.match_info["id"]
        if not _ID.match(db_id):
            raise _HTTPError(400, "database id must be 1-64 letters, digits or dashes (a Vultr UUID)")
        return db_id

    async def _database(self, request: web.Request) -> web.Response:
        db_id = self._db_id(request)
        rows = frame_records(await self._manage(lambda: self._vultr().inventory.get_database(db_id)))
        if not rows:
            raise _HTTPError(404, f"no database {db_id}")
        return _json({"database": rows[0]})

    async def _database_health(self, request: web.Request) -> web.Response:
        db_id = self._db_id(request)
        period = request.query.get("period", "day")
        if period not in _PERIODS:
            raise _HTTPError(400, f"period must be one of {', '.join(_PERIODS)}, got {period[:20]!r}")
        health = await self._manage(lambda: self._vultr().inventory.get_database_health(db_id, period=period))
        return _json(health.to_dict())

    async def _valkey(self, request: web.Request) -> web.Response:
        rows = frame_records(await self._manage(lambda: self._vultr().inventory.list_valkey()))
        return _json({"valkey": rows, "count": len(rows)})

    async def _instances(self, request: web.Request) -> web.Response:
        rows = frame_records(await self._manage(lambda: self._vultr().inventory.list_instances()))
        return _json({"instances": rows, "count": len(rows)})

    async def _summary(self, request: web.Request) -> web.Response:
        df = await self._manage(lambda: self._vultr().inventory.get_infrastructure_summary(progress=False))
        return _json(summary_body(df))


def serve(settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          token: str | None = None, duration_s: float | None = None,
          on_ready: Callable[[StatusService], None] | None = None, stop: threading.Event | None = None) -> None:
    """Run the status service in the foreground until Ctrl-C, ``stop`` is set, or ``duration_s`` seconds pass.

    ``on_ready(service)`` is called once it listens (the CLI prints the URL there). The server runs on its own
    loop in a thread, so this also works from a notebook.

    >>> serve(sb.settings(), port=0, duration_s=0.2, on_ready=lambda svc: print(svc.url))   # e.g. port=3001
    http://127.0.0.1:...
    """
    svc = StatusService(settings, host=host, port=port, token=token).start()
    try:
        if on_ready is not None:
            on_ready(svc)
        with contextlib.suppress(KeyboardInterrupt):
            (stop or threading.Event()).wait(duration_s)
    finally:
        svc.stop()
