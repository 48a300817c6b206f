"""The management half of the sandbox: Vultr v2 routes over a :class:`~vultr_toolkit.sandbox.fleet.Fleet`.

Every route answers under ``/v2`` with the real API's response key (``instances``, ``bare_metals``,
``vke_clusters``, ``load_balancers``, ``blocks``, ``databases``, ``snapshots``, ``object_storages``, ``regions``,
``plans``, ``plans_metal``, ``billing_history``, ``billing_invoices``, ``pending_charges``, ``subscriptions``,
``account``, ``usage`` …); get-by-id routes answer the singular key (``instance``, ``database``, …).

Semantics follow the live Vultr v2 API: Bearer auth with ``401 {"error": "Invalid API token.",
"status": 401}`` (``/plans``, ``/plans-metal`` and ``/regions`` are public), cursor pagination (see
:mod:`.pagination`), ``/databases`` without paging (``meta`` has only ``total``), ``/billing/pending-charges`` and
``/inference`` without ``meta`` (as govultr decodes them), 404 ``{"error", "status"}`` for unknown ids.

Example (mounted by :class:`~vultr_toolkit.sandbox.Sandbox`; standalone use, served on 127.0.0.1 by aiohttp's
test server):

>>> import asyncio
>>> from aiohttp.test_utils import TestClient, TestServer
>>> from vultr_toolkit.sandbox.fleet import build_fleet
>>> api = ManagementEmulator(build_fleet(0), api_key="sandbox-key")
>>> app = web.Application()
>>> api.add_routes(app)
>>> async def get(path: str, *keys: str) -> list[tuple[int, list[str]]]:
...     async with TestClient(TestServer(app, host="127.0.0.1")) as c:
...         rs = [await c.get(path, headers={"Authorization": f"Bearer {k}"}) for k in keys]
...         return [(r.status, sorted(await r.json())) for r in rs]
>>> asyncio.run(get("/v2/account", "sandbox-key", "wrong"))
[(200, ['account']), (401, ['error', 'status'])]
"""

from __future__ import annotations

import hmac
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from .._deprecation import renamed_class
from .._errors import ConfigError
from .faults import error_response
from .fleet import PERIODS, Fleet, database_alerts, database_backups, database_usage, inference_usage
from .pagination import PAGINATION_BUGS, PageParamError, paginate, parse_per_page

__all__ = ["PUBLIC_PATHS", "ManagementAPI", "ManagementEmulator"]

Obj = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PREFIX = "/v2"
# Catalogue routes that need no key (SPEC23 ``security: []``).
PUBLIC_PATHS = ("/v2/plans", "/v2/plans-metal", "/v2/regions")


def _json(payload: Obj, status: int = 200) -> web.Response:
    # Compact separators: 10,000-instance walks serialise megabytes, and the real API is compact too.
    return web.Response(text=json.dumps(payload, separators=(",", ":")), status=status,
                        content_type="application/json")


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith("/v2/regions/")


