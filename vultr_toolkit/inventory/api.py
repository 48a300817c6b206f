"""``client.inventory``: one DataFrame per Vultr resource, whole snapshots, and the original integration's names.

Design (sans-I/O, like httpx's auth flows): every public method is a *plan* — a generator that yields batches
of :class:`Fetch` requests and receives their results — plus a pure frame builder from
:mod:`vultr_toolkit.inventory.frames`. Two thin drivers execute plans:

* :class:`InventoryAPI` (sync, ``vt.Client``): a small scheduler over a thread pool. No asyncio, so it works
  inside Jupyter's running event loop.
* :class:`AsyncInventoryAPI` (``vt.AsyncClient``): ``asyncio.gather`` under a semaphore.

Both deduplicate identical fetches across the plans of one call, so a snapshot requests ``/plans`` once even
though instances, node pools and the plans frame all need it, and every list is walked with ``per_page=500``
(the fewest page requests). Pacing and retries are the client's (shared rate limiter, retry budget); the
concurrency bound only caps how many page chains are in flight.

Example::

    import vultr_toolkit as vt
    with vt.Sandbox(seed=0) as sb:
        inv = vt.Client(sb.settings()).inventory
        inv.instances()                      # DataFrame, schema in inventory.schemas
        inv.databases(engine="pg")
        snap = inv.snapshot(progress=False)  # InventorySnapshot
        snap.summary()
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import warnings
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import pandas as pd

from .._errors import (
    APIResponseError,
    AuthenticationError,
    ConfigError,
    MissingKeyError,
    PermissionDeniedError,
    error_kind,
)
from .._redact import redact
from . import frames as F
from .aliases import DatabaseHealth, database_health
from .frames import ENDPOINTS, Lineage
from .schemas import ALL_RESOURCES, PUBLIC_RESOURCES
from .snapshot import InventorySnapshot, errors_frame

__all__ = [
    "AsyncInventoryAPI",
    "Fetch",
    "InventoryAPI",
    "InventoryWarning",
    "resource_plan",
]

DEFAULT_CONCURRENCY = 8
OPTIONAL_RESOURCES = ("database_usage", "database_alerts")


class InventoryWarning(UserWarning):
    """Something optional was unavailable (e.g. a price catalogue), so some columns are missing values."""


@dataclass(frozen=True)
class Fetch:
    """One logical request: a whole list (every page), an object under the endpoint's key, or the raw body.

    Hashable, so identical fetches of concurrent plans are made once.
    """

    endpoint: str
    id: str | None = None
    mode: str = "list"  # "list" (paginate), "item" (body[key]) or "raw" (the whole body)
    body: tuple[tuple[str, Any], ...] = ()

    @property
    def path(self) -> str:
        p = ENDPOINTS[self.endpoint].path
        return p.format(id=quote(str(self.id), safe="")) if "{id}" in p else p

    @property
    def method(self) -> str:
        return ENDPOINTS[self.endpoint].method


# Alternative payload keys seen in the official spec for the same route (research vultr-api.md §5.10).
_ALT_KEYS: dict[str, tuple[str, ...]] = {"plans_metal": ("plans",)}

def _missing_key(exc: APIResponseError) -> bool:
    """The pager found valid JSON without the key (worth trying the alternative key), not a broken body."""
    return isinstance(exc, MissingKeyError)


Results = list[Any]  # one value or BaseException per Fetch of the batch, in order
Plan = Generator[list[Fetch], Results, Any]
T = TypeVar("T")


def _need(x: Any) -> Any:
    if isinstance(x, BaseException):
        raise x
    return x


def _optional(x: Any, what: str, consequence: str) -> Any:
    if isinstance(x, BaseException):
        warnings.warn(f"{what} unavailable ({redact(str(x))}); {consequence}", InventoryWarning, stacklevel=2)
        return None
    return x


def _unwrap(f: Fetch, body: Mapping[str, Any]) -> Any:
    if f.mode == "raw":
        return body
    key = ENDPOINTS[f.endpoint].key
    if key not in body:
        raise APIResponseError(f"{f.method} {f.path}: the response has no {key!r} key (found: "
                               f"{', '.join(sorted(map(str, body))) or 'nothing'})", method=f.method, path=f.path)
    return body[key]


# --------------------------------------------------------------------------------------------------------------
# Plans: pure generators, one per public method
# --------------------------------------------------------------------------------------------------------------
_NO_COST = "plan twins and monthly_cost_usd are missing"


def _simple(name: str, builder: Callable[..., pd.DataFrame], lin: Lineage) -> Plan:
    (items,) = yield [Fetch(name)]
    return builder(_need(items), lineage=lin)


def _priced(name: str, catalogue: str, builder: Callable[..., pd.DataFrame], kw: str, lin: Lineage,
            **extra: Any) -> Plan:
    items, cat = yield [Fetch(name), Fetch(catalogue)]
    items = _need(items)
    prices = _optional(cat, f"GET {Fetch(catalogue).path}", f"{name}: {_NO_COST}")
    return builder(items, lineage=lin, **{kw: prices}, **extra)


def _account(lin: Lineage) -> Plan:
    (acct,) = yield [Fetch("account", mode="item")]
    return F.account_frame(_need(acct), lineage=lin)


def _kubernetes(lin: Lineage, builder: Callable[..., pd.DataFrame]) -> Plan:
    clusters, plans = yield [Fetch("kubernetes_clusters"), Fetch("plans")]
    clusters = _need(clusters)
    prices = _optional(plans, "GET /plans", f"kubernetes: {_NO_COST}")
    # Pools normally come embedded in the cluster list; fetch them only for clusters that lack the key.
    missing = [str(c.get("id")) for c in clusters if isinstance(c, dict) and "node_pools" not in c]
    pools: dict[str, Any] | None = None
    if missing:
        res = yield [Fetch("kubernetes_node_pools", id=cid) for cid in missing]
        pools = {cid: _need(r) for cid, r in zip(missing, res, strict=True)}
    return builder(clusters, plans=prices, pools_by_cluster=pools, lineage=lin)


def _plans(lin: Lineage) -> Plan:
    plans, metal, db = yield [Fetch("plans"), Fetch("plans_metal"), Fetch("database_plans")]
    return F.plans_frame(_need(plans), _need(metal), _need(db), lineage=lin)


def _databases(lin: Lineage, engine: str | None = None) -> Plan:
    return _priced("databases", "database_plans", F.databases_frame, "database_plans", lin, engine=engine)


def _select_databases(ids: Sequence[str] | None) -> Generator[list[Fetch], Results, list[dict[str, Any]]]:
    (dbs,) = yield [Fetch("databases")]
    dbs = [d for d in _need(dbs) if isinstance(d, dict)]
    if ids is None:
        return dbs
    by_id = {str(d.get("id")): d for d in dbs}
    missing = [i for i in dict.fromkeys(ids) if i not in by_id]
    if missing:  # e.g. a read replica, which the list nests instead of listing
        res = yield [Fetch("database", id=i, mode="item") for i in missing]
        by_id.update({i: _need(r) for i, r in zip(missing, res, strict=True)})
    return [by_id[i] for i in ids]


def _database_usage(lin: Lineage, ids: Sequence[str] | None) -> Plan:
    dbs = yield from _select_databases(ids)
    usage = yield [Fetch("database_usage", id=str(d.get("id")), mode="item") for d in dbs]
    return F.database_usage_frame([(d, _need(u)) for d, u in zip(dbs, usage, strict=True)], lineage=lin)


PERIODS = ("day", "week", "month", "year")


def _alerts_fetch(db_id: str, period: str) -> Fetch:
    if period not in PERIODS:
        raise ConfigError(f"period={period!r}: database alerts cover one of {', '.join(PERIODS)}")
    return Fetch("database_alerts", id=db_id, mode="item", body=(("period", period),))


def _database_alerts(lin: Lineage, ids: Sequence[str] | None, period: str) -> Plan:
    if ids is None:
        dbs = yield from _select_databases(None)
        ids = [str(d.get("id")) for d in dbs]
    res = yield [_alerts_fetch(i, period) for i in ids]
    return F.database_alerts_frame([(i, _need(r)) for i, r in zip(ids, res, strict=True)], lineage=lin)


def _database(lin: Lineage, db_id: str) -> Plan:
    db, cat = yield [Fetch("database", id=db_id, mode="item"), Fetch("database_plans")]
    prices = _optional(cat, "GET /databases/plans", f"databases: {_NO_COST}")
    return F.databases_frame([_need(db)], database_plans=prices, lineage=lin)


def _database_health(lin: Lineage, db_id: str, period: str) -> Plan:
    db, usage, alerts, backups = yield [
        Fetch("database", id=db_id, mode="item"), Fetch("database_usage", id=db_id, mode="item"),
        _alerts_fetch(db_id, period), Fetch("database_backups", id=db_id, mode="raw"),
    ]
    db = _need(db)
    return database_health(
        db,
        usage=F.database_usage_frame([(db, _need(usage))], lineage=lin),
        alerts=F.database_alerts_frame([(db_id, _need(alerts))], lineage=lin),
        backups=_need(backups), fetched_at=lin.fetched_at,
    )


_PLAN_FACTORIES: dict[str, Callable[[Lineage], Plan]] = {
    "account": _account,
    "instances": lambda lin: _priced("instances", "plans", F.instances_frame, "plans", lin),
    "bare_metal": lambda lin: _priced("bare_metal", "plans_metal", F.bare_metal_frame, "plans_metal", lin),
    "kubernetes_clusters": lambda lin: _kubernetes(lin, F.kubernetes_clusters_frame),
    "kubernetes_node_pools": lambda lin: _kubernetes(lin, F.kubernetes_node_pools_frame),
    "load_balancers": lambda lin: _simple("load_balancers", F.load_balancers_frame, lin),
    "block_storage": lambda lin: _simple("block_storage", F.block_storage_frame, lin),
    "databases": _databases,
    "snapshots": lambda lin: _simple("snapshots", F.snapshots_frame, lin),
    "object_storage": lambda lin: _simple("object_storage", F.object_storage_frame, lin),
    "regions": lambda lin: _simple("regions", F.regions_frame, lin),
    "plans": _plans,
    "billing_invoices": lambda lin: _simple("billing_invoices", F.billing_invoices_frame, lin),
    "pending_charges": lambda lin: _simple("pending_charges", F.pending_charges_frame, lin),
    "inference_subscriptions": lambda lin: _simple("inference_subscriptions", F.inference_subscriptions_frame, lin),
    "database_usage": lambda lin: _database_usage(lin, None),
    "database_alerts": lambda lin: _database_alerts(lin, None, "day"),
}


def resource_plan(name: str, lineage: Lineage) -> Plan:
    """The plan (a generator of :class:`Fetch` batches) that builds resource frame ``name``."""
    try:
        return _PLAN_FACTORIES[name](lineage)
    except KeyError:
        raise ConfigError(f"unknown inventory resource {name!r}; choose from {', '.join(_PLAN_FACTORIES)}") from None


def _resolve(resources: str | Iterable[str]) -> list[str]:
    if isinstance(resources, str):
        names = list(ALL_RESOURCES) if resources == "all" else [resources]
    else:
        names = list(dict.fromkeys(resources))
    for n in names:
        if n not in _PLAN_FACTORIES:
            raise ConfigError(f"unknown inventory resource {n!r} in resources=; choose from 'all' or "
                              f"{', '.join(_PLAN_FACTORIES)}")
    return names


def _assemble(results: Mapping[str, Any], lin: Lineage, strict: bool) -> InventorySnapshot:
    """The snapshot of ``results``, or raise when it would mislead.

    Partial failures land in ``.errors`` (and warn). But when every account resource requested failed — a wrong
    or revoked key, an IP-restricted key, the API down — an empty snapshot would read as "you run nothing,
    $0/month", so the failure is raised instead: the authentication/permission error if there is one (a
    rejected key is the usual cause), else the first failure, with a note naming every failed resource.
    """
    frames = {n: r for n, r in results.items() if not isinstance(r, BaseException)}
    failed = [(n, r) for n, r in results.items() if isinstance(r, BaseException)]
    if strict and failed:
        raise failed[0][1]
    account = [n for n in results if n not in PUBLIC_RESOURCES]
    if account and all(isinstance(results[n], BaseException) for n in account):
        errs = [results[n] for n in account]
        auth = [e for e in errs if isinstance(e, AuthenticationError | PermissionDeniedError)]
        exc = auth[0] if auth else errs[0]
        kinds = ", ".join(f"{n}: {error_kind(results[n])}" for n in account)
        exc.add_note(f"inventory snapshot: none of the {len(account)} account resource(s) could be fetched "
                     f"({kinds}); an empty snapshot would have read as $0/month, so this is raised instead")
        raise exc
    if failed:
        warnings.warn(f"inventory snapshot is incomplete: {len(failed)} of {len(results)} resource(s) failed "
                      f"({', '.join(n for n, _ in failed)}); see snap.errors", InventoryWarning, stacklevel=3)
    return InventorySnapshot(frames, errors_frame(failed), lin.fetched_at, lin.base_url)


def _single(results: Mapping[str, Any]) -> Any:
    return _need(results["result"])


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled or total == 0, desc=desc, unit="resource", leave=False)


# --------------------------------------------------------------------------------------------------------------
# The public API, written once; the two drivers below only say how plans are executed.
# --------------------------------------------------------------------------------------------------------------
FrameT = TypeVar("FrameT")
SnapT = TypeVar("SnapT")
HealthT = TypeVar("HealthT")


class _InventoryMethods(Generic[FrameT, SnapT, HealthT]):
    """Every ``client.inventory`` method. Sync: returns the value; async: returns an awaitable of it."""

    def __init__(self, client: Any, *, concurrency: int = DEFAULT_CONCURRENCY, per_page: int = 500) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self._client = client
        self.concurrency = concurrency
        self.per_page = per_page

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self._base_url)!r})"

    @property
    def _base_url(self) -> str:
        return str(self._client.settings.api_url)

    def _lineage(self) -> Lineage:
        return Lineage.now(redact(self._base_url))

    def _execute(self, jobs: dict[str, Plan], finish: Callable[[dict[str, Any]], Any], progress: bool,
                 desc: str) -> Any:
        raise NotImplementedError

    def _frame(self, plan: Plan, progress: bool = False, desc: str = "inventory") -> FrameT:
        return cast(FrameT, self._execute({"result": plan}, _single, progress, desc))

    # --- one frame per resource -----------------------------------------------------------------------------
    def account(self) -> FrameT:
        """``GET /account`` as one row: name, email, acls, balance_usd, pending_charges_usd, last payment.

        >>> client.inventory.account()[["name", "email", "balance_usd"]]
                          name              email  balance_usd
        0  Sandbox Analytics 0  ops+0@example.com      -449.85
        """
        return self._frame(resource_plan("account", self._lineage()))

    def instances(self) -> FrameT:
        """Compute instances, with ``plan_vcpus``/``plan_ram_mb``/``plan_disk_gb``/``monthly_cost_usd`` joined from
        ``GET /plans``. Never ``default_password`` or the ``kvm`` console URL.

        >>> client.inventory.instances().groupby("region", observed=True).size().head(3)
        region
        ams    2
        atl    2
        bom    3
        dtype: int64
        """
        return self._frame(resource_plan("instances", self._lineage()))

    def bare_metal(self) -> FrameT:
        """Bare-metal servers, priced from ``GET /plans-metal``.

        >>> client.inventory.bare_metal()[["label", "region", "monthly_cost_usd"]]
                    label region  monthly_cost_usd
        0  metal-lax-0000    lax             725.0
        1  metal-ewr-0001    ewr             120.0
        2  metal-lax-0002    lax             725.0
        """
        return self._frame(resource_plan("bare_metal", self._lineage()))

    def kubernetes_clusters(self) -> FrameT:
        """VKE clusters; ``monthly_cost_usd`` sums their node pools.

        >>> client.inventory.kubernetes_clusters()[["label", "region", "monthly_cost_usd"]]
               label region  monthly_cost_usd
        0  vke-ams-0    ams             100.0
        1  vke-ams-1    ams             184.0
        """
        return self._frame(resource_plan("kubernetes_clusters", self._lineage()))

    def kubernetes_node_pools(self) -> FrameT:
        """One row per VKE node pool (``cluster_id``, ``node_quantity``, cost = nodes × plan price).

        >>> client.inventory.kubernetes_node_pools()[["cluster_label", "node_quantity", "monthly_cost_usd"]]
          cluster_label  node_quantity  monthly_cost_usd
        0     vke-ams-0              1              20.0
        1     vke-ams-0              2              80.0
        2     vke-ams-1              4             160.0
        3     vke-ams-1              1              24.0
        """
        return self._frame(resource_plan("kubernetes_node_pools", self._lineage()))

    def load_balancers(self) -> FrameT:
        """Load balancers, nested ``health_check``/``generic_info``/``forwarding_rules`` beside flat twins.

        >>> client.inventory.load_balancers()[["label", "region"]]
              label region
        0  lb-ewr-0    ewr
        1  lb-ord-1    ord
        2  lb-ord-2    ord
        """
        return self._frame(resource_plan("load_balancers", self._lineage()))

    def block_storage(self) -> FrameT:
        """Block storage volumes (``monthly_cost_usd`` is the volume's own ``cost``).

        >>> client.inventory.block_storage()[["label", "size_gb", "monthly_cost_usd"]].head(3)
              label  size_gb  monthly_cost_usd
        0  vol-0000      250              25.0
        1  vol-0001      250              25.0
        2  vol-0002       40               1.0
        """
        return self._frame(resource_plan("block_storage", self._lineage()))

    def databases(self, engine: str | None = None) -> FrameT:
        """Managed databases of every engine, or of one (``engine="pg"``, ``"mysql"``, ``"valkey"``, ``"kafka"``,
        ``"ferretpg"``); priced from ``GET /databases/plans`` (read replicas included). No credentials.

        >>> client.inventory.databases(engine="pg")[["label", "engine", "region"]]
               label engine region
        0  pg-db-000     pg    lhr
        1  pg-db-006     pg    ...
        """
        return self._frame(_databases(self._lineage(), engine))

    def valkey(self) -> FrameT:
        """Managed Valkey databases (``databases(engine="valkey")``).

        >>> client.inventory.valkey()[["label", "engine", "region"]]
                   label  engine region
        0  valkey-db-002  valkey    ewr
        1  valkey-db-003  valkey    sea
        """
        return self.databases(engine="valkey")

    def snapshots(self) -> FrameT:
        """Instance snapshots (sizes in bytes).

        >>> client.inventory.snapshots()[["label", "size_bytes"]].head(2)
                               label    size_bytes
        0  snapshot 0 before upgrade  161061273600
        1  snapshot 1 before upgrade  164282499072
        """
        return self._frame(resource_plan("snapshots", self._lineage()))

    def object_storage(self) -> FrameT:
        """Object storage subscriptions (never the S3 keys), priced from their tier.

        >>> client.inventory.object_storage()[["label", "tier_name", "monthly_cost_usd"]]
                    label tier_name  monthly_cost_usd
        0  bucket-store-0   Premium              36.0
        1  bucket-store-1  Standard              18.0
        """
        return self._frame(resource_plan("object_storage", self._lineage()))

    def regions(self) -> FrameT:
        """The region catalogue (ids lower-case, joinable with every ``region`` column).

        >>> client.inventory.regions()["id"].head(4).tolist()
        ['ewr', 'ord', 'dfw', 'sea']
        """
        return self._frame(resource_plan("regions", self._lineage()))

    def plans(self) -> FrameT:
        """All three price catalogues (``catalogue``: compute, bare_metal, database) in one frame.

        >>> client.inventory.plans()["catalogue"].value_counts()
        catalogue
        compute       15
        database       6
        bare_metal     4
        Name: count, dtype: int64
        """
        return self._frame(resource_plan("plans", self._lineage()))

    def billing_invoices(self) -> FrameT:
        """Invoices (``amount_usd``, ``balance_usd``, ``created_at``).

        >>> round(float(client.inventory.billing_invoices()["amount_usd"].sum()), 2)
        10463.04
        """
        return self._frame(resource_plan("billing_invoices", self._lineage()))

    def pending_charges(self) -> FrameT:
        """This month's unbilled charges, one row per line item.

        >>> round(float(client.inventory.pending_charges()["total_usd"].sum()), 2)
        3226.11
        """
        return self._frame(resource_plan("pending_charges", self._lineage()))

    def inference_subscriptions(self) -> FrameT:
        """Serverless Inference subscriptions (never their ``api_key``).

        >>> client.inventory.inference_subscriptions()["label"].tolist()
        ['inference-0', 'inference-1']
        """
        return self._frame(resource_plan("inference_subscriptions", self._lineage()))

    def database_usage(self, ids: Sequence[str] | str | None = None, *, progress: bool = False) -> FrameT:
        """One row per database (all, or those in ``ids``): cpu_pct, memory_pct, memory_used_mb, disk_pct,
        disk_used_gb (``GET /databases/{id}/usage``; one request per database).

        >>> db = client.inventory.databases(engine="pg")["id"].iloc[0]
        >>> client.inventory.database_usage(ids=[db])[["label", "cpu_pct", "disk_max_gb"]]
               label  cpu_pct  disk_max_gb
        0  pg-db-000      ...         55.0
        """
        ids = [ids] if isinstance(ids, str) else ids
        return self._frame(_database_usage(self._lineage(), ids), progress, "database usage")

    def database_alerts(self, ids: Sequence[str] | str | None = None, *, period: str = "day") -> FrameT:
        """Alerts of the last ``period`` (day, week, month, year) per database (``POST /databases/{id}/alerts``,
        read-only).

        >>> db = client.inventory.databases(engine="pg")["id"].iloc[0]
        >>> client.inventory.database_alerts(db, period="week").columns[:4].tolist()
        ['database_id', 'alert_at', 'message_type', 'description']
        """
        ids = [ids] if isinstance(ids, str) else ids
        return self._frame(_database_alerts(self._lineage(), ids, period))

    # --- snapshots ------------------------------------------------------------------------------------------
    def snapshot(self, resources: str | Iterable[str] = "all", progress: bool = True, strict: bool = False) -> SnapT:
        """Fetch several resource types concurrently into an :class:`InventorySnapshot`.

        ``resources`` is ``"all"`` (every type in ``schemas.ALL_RESOURCES``) or names; add ``"database_usage"``
        or ``"database_alerts"`` explicitly (one request per database). A resource that fails after retries
        lands in ``.errors`` (with an :class:`InventoryWarning`; ``snap.ok`` is then False) and the rest
        completes; ``strict=True`` raises the first failure instead. A paged list that came back short of the
        server's ``meta.total`` is such a failure (``error_kind == "incomplete"``): a snapshot never holds a
        silently partial frame. When *no* account resource could be fetched (a wrong or revoked key, the API
        down) the failure is raised — :class:`~vultr_toolkit.AuthenticationError` for a rejected key — because
        an empty snapshot would read as "$0/month".

        >>> snap = client.inventory.snapshot(progress=False)
        >>> snap.ok, len(snap.errors)
        (True, 0)
        >>> snap.summary().tail(1)
           resource_type region  count  monthly_cost_usd
        41         total  total     57            4402.6
        """
        names = _resolve(resources)
        lin = self._lineage()
        jobs = {n: resource_plan(n, lin) for n in names}
        return cast(SnapT, self._execute(jobs, lambda r: _assemble(r, lin, strict), progress, "inventory"))

    # --- the original integration's vocabulary (thin aliases) -----------------------------------------------
    def get_account_info(self) -> FrameT:
        """Alias of :meth:`account` (``getAccountInfo()`` of the TypeScript integration)."""
        return self.account()

    def list_databases(self, engine: str | None = None) -> FrameT:
        """Alias of :meth:`databases` (``listDatabases()``)."""
        return self.databases(engine=engine)

    def get_database(self, database_id: str) -> FrameT:
        """One database as a one-row :meth:`databases` frame (``GET /databases/{id}``).

        >>> db = client.inventory.databases(engine="pg")["id"].iloc[0]
        >>> client.inventory.get_database(db)[["label", "engine"]]
               label engine
        0  pg-db-000     pg
        """
        return self._frame(_database(self._lineage(), database_id))

    def get_database_health(self, database_id: str, *, period: str = "day") -> HealthT:
        """Usage + recent alerts (``period``) + latest backup of one database, as a :class:`DatabaseHealth`.

        >>> db = client.inventory.databases(engine="pg")["id"].iloc[0]
        >>> health = client.inventory.get_database_health(db)
        >>> health.to_dict()["usage"]["disk_max_gb"], health.to_dict()["label"]
        (55.0, 'pg-db-000')
        """
        plan = _database_health(self._lineage(), database_id, period)
        return cast(HealthT, self._execute({"result": plan}, _single, False, "database health"))

    def list_valkey(self) -> FrameT:
        """Alias of :meth:`valkey` (``listValkey()``)."""
        return self.valkey()

    def list_instances(self) -> FrameT:
        """Alias of :meth:`instances` (``listInstances()``)."""
        return self.instances()

    def get_infrastructure_summary(self, *, progress: bool = False) -> FrameT:
        """A full snapshot's :meth:`InventorySnapshot.summary` (``getInfrastructureSummary()``): count and monthly
        cost per resource type × region, with totals. Failed resources are left out (warning).

        >>> client.inventory.get_infrastructure_summary().head(2)
          resource_type region  count  monthly_cost_usd
        0     instances    ams      2              45.0
        1     instances    atl      2               5.0
        """
        lin = self._lineage()
        jobs = {n: resource_plan(n, lin) for n in ALL_RESOURCES}
        return cast(FrameT, self._execute(jobs, lambda r: _summary_of(_assemble(r, lin, False)), progress,
                                          "inventory"))


def _summary_of(snap: InventorySnapshot) -> pd.DataFrame:
    if len(snap.errors):
        warnings.warn(f"infrastructure summary is incomplete: {', '.join(snap.errors['resource'].astype(str))} "
                      "failed", InventoryWarning, stacklevel=2)
    return snap.summary()


# --------------------------------------------------------------------------------------------------------------
# Drivers
# --------------------------------------------------------------------------------------------------------------
class _Job:
    """One plan being driven: its generator and the fetches it waits for."""

    __slots__ = ("gen", "pending")

    def __init__(self, gen: Plan) -> None:
        self.gen = gen
        self.pending: list[Any] = []


def _step(gen: Plan, results: Results | None) -> tuple[list[Fetch] | None, Any]:
    """Advance a plan: ``(next batch, None)`` or ``(None, final value or exception)``."""
    try:
        batch = gen.send(results) if results is not None else next(gen)
    except StopIteration as stop:
        return None, stop.value
    except Exception as exc:
        return None, exc
    return batch, None


def _value(fut: cf.Future[Any]) -> Any:
    exc = fut.exception()
    return exc if exc is not None else fut.result()


class InventoryAPI(_InventoryMethods[pd.DataFrame, InventorySnapshot, DatabaseHealth]):
    """``vt.Client(...).inventory``: inventory DataFrames (sync). Plans run on a private thread pool.

    >>> with vt.Client(sb.settings()) as c:
    ...     c.inventory.instances().shape
    (25, 36)
    """

    def _fetch(self, f: Fetch) -> Any:
        m = self._client.management
        if f.mode == "list":
            keys = (ENDPOINTS[f.endpoint].key, *_ALT_KEYS.get(f.endpoint, ()))
            for i, key in enumerate(keys):
                try:
                    return m.paginate(f.path, key, per_page=self.per_page)
                except APIResponseError as e:
                    if i == len(keys) - 1 or not _missing_key(e):
                        raise
        body = m.post(f.path, dict(f.body), idempotent=True) if f.method == "POST" else m.get(f.path)
        return _unwrap(f, body)

    def _execute(self, jobs: dict[str, Plan], finish: Callable[[dict[str, Any]], Any], progress: bool,
                 desc: str) -> Any:
        results: dict[str, Any] = {}
        memo: dict[Fetch, cf.Future[Any]] = {}
        bar = _progress(len(jobs), progress, desc)
        pool = cf.ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="vt-inventory")
        try:
            active: dict[str, _Job] = {}

            def advance(name: str, job: _Job, res: Results | None) -> None:
                while True:
                    batch, out = _step(job.gen, res)
                    if batch is None:
                        results[name] = out
                        active.pop(name, None)
                        bar.update(1)
                        return
                    if batch:
                        for f in batch:
                            if f not in memo:
                                memo[f] = pool.submit(self._fetch, f)
                        job.pending = [memo[f] for f in batch]
                        active[name] = job
                        return
                    res = []  # an empty batch: nothing to wait for

            for name, gen in jobs.items():
                advance(name, _Job(gen), None)
            while active:
                waiting = {f for job in active.values() for f in job.pending if not f.done()}
                if waiting:
                    cf.wait(waiting, return_when=cf.FIRST_COMPLETED)
                for name, job in list(active.items()):
                    if all(f.done() for f in job.pending):
                        advance(name, job, [_value(f) for f in job.pending])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return finish({name: results[name] for name in jobs})  # request order, not completion order


class AsyncInventoryAPI(_InventoryMethods[Any, Any, Any]):
    """``vt.AsyncClient(...).inventory``: the same methods as :class:`InventoryAPI`, awaited.

    >>> import asyncio
    >>> async def main():
    ...     async with vt.AsyncClient(sb.settings()) as aclient:
    ...         df = await aclient.inventory.instances()
    ...         snap = await aclient.inventory.snapshot(progress=False)
    ...         return df.shape, snap.ok
    >>> asyncio.run(main())
    ((25, 36), True)
    """

    async def _fetch(self, f: Fetch) -> Any:
        m = self._client.management
        if f.mode == "list":
            keys = (ENDPOINTS[f.endpoint].key, *_ALT_KEYS.get(f.endpoint, ()))
            for i, key in enumerate(keys):
                try:
                    return await m.paginate(f.path, key, per_page=self.per_page)
                except APIResponseError as e:
                    if i == len(keys) - 1 or not _missing_key(e):
                        raise
        body = (await m.post(f.path, dict(f.body), idempotent=True) if f.method == "POST"
                else await m.get(f.path))
        return _unwrap(f, body)

    async def _run(self, jobs: dict[str, Plan], finish: Callable[[dict[str, Any]], Any], progress: bool,
                   desc: str) -> Any:
        sem = asyncio.Semaphore(self.concurrency)
        memo: dict[Fetch, asyncio.Task[Any]] = {}
        bar = _progress(len(jobs), progress, desc)

        async def fetch(f: Fetch) -> Any:
            async with sem:
                return await self._fetch(f)

        def task(f: Fetch) -> asyncio.Task[Any]:
            if f not in memo:
                memo[f] = asyncio.ensure_future(fetch(f))
            return memo[f]

        async def drive(gen: Plan) -> Any:
            res: Results | None = None
            while True:
                batch, out = _step(gen, res)
                if batch is None:
                    bar.update(1)
                    return out
                got = await asyncio.gather(*(task(f) for f in batch), return_exceptions=True)
                for g in got:  # cancellation and KeyboardInterrupt are not per-resource failures
                    if isinstance(g, BaseException) and not isinstance(g, Exception):
                        raise g
                res = list(got)

        try:
            values = await asyncio.gather(*(drive(g) for g in jobs.values()))
        finally:
            for t in memo.values():
                t.cancel()
            bar.close()
        return finish(dict(zip(jobs, values, strict=True)))

    def _execute(self, jobs: dict[str, Plan], finish: Callable[[dict[str, Any]], Any], progress: bool,
                 desc: str) -> Any:
        return self._run(jobs, finish, progress, desc)