class ManagementEmulator:
    """The ``/v2`` routes of the sandbox over one fleet; ``pagination_bug`` switches on a pathological pager."""

    def __init__(self, fleet: Fleet, api_key: str) -> None:
        self.fleet = fleet
        self.api_key = api_key
        self.pagination_bug: str | None = None
        self._index: dict[str, dict[str, Obj]] = {}
        self._usage_rngs: dict[str, random.Random] = {}
        self._db_position = {db["id"]: i for i, db in enumerate(fleet.resources["databases"])}

    # --- helpers ----------------------------------------------------------------------------------------------
    def set_pagination_bug(self, bug: str | None) -> None:
        """``"repeat_cursor"``, ``"endless"`` or None (the correct pager)."""
        if bug is not None and bug not in PAGINATION_BUGS:
            raise ConfigError(f"set_pagination_bug({bug!r}): use one of {PAGINATION_BUGS} or None")
        self.pagination_bug = bug

    def _by_id(self, kind: str, key: str = "id") -> dict[str, Obj]:
        # Built on first use: a 10,000-instance fleet should not pay for indexes nobody queries.
        index = self._index.get(kind)
        if index is None:
            index = {str(o[key]): o for o in self.fleet.resources[kind]}
            self._index[kind] = index
        return index

    def _find(self, kind: str, request: web.Request, name: str = "id") -> Obj:
        obj = self._by_id(kind).get(request.match_info[name])
        if obj is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"{kind.rstrip('s').replace('_', ' ')} not found",
                                                    "status": 404}), content_type="application/json")
        return obj

    def _page(self, request: web.Request, key: str, items: Sequence[Obj]) -> web.Response:
        try:
            per_page = parse_per_page(request.query.get("per_page"))
            page, meta = paginate(items, per_page, request.query.get("cursor") or None, self.pagination_bug)
        except PageParamError as e:
            return error_response(400, str(e))
        return _json({key: page, "meta": meta})

    def _authed(self, handler: Handler) -> Handler:
        expected = f"Bearer {self.api_key}".encode()

        async def wrapper(request: web.Request) -> web.StreamResponse:
            if not _is_public(request.path):
                given = request.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    return error_response(401, "Invalid API token.")
            return await handler(request)

        return wrapper

    # --- routing ----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """Register every ``/v2`` route on ``app``."""
        get = [
            ("/account", self.account),
            ("/account/bandwidth", self.bandwidth),
            ("/instances", self.list_route("instances", "instances", filters=("tag", "label", "main_ip",
                                                                             "region"))),
            ("/instances/{id}", self.get_route("instances", "instance")),
            ("/bare-metals", self.list_route("bare_metals", "bare_metals", filters=("tag", "label", "region"))),
            ("/bare-metals/{id}", self.get_route("bare_metals", "bare_metal")),
            ("/kubernetes/clusters", self.list_route("kubernetes_clusters", "vke_clusters")),
            ("/kubernetes/clusters/{id}", self.get_route("kubernetes_clusters", "vke_cluster")),
            ("/kubernetes/clusters/{id}/node-pools", self.node_pools),
            ("/kubernetes/clusters/{id}/node-pools/{pool}", self.node_pool),
            ("/load-balancers", self.list_route("load_balancers", "load_balancers")),
            ("/load-balancers/{id}", self.get_route("load_balancers", "load_balancer")),
            ("/blocks", self.list_route("blocks", "blocks")),
            ("/blocks/{id}", self.get_route("blocks", "block")),
            ("/databases", self.databases),
            ("/databases/plans", self.database_plans),  # before /databases/{id}: first match wins
            ("/databases/{id}", self.get_route("databases", "database")),
            ("/databases/{id}/usage", self.database_usage),
            ("/databases/{id}/backups", self.database_backups),
            ("/snapshots", self.list_route("snapshots", "snapshots", filters=("description",))),
            ("/snapshots/{id}", self.get_route("snapshots", "snapshot")),
            ("/object-storage", self.list_route("object_storages", "object_storages")),
            ("/object-storage/{id}", self.get_route("object_storages", "object_storage")),
            ("/regions", self.list_route("regions", "regions")),
            ("/regions/{id}/availability", self.region_availability),
            ("/plans", self.list_route("plans", "plans", filters=("type",))),
            ("/plans-metal", self.list_route("plans_metal", "plans_metal")),
            ("/billing/history", self.list_route("billing_history", "billing_history")),
            ("/billing/invoices", self.list_route("billing_invoices", "billing_invoices")),
            ("/billing/invoices/{id}", self.get_route("billing_invoices", "billing_invoice")),
            ("/billing/invoices/{id}/items", self.invoice_items),
            ("/billing/pending-charges", self.pending_charges),
            ("/inference", self.subscriptions),
            ("/inference/{id}", self.get_route("inference_subscriptions", "subscription")),
            ("/inference/{id}/usage", self.subscription_usage),
        ]
        for path, handler in get:
            app.router.add_get(PREFIX + path, self._authed(handler), allow_head=False)
        app.router.add_post(PREFIX + "/databases/{id}/alerts", self._authed(self.database_alerts))

    def list_route(self, kind: str, key: str, filters: Sequence[str] = ()) -> Handler:
        """A paged list route for ``fleet.resources[kind]`` answering under ``key``, with exact-match filters."""

        async def handler(request: web.Request) -> web.StreamResponse:
            items: Sequence[Obj] = self.fleet.resources[kind]
            wanted = {f: request.query[f] for f in filters if request.query.get(f)}
            if wanted:
                items = [o for o in items if all(_matches(o, f, v) for f, v in wanted.items())]
            return self._page(request, key, items)

        return handler

    def get_route(self, kind: str, key: str) -> Handler:
        """A get-by-id route answering the singular ``key``."""

        async def handler(request: web.Request) -> web.StreamResponse:
            return _json({key: self._find(kind, request)})

        return handler

    # --- account ----------------------------------------------------------------------------------------------
    async def account(self, request: web.Request) -> web.StreamResponse:
        return _json({"account": self.fleet.account})

    async def bandwidth(self, request: web.Request) -> web.StreamResponse:
        return _json({"bandwidth": self.fleet.bandwidth})

    # --- kubernetes -------------------------------------------------------------------------------------------
    async def node_pools(self, request: web.Request) -> web.StreamResponse:
        cluster = self._find("kubernetes_clusters", request)
        return self._page(request, "node_pools", cluster["node_pools"])

    async def node_pool(self, request: web.Request) -> web.StreamResponse:
        cluster = self._find("kubernetes_clusters", request)
        for pool in cluster["node_pools"]:
            if pool["id"] == request.match_info["pool"]:
                return _json({"node_pool": pool})
        return error_response(404, "node pool not found")

    # --- databases --------------------------------------------------------------------------------------------
    async def databases(self, request: web.Request) -> web.StreamResponse:
        # No paging on /databases (SPEC23, govultr DBListOptions): every item, meta.total only, no links.
        items = self.fleet.resources["databases"]
        wanted = {f: request.query[f] for f in ("label", "tag", "region") if request.query.get(f)}
        if wanted:
            items = [o for o in items if all(_matches(o, f, v) for f, v in wanted.items())]
        return _json({"databases": items, "meta": {"total": len(items)}})

    async def database_plans(self, request: web.Request) -> web.StreamResponse:
        items = self.fleet.resources["database_plans"]
        engine = request.query.get("engine")
        if engine:
            items = [p for p in items if p["supported_engines"].get(engine)]
        return _json({"plans": items, "meta": {"total": len(items)}})

    async def database_usage(self, request: web.Request) -> web.StreamResponse:
        db = self._find("databases", request)
        rng = self._usage_rngs.setdefault(db["id"], random.Random(f"{self.fleet.seed}:usage:{db['id']}"))
        # SPEC23 types usage numbers as strings while govultr decodes numbers: serve both, a third as strings.
        as_strings = (self._db_position[db["id"]] + self.fleet.seed) % 3 == 2
        return _json({"usage": database_usage(db, rng, as_strings=as_strings)})

    async def database_alerts(self, request: web.Request) -> web.StreamResponse:
        db = self._find("databases", request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        period = body.get("period") if isinstance(body, dict) else None
        if period not in PERIODS:
            return error_response(400, f"Invalid period: use one of {', '.join(PERIODS)}.")
        rng = random.Random(f"{self.fleet.seed}:alerts:{db['id']}:{period}")
        return _json({"alerts": database_alerts(db, period, rng)})

    async def database_backups(self, request: web.Request) -> web.StreamResponse:
        return _json(database_backups(self._find("databases", request)))

    # --- catalogue --------------------------------------------------------------------------------------------
    async def region_availability(self, request: web.Request) -> web.StreamResponse:
        region = request.match_info["id"].lower()
        if region not in self._by_id("regions"):
            return error_response(404, "region not found")
        plans = [p["id"] for p in self.fleet.resources["plans"] if region in p["locations"]]
        return _json({"available_plans": plans})

    # --- billing ----------------------------------------------------------------------------------------------
    async def invoice_items(self, request: web.Request) -> web.StreamResponse:
        invoice = self._find("billing_invoices", request)
        return self._page(request, "invoice_items", self.fleet.invoice_items[invoice["id"]])

    async def pending_charges(self, request: web.Request) -> web.StreamResponse:
        return _json({"pending_charges": self.fleet.resources["pending_charges"]})

    # --- inference subscriptions ------------------------------------------------------------------------------
    async def subscriptions(self, request: web.Request) -> web.StreamResponse:
        return _json({"subscriptions": self.fleet.resources["inference_subscriptions"]})

    async def subscription_usage(self, request: web.Request) -> web.StreamResponse:
        sub = self._find("inference_subscriptions", request)
        return _json({"usage": inference_usage(sub, self.fleet.seed)})


def _matches(obj: Obj, field: str, value: str) -> bool:
    if field == "tag":
        return value in (obj.get("tags") or []) or obj.get("tag") == value
    if field == "region":
        return str(obj.get("region", "")).lower() == value.lower()
    return str(obj.get(field, "")) == value


# The old name, kept one release: it read like the client's ``vultr_toolkit.api.management.ManagementAPI``
# (the real API's client), while this is the emulator of that API, named like ``InferenceEmulator``.
ManagementAPI = renamed_class(ManagementEmulator, "ManagementAPI")
