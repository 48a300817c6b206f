"""The sandbox's fleet: a seeded, deterministic set of Vultr v2 objects (pure data, no I/O).

Objects carry the *current* govultr field names and types (govultr's structs track the live API more closely
than the 2023 OpenAPI document), including the
real API's quirks that a client must survive: bare-metal ``ram``/``disk`` as text, database ``status``
capitalised, some database regions upper-case (``"EWR"``), database dates as ``"YYYY-MM-DD HH:MM:SS"``, a
database ``port`` that is sometimes a string, some plan prices as strings (``"5.00"``), and secrets
(``default_password``, database ``password``/``access_key``/``access_cert``/``ca_certificate``/
``ferretdb_credentials.password``, ``s3_access_key``/``s3_secret_key``, inference ``api_key``) present in list
payloads exactly as the real API sends them. Stripping them is the inventory layer's job.

Determinism: every resource kind draws from its own :class:`random.Random` seeded with ``"<seed>:<kind>"``
(string seeds hash with SHA-512, independent of ``PYTHONHASHSEED``), and all dates count back from a fixed
epoch, so the same seed and sizes give the same fleet byte for byte; growing one kind leaves unrelated kinds as
they were (load balancers and blocks attach to instances, so they follow the instance list). Every plan an
instance, node pool, bare-metal server or database uses exists in its catalogue, so cost joins work.

Example::

    >>> fleet = build_fleet(0, {"instances": 3})
    >>> len(fleet.resources["instances"])
    3
    >>> fleet.to_json() == build_fleet(0, {"instances": 3}).to_json()
    True
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .._errors import ConfigError

__all__ = [
    "DEFAULT_SIZES",
    "PERIODS",
    "REGIONS",
    "Fleet",
    "build_fleet",
    "database_alerts",
    "database_backups",
    "database_usage",
    "inference_usage",
]

Obj = dict[str, Any]

DEFAULT_SIZES: dict[str, int] = {
    "instances": 25,
    "bare_metals": 3,
    "kubernetes_clusters": 2,
    "node_pools_per_cluster": 2,
    "load_balancers": 3,
    "blocks": 8,
    "databases": 7,
    "snapshots": 5,
    "object_storages": 2,
    "billing_history": 12,
    "billing_invoices": 6,
    "pending_charges": 6,
    "inference_subscriptions": 2,
}

# Dates count back from this fixed instant so that the fleet never depends on the wall clock.
EPOCH = datetime(2026, 11, 25, tzinfo=UTC)

# (id, city, country, continent)
REGIONS: list[tuple[str, str, str, str]] = [
    ("ewr", "New Jersey", "US", "North America"),
    ("ord", "Chicago", "US", "North America"),
    ("dfw", "Dallas", "US", "North America"),
    ("sea", "Seattle", "US", "North America"),
    ("lax", "Los Angeles", "US", "North America"),
    ("atl", "Atlanta", "US", "North America"),
    ("ams", "Amsterdam", "NL", "Europe"),
    ("lhr", "London", "GB", "Europe"),
    ("fra", "Frankfurt", "DE", "Europe"),
    ("cdg", "Paris", "FR", "Europe"),
    ("sgp", "Singapore", "SG", "Asia"),
    ("nrt", "Tokyo", "JP", "Asia"),
    ("bom", "Mumbai", "IN", "Asia"),
    ("syd", "Sydney", "AU", "Australia"),
]
_REGION_IDS = [r[0] for r in REGIONS]
_GPU_REGIONS = ["ewr", "ord", "lax", "ams", "fra", "sgp", "nrt"]

# Cloud-compute plans: (id, vcpu, ram MB, disk GB, bandwidth GB, monthly_cost, type, gpu_vram_gb, gpu_type, weight).
# A few prices are strings and some fractional, like the real catalogue, so parsers have to be lenient.
_PLANS: list[tuple[str, int, int, int, int, float | str, str, int, str, int]] = [
    ("vc2-1c-0.5gb", 1, 512, 10, 500, 2.5, "vc2", 0, "", 4),
    ("vc2-1c-1gb", 1, 1024, 25, 1024, "5.00", "vc2", 0, "", 14),
    ("vc2-1c-2gb", 1, 2048, 55, 2048, 10.0, "vc2", 0, "", 14),
    ("vc2-2c-4gb", 2, 4096, 80, 3072, 20.0, "vc2", 0, "", 12),
    ("vc2-4c-8gb", 4, 8192, 160, 4096, 40.0, "vc2", 0, "", 8),
    ("vc2-6c-16gb", 6, 16384, 320, 5120, 80.0, "vc2", 0, "", 4),
    ("vhf-1c-1gb", 1, 1024, 32, 1024, "6.00", "vhf", 0, "", 6),
    ("vhf-2c-4gb", 2, 4096, 128, 3072, 24.0, "vhf", 0, "", 6),
    ("vhf-4c-16gb", 4, 16384, 384, 5120, 96.0, "vhf", 0, "", 3),
    ("vhp-1c-2gb-amd", 1, 2048, 50, 2048, 12.0, "vhp", 0, "", 5),
    ("vhp-4c-8gb-intel", 4, 8192, 180, 5120, 48.0, "vhp", 0, "", 3),
    ("voc-g-4c-16gb-80s", 4, 16384, 80, 5120, 120.0, "voc-g", 0, "", 2),
    ("vcg-a100-1c-6g-4vram", 1, 6144, 70, 1024, 90.0, "vcg", 4, "NVIDIA_A100", 3),
    ("vcg-a100-3c-30g-20vram", 3, 30720, 350, 5120, 437.5, "vcg", 20, "NVIDIA_A100", 1),
    ("vcg-l40s-16c-180g-48vram", 16, 184320, 1200, 10240, 1341.6, "vcg", 48, "NVIDIA_L40S", 1),
]
_PLAN_BY_ID = {p[0]: p for p in _PLANS}
_PLAN_WEIGHTS = [p[9] for p in _PLANS]
_POOL_PLANS = ["vc2-2c-4gb", "vc2-4c-8gb", "vhf-2c-4gb", "vcg-a100-1c-6g-4vram"]

# Bare-metal plans: (id, cpu_count, cpu_model, cpu_threads, ram MB, disk GB, disk_count, bandwidth, monthly, type)
_METAL_PLANS: list[tuple[str, int, str, int, int, int, int, int, float | str, str]] = [
    ("vbm-4c-32gb", 4, "E3-1270v6", 8, 32768, 240, 2, 5120, 120.0, "SSD"),
    ("vbm-6c-32gb", 6, "E-2286G", 12, 32768, 960, 2, 10240, "185.00", "SSD"),
    ("vbm-8c-132gb", 8, "E-2288G", 16, 131072, 1920, 2, 10240, 350.0, "NVMe"),
    ("vbm-24c-256gb-amd", 24, "EPYC 7443P", 48, 262144, 1920, 2, 10240, 725.0, "NVMe"),
]

# Managed-database plans: (id, nodes, vcpu, ram MB, disk GB, monthly_cost, engines)
_ALL_SQL = ("mysql", "pg", "valkey")
_DB_PLANS: list[tuple[str, int, int, int, int, float, tuple[str, ...]]] = [
    ("vultr-dbaas-hobbyist-cc-1-25-1", 1, 1, 1024, 25, 15.0, _ALL_SQL),
    ("vultr-dbaas-startup-cc-1-55-2", 1, 1, 2048, 55, 30.0, _ALL_SQL),
    ("vultr-dbaas-business-cc-1-55-2", 2, 1, 2048, 55, 60.0, _ALL_SQL),
    ("vultr-dbaas-premium-cc-2-80-4", 3, 2, 4096, 80, 180.0, _ALL_SQL),
    ("vultr-dbaas-startup-3x-occ-so-2-30-2", 3, 2, 2048, 30, 120.0, ("kafka",)),
    ("vultr-dbaas-business-3x-occ-so-4-60-8", 3, 4, 8192, 60, 390.0, ("kafka",)),
]
_DB_PLAN_BY_ID = {p[0]: p for p in _DB_PLANS}

# The default database mix covers every engine (valkey twice) before the rest is drawn at random.
_DB_ENGINE_CYCLE = ["pg", "mysql", "valkey", "valkey", "kafka", "ferretpg", "pg"]
_DB_ENGINES = ["pg", "mysql", "valkey", "kafka", "ferretpg"]
_DB_ENGINE_WEIGHTS = [4, 3, 3, 1, 1]
_DB_VERSION: dict[str, Any] = {"pg": "16", "mysql": 8, "valkey": "7", "kafka": "3.7", "ferretpg": "1.24"}
_EVICTION = ["noeviction", "allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl", "allkeys-lfu"]
_DB_STATUS = ["Running"] * 9 + ["Rebalancing", "Rebuilding", "Configuring"]

_OS = [(2284, "Ubuntu 24.04 LTS x64"), (1743, "Ubuntu 22.04 LTS x64"), (2136, "Debian 12 x64 (bookworm)"),
       (542, "CentOS 9 Stream x64"), (2076, "Alma Linux 9 x64"), (477, "Debian 11 x64 (bullseye)")]
_TAGS = ["prod", "staging", "dev", "ml", "gpu", "analytics", "web", "etl", "batch", "team-data", "team-ai"]
_ROLES = ["web", "api", "worker", "etl", "ml", "jupyter", "gpu", "cache", "queue", "batch"]
_INSTANCE_STATUS = ["active"] * 45 + ["pending"] * 2 + ["suspended", "resizing"]
_PRODUCTS: list[tuple[str, str]] = [
    ("Vultr Cloud Compute", "hours"), ("Bare Metal", "hours"), ("Managed Database", "hours"),
    ("Block Storage", "hours"), ("Load Balancer", "hours"), ("Object Storage", "hours"),
    ("Serverless Inference", "hours"), ("Bandwidth Overage", "overage"),
]
_INFERENCE_MODELS = ["glm-5.2", "deepseek-v4.1-flash", "qwen3.8-27b", "minimax-m3"]

PERIODS = ("day", "week", "month", "year")


# --- small deterministic helpers ----------------------------------------------------------------------------
def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _dbdate(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def _ago(rng: random.Random, max_days: float, min_days: float = 0.0) -> datetime:
    seconds = int(rng.uniform(min_days, max_days) * 86400)
    return EPOCH - timedelta(seconds=seconds)


def _secret(rng: random.Random, n: int = 20, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _ip(index: int, net: int) -> str:
    # 198.18.0.0/15 is reserved for benchmarking: fake but plausible, and unique for 130k indexes per kind.
    return f"198.{18 + (index >> 16) % 2}.{(index >> 8) & 255}.{index & 255}" if net == 0 else \
        f"10.{net}.{(index >> 8) & 255}.{index & 255}"


def _v6(index: int, net: int) -> tuple[str, str]:
    prefix = f"2001:db8:{net:x}:{index:x}"
    return f"{prefix}::", f"{prefix}:5400:4ff:fe00:1"


def _cert(rng: random.Random) -> str:
    body = base64.b64encode(rng.randbytes(96)).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def _rng(seed: int, kind: str) -> random.Random:
    return random.Random(f"{seed}:{kind}")


def _plan_cost(value: float | str) -> float:
    return float(value)


# --- the fleet ----------------------------------------------------------------------------------------------
@dataclass
class Fleet:
    """Everything the sandbox serves, generated from one seed.

    ``resources`` maps a kind (the keys of :data:`DEFAULT_SIZES` plus the catalogues ``regions``, ``plans``,
    ``plans_metal`` and ``database_plans``) to its objects, in API order. ``account`` and ``bandwidth`` are the
    single objects of ``/account`` and ``/account/bandwidth``; ``invoice_items`` maps an invoice id to its items.
    """

    seed: int
    sizes: dict[str, int]
    resources: dict[str, list[Obj]]
    account: Obj
    bandwidth: Obj
    invoice_items: dict[int, list[Obj]] = field(default_factory=dict)

    def to_json(self) -> str:
        """Canonical JSON of the whole fleet (used to check determinism byte for byte)."""
        return json.dumps(
            {"resources": self.resources, "account": self.account, "bandwidth": self.bandwidth,
             "invoice_items": {str(k): v for k, v in self.invoice_items.items()}},
            sort_keys=True, separators=(",", ":"),
        )

    def secret_values(self) -> set[str]:
        """Every secret string in the fleet, so tests can scan frames, logs and stores for leaks.

        >>> fleet = build_fleet(0)
        >>> any(inst["default_password"] in fleet.secret_values() for inst in fleet.resources["instances"])
        True
        """
        found: set[str] = set()
        for kind in ("instances", "bare_metals"):
            found.update(o["default_password"] for o in self.resources[kind])
        for db in _walk_databases(self.resources["databases"]):
            for key in ("password", "access_key", "access_cert", "ca_certificate"):
                if db.get(key):
                    found.add(db[key])
            creds = db.get("ferretdb_credentials")
            if creds and creds.get("password"):
                found.add(creds["password"])
        for o in self.resources["object_storages"]:
            found.update((o["s3_access_key"], o["s3_secret_key"]))
        found.update(s["api_key"] for s in self.resources["inference_subscriptions"])
        return found


def _walk_databases(dbs: list[Obj]) -> Iterator[Obj]:
    for db in dbs:
        yield db
        yield from _walk_databases(db.get("read_replicas") or [])


def check_sizes(fleet: Mapping[str, int] | None) -> dict[str, int]:
    """Merge user sizes over :data:`DEFAULT_SIZES`, rejecting unknown kinds and negative counts.

    >>> check_sizes({"instances": 10})["instances"]
    10
    """
    sizes = dict(DEFAULT_SIZES)
    for key, value in (fleet or {}).items():
        if key not in DEFAULT_SIZES:
            raise ConfigError(f"Sandbox(fleet=...): unknown kind {key!r}; expected one of {sorted(DEFAULT_SIZES)}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"Sandbox(fleet=...): {key} must be a non-negative integer, got {value!r}")
        sizes[key] = value
    return sizes


def build_fleet(seed: int = 0, sizes: Mapping[str, int] | None = None) -> Fleet:
    """Generate the fleet for ``seed`` with ``sizes`` overriding :data:`DEFAULT_SIZES`.

    >>> f = build_fleet(1, {"databases": 6})
    >>> sorted({db["database_engine"] for db in f.resources["databases"]})
    ['ferretpg', 'kafka', 'mysql', 'pg', 'valkey']
    """
    n = check_sizes(sizes)
    res: dict[str, list[Obj]] = {
        "regions": _regions(),
        "plans": _plans(),
        "plans_metal": _plans_metal(),
        "database_plans": _database_plans(),
    }
    res["instances"] = _instances(seed, n["instances"])
    res["bare_metals"] = _bare_metals(seed, n["bare_metals"])
    res["kubernetes_clusters"] = _clusters(seed, n["kubernetes_clusters"], n["node_pools_per_cluster"])
    res["load_balancers"] = _load_balancers(seed, n["load_balancers"], res["instances"])
    res["blocks"] = _blocks(seed, n["blocks"], res["instances"])
    res["databases"] = _databases(seed, n["databases"])
    res["snapshots"] = _snapshots(seed, n["snapshots"])
    res["object_storages"] = _object_storages(seed, n["object_storages"])
    res["inference_subscriptions"] = _subscriptions(seed, n["inference_subscriptions"])
    res["pending_charges"] = _pending_charges(seed, n["pending_charges"], res)
    invoices, items = _invoices(seed, n["billing_invoices"])
    res["billing_invoices"] = invoices
    res["billing_history"] = _billing_history(seed, n["billing_history"], invoices)
    account, bandwidth = _account(seed, res)
    return Fleet(seed=seed, sizes=n, resources=res, account=account, bandwidth=bandwidth, invoice_items=items)


# --- catalogues ---------------------------------------------------------------------------------------------
def _regions() -> list[Obj]:
    out = []
    for rid, city, country, continent in REGIONS:
        options = ["ddos_protection", "block_storage_storage_opt", "load_balancers", "kubernetes"]
        if rid in _GPU_REGIONS:
            options.insert(1, "block_storage_high_perf")
        out.append({"id": rid, "city": city, "country": country, "continent": continent, "options": options,
                    "connectivity": ["public_ip", "vpc"]})
    return out


def _plans() -> list[Obj]:
    out = []
    for pid, vcpu, ram, disk, bw, cost, ptype, vram, gpu, _w in _PLANS:
        plan: Obj = {"id": pid, "vcpu_count": vcpu, "ram": ram, "disk": disk, "disk_count": 1, "bandwidth": bw,
                     "monthly_cost": cost, "type": ptype,
                     "locations": list(_GPU_REGIONS if ptype == "vcg" else _REGION_IDS)}
        if vram:
            plan["gpu_vram_gb"] = vram
            plan["gpu_type"] = gpu
        out.append(plan)
    return out


def _plans_metal() -> list[Obj]:
    return [{"id": pid, "cpu_count": cpus, "cpu_model": model, "cpu_threads": threads, "ram": ram, "disk": disk,
             "disk_count": disks, "bandwidth": bw, "monthly_cost": cost, "type": kind,
             "locations": list(_REGION_IDS[:8])}
            for pid, cpus, model, threads, ram, disk, disks, bw, cost, kind in _METAL_PLANS]


def _database_plans() -> list[Obj]:
    out = []
    for pid, nodes, vcpu, ram, disk, cost, engines in _DB_PLANS:
        out.append({
            "id": pid, "number_of_nodes": nodes, "type": "OCC" if "occ" in pid else "CC", "vcpu_count": vcpu,
            "ram": ram, "disk": disk, "monthly_cost": cost,
            "supported_engines": {e: e in engines for e in ("mysql", "pg", "valkey", "kafka")},
            "max_connections": {"mysql": 75 * vcpu, "pg": 22 * vcpu} if "pg" in engines else {},
            "locations": list(_REGION_IDS),
        })
    return out


# --- compute ------------------------------------------------------------------------------------------------
def _instances(seed: int, count: int) -> list[Obj]:
    rng = _rng(seed, "instances")
    plan_ids = [p[0] for p in _PLANS]
    out = []
    for i in range(count):
        # One draw at a time, so a bigger fleet starts with exactly the smaller one's instances.
        pid = rng.choices(plan_ids, weights=_PLAN_WEIGHTS)[0]
        _, vcpu, ram, disk, bw, _cost, ptype, _vram, _gpu, _w = _PLAN_BY_ID[pid]
        region = rng.choice(_GPU_REGIONS if ptype == "vcg" else _REGION_IDS)
        os_id, os_name = rng.choice(_OS)
        role = "gpu" if ptype == "vcg" else rng.choice(_ROLES)
        label = f"{role}-{region}-{i:05d}"
        tags = rng.sample(_TAGS, rng.randint(0, 3))
        status = rng.choice(_INSTANCE_STATUS)
        power = "running" if status == "active" and rng.random() < 0.92 else "stopped"
        v6net, v6ip = _v6(i, 1)
        out.append({
            "id": _uuid(rng),
            "os": os_name, "os_id": os_id, "app_id": 0, "image_id": "", "snapshot_id": "",
            "ram": ram, "disk": disk, "vcpu_count": vcpu, "plan": pid, "region": region,
            "main_ip": _ip(i, 0), "netmask_v4": "255.255.254.0", "gateway_v4": _ip(i & ~255 | 1, 0),
            "internal_ip": _ip(i, 1) if rng.random() < 0.5 else "",
            "v6_network": v6net, "v6_main_ip": v6ip, "v6_network_size": 64,
            "date_created": _iso(_ago(rng, 720)),
            "status": status, "power_status": power,
            "server_status": "ok" if status == "active" else rng.choice(["none", "locked", "installingbooting"]),
            "allowed_bandwidth": bw,  # GB per month, as the plan sells it
            "label": label, "hostname": label, "tag": tags[0] if tags else "", "tags": tags,
            "kvm": f"https://my.vultr.com/subs/vps/novnc/api.php?data={_secret(rng, 24)}",
            "firewall_group_id": "", "features": rng.sample(["ipv6", "auto_backups", "ddos_protection"],
                                                            rng.randint(0, 2)),
            "user_scheme": "root" if rng.random() < 0.8 else "limited",
            "vpc_only": False,
            "default_password": _secret(rng, 16, string.ascii_letters + string.digits + "!#$%&*+=?@"),
        })
    return out


def _bare_metals(seed: int, count: int) -> list[Obj]:
    rng = _rng(seed, "bare_metals")
    out = []
    for i in range(count):
        pid, cpus, _model, _thr, ram, disk, disks, _bw, _cost, kind = rng.choice(_METAL_PLANS)
        region = rng.choice(_REGION_IDS[:8])
        os_id, os_name = rng.choice(_OS)
        v6net, v6ip = _v6(i, 2)
        tags = rng.sample(_TAGS, rng.randint(0, 2))
        out.append({
            "id": _uuid(rng), "os": os_name, "os_id": os_id, "app_id": 0, "image_id": "", "snapshot_id": "",
            # The real API describes bare-metal memory and disks in text, unlike instances.
            "ram": f"{ram} MB", "disk": f"{disks}x {disk}GB {kind}",
            "main_ip": _ip(40000 + i, 0), "cpu_count": cpus, "region": region,
            "default_password": _secret(rng, 16, string.ascii_letters + string.digits + "!#$%&*+=?@"),
            "date_created": _iso(_ago(rng, 900)),
            "status": "active" if rng.random() < 0.9 else "pending",
            "netmask_v4": "255.255.255.0", "gateway_v4": _ip((40000 + i) & ~255 | 1, 0), "plan": pid,
            "v6_network": v6net, "v6_main_ip": v6ip, "v6_network_size": 64,
            "mac_address": rng.getrandbits(40), "label": f"metal-{region}-{i:04d}",
            "features": ["ipv6"] if rng.random() < 0.5 else [], "tag": tags[0] if tags else "", "tags": tags,
            "user_scheme": "root",
        })
    return out


def _clusters(seed: int, count: int, pools_per_cluster: int) -> list[Obj]:
    rng = _rng(seed, "kubernetes_clusters")
    out = []
    for i in range(count):
        cid = _uuid(rng)
        region = rng.choice(_GPU_REGIONS)
        created = _ago(rng, 500, 30)
        pools = []
        for j in range(pools_per_cluster):
            plan = _POOL_PLANS[(i + j) % len(_POOL_PLANS)]
            quantity = rng.randint(1, 4)
            label = f"pool-{j}"
            pool_created = created + timedelta(minutes=j)
            nodes = [{"id": _uuid(rng), "label": f"{label}-{rng.getrandbits(48):012x}",
                      "date_created": _iso(pool_created), "status": "active", "ip": _ip(50000 + i * 64 + k, 2)}
                     for k in range(quantity)]
            pools.append({
                "id": _uuid(rng), "date_created": _iso(pool_created),
                "date_updated": _iso(pool_created + timedelta(days=rng.randint(0, 20))),
                "label": label, "tag": rng.choice(_TAGS), "plan": plan, "status": "active",
                "node_quantity": quantity, "min_nodes": 1, "max_nodes": max(quantity, 5),
                "auto_scaler": rng.random() < 0.5, "user_data": "", "vpc_only": False,
                "labels": {"workload": rng.choice(["web", "batch", "ml"])},
                "taints": ([{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
                           if plan.startswith("vcg") else []),
                "nodes": nodes,
            })
        out.append({
            "id": cid, "label": f"vke-{region}-{i}", "date_created": _iso(created),
            "cluster_subnet": "10.244.0.0/16", "service_subnet": "10.96.0.0/12", "ip": _ip(60000 + i, 0),
            "endpoint": f"{cid}.vultr-k8s.com", "version": rng.choice(["v1.31.2+1", "v1.32.1+1", "v1.33.0+1"]),
            "region": region, "status": "active", "ha_controlplanes": rng.random() < 0.5, "firewall_group_id": "",
            "oidc": {"issuer_url": "", "client_id": "", "username_claim": "", "groups_claim": ""},
            "node_pools": pools,
        })
    return out


def _load_balancers(seed: int, count: int, instances: list[Obj]) -> list[Obj]:
    rng = _rng(seed, "load_balancers")
    out = []
    for i in range(count):
        region = rng.choice(_REGION_IDS)
        members = [inst["id"] for inst in rng.sample(instances, min(len(instances), rng.randint(0, 3)))]
        https = rng.random() < 0.5
        rules = [{"id": f"{rng.getrandbits(64):016x}", "frontend_protocol": "http", "frontend_port": 80,
                  "backend_protocol": "http", "backend_port": 8080}]
        if https:
            rules.append({"id": f"{rng.getrandbits(64):016x}", "frontend_protocol": "https", "frontend_port": 443,
                          "backend_protocol": "http", "backend_port": 8080})
        out.append({
            "id": _uuid(rng), "date_created": _iso(_ago(rng, 600)), "region": region,
            "label": f"lb-{region}-{i}", "status": "active", "ipv4": _ip(62000 + i, 0),
            "ipv6": _v6(62000 + i, 3)[1], "instances": members, "nodes": rng.choice([1, 1, 3]),
            "health_check": {"protocol": "HTTP", "port": 8080, "path": "/health", "check_interval": 15,
                             "response_timeout": 5, "unhealthy_threshold": 5, "healthy_threshold": 5},
            "generic_info": {"balancing_algorithm": rng.choice(["roundrobin", "leastconn"]), "timeout": 600,
                             "ssl_redirect": https, "sticky_sessions": {"cookie_name": ""},
                             "proxy_protocol": False, "vpc": ""},
            "has_ssl": https, "auto_ssl": {"domain_zone": "", "domain_sub": "", "domain": ""},
            "http2": https, "http3": False, "forwarding_rules": rules,
            "firewall_rules": [{"id": f"{rng.getrandbits(64):016x}", "port": 80, "source": "0.0.0.0/0",
                                "ip_type": "v4"}],
            "global_regions": [],
        })
    return out


def _blocks(seed: int, count: int, instances: list[Obj]) -> list[Obj]:
    rng = _rng(seed, "blocks")
    out = []
    for i in range(count):
        block_type = rng.choice(["high_perf", "storage_opt"])
        size = rng.choice([10, 40, 100, 250, 500, 1000]) if block_type == "high_perf" else \
            rng.choice([40, 500, 1000, 2000])
        # Vultr prices block storage per GB and month: $0.10 NVMe (high_perf), $0.025 HDD (storage_opt).
        cost = round(size * (0.10 if block_type == "high_perf" else 0.025), 2)
        attached = rng.choice(instances) if instances and rng.random() < 0.7 else None
        out.append({
            "id": _uuid(rng), "date_created": _iso(_ago(rng, 400)), "cost": cost,
            "pending_charges": round(cost * rng.uniform(0.1, 0.9), 2),
            "status": "active" if rng.random() < 0.9 else "pending", "size_gb": size,
            "region": attached["region"] if attached else rng.choice(_REGION_IDS),
            "attached_to_instance": attached["id"] if attached else "",
            "attached_to_instance_ip": attached["main_ip"] if attached else "",
            "attached_to_instance_label": attached["label"] if attached else "",
            "label": f"vol-{i:04d}", "mount_id": f"{rng.getrandbits(40):010x}", "block_type": block_type,
            "os_id": 0, "snapshot_id": "", "bootable": False,
        })
    return out


def _database(rng: random.Random, i: int, engine: str, replica_of: Obj | None = None) -> Obj:
    if replica_of is not None:
        plan = _DB_PLAN_BY_ID[replica_of["plan"]]
    else:  # FerretDB runs on PostgreSQL plans
        plan = rng.choice([p for p in _DB_PLANS if (engine if engine != "ferretpg" else "pg") in p[6]])
    pid, nodes, vcpu, ram, disk, cost, _engines = plan
    region = replica_of["region"] if replica_of else rng.choice(_REGION_IDS)
    # The real API answers some regions upper-case ("EWR"); clients must normalise before joining.
    if rng.random() < 0.4:
        region = region.upper()
    created = _ago(rng, 700, 5)
    label = f"{engine}-{'replica' if replica_of else 'db'}-{i:03d}"
    db: Obj = {
        "id": _uuid(rng), "date_created": _dbdate(created), "plan": pid,
        "plan_disk": disk, "plan_ram": ram, "plan_vcpus": vcpu, "plan_replicas": max(0, nodes - 1),
        "region": region, "database_engine": engine, "database_engine_version": _DB_VERSION[engine],
        "vpc_id": "", "status": rng.choice(_DB_STATUS), "label": label,
        "tag": rng.choice(["prod", "staging", "analytics", ""]),
        "pending_charges": round(cost * rng.uniform(0.05, 0.9), 2),
        "dbname": "defaultdb" if engine in ("pg", "mysql", "ferretpg") else "",
        "host": f"vultr-prod-{rng.getrandbits(32):08x}-vultr-prod-{i:04x}.vultrdb.com",
        "public_host": f"public-vultr-prod-{rng.getrandbits(32):08x}.vultrdb.com",
        # SPEC23 types port as a string while its example has a number; the real API has sent both.
        "port": str(16751 + i) if rng.random() < 0.5 else 16751 + i,
        "user": "vultradmin", "password": _secret(rng, 24),
        "ca_certificate": _cert(rng),
        "maintenance_dow": rng.choice(["sunday", "monday", "saturday"]), "maintenance_time": "06:00:00",
        "backup_hour": str(rng.randint(0, 23)), "backup_minute": str(rng.choice([0, 15, 30, 45])),
        "latest_backup": _dbdate(EPOCH - timedelta(hours=rng.randint(1, 30))),
        "trusted_ips": ["0.0.0.0/0"] if rng.random() < 0.3 else [],
        "cluster_time_zone": rng.choice(["UTC", "America/New_York", "Europe/Amsterdam"]),
        "read_replicas": [],
    }
    if engine == "valkey":
        del db["plan_disk"]  # SPEC23: plan_disk is excluded for the in-memory engine
        db["eviction_policy"] = rng.choice(_EVICTION)
    elif engine == "mysql":
        db.update(mysql_sql_modes=["ANSI", "ERROR_FOR_DIVISION_BY_ZERO", "NO_ENGINE_SUBSTITUTION",
                                   "STRICT_ALL_TABLES"],
                  mysql_require_primary_key=True, mysql_slow_query_log=False, mysql_long_query_time=10)
    elif engine in ("pg", "ferretpg"):
        db["pg_available_extensions"] = [{"name": "pgvector", "versions": ["0.8.0"]},
                                         {"name": "postgis", "versions": ["3.5.0"]}]
    if engine == "kafka":
        db.update(plan_brokers=nodes, sasl_port=str(16752 + i), access_key=_secret(rng, 32),
                  access_cert=_cert(rng), enable_kafka_rest=True,
                  kafka_rest_uri=f"https://kafka-rest-{i}.vultrdb.com:16753", enable_schema_registry=False,
                  schema_registry_uri="", enable_kafka_connect=False)
    if engine == "ferretpg":
        db["ferretdb_credentials"] = {"host": db["host"], "port": 27017, "user": "vultradmin",
                                      "password": _secret(rng, 24), "public_ip": _ip(63000 + i, 0),
                                      "private_ip": _ip(63000 + i, 4)}
    return db


def _databases(seed: int, count: int) -> list[Obj]:
    rng = _rng(seed, "databases")
    out = []
    for i in range(count):
        engine = _DB_ENGINE_CYCLE[i] if i < len(_DB_ENGINE_CYCLE) else \
            rng.choices(_DB_ENGINES, weights=_DB_ENGINE_WEIGHTS)[0]
        db = _database(rng, i, engine)
        if engine in ("pg", "mysql") and i % 4 == 0:
            db["read_replicas"] = [_database(rng, i + 500, engine, replica_of=db)]
        out.append(db)
    return out


# --- storage, snapshots, inference --------------------------------------------------------------------------
def _snapshots(seed: int, count: int) -> list[Obj]:
    rng = _rng(seed, "snapshots")
    out = []
    for i in range(count):
        size = rng.randint(10, 160) * 1024**3
        os_id, _ = rng.choice(_OS)
        out.append({"id": _uuid(rng), "date_created": _iso(_ago(rng, 365)),
                    "description": f"snapshot {i} before upgrade", "size": size,
                    "compressed_size": int(size * rng.uniform(0.05, 0.4)),
                    "status": "complete" if rng.random() < 0.85 else "pending", "os_id": os_id, "app_id": 0})
    return out


_OBJ_CLUSTERS = ["ewr", "ams", "sgp"]


def _object_storages(seed: int, count: int) -> list[Obj]:
    rng = _rng(seed, "object_storages")
    tiers = [
        {"id": 2, "sales_name": "Standard", "price": 18, "bw_gb_price": 0.01, "disk_gb_price": 0.018,
         "ratelimit_ops_secs": 800, "ratelimit_ops_bytes": 838860800, "slug": "tier_010k_800m"},
        {"id": 3, "sales_name": "Premium", "price": 36, "bw_gb_price": 0.01, "disk_gb_price": 0.036,
         "ratelimit_ops_secs": 1000, "ratelimit_ops_bytes": 1048576000, "slug": "tier_015k_1000m"},
    ]
    out = []
    for i in range(count):
        cluster = rng.randrange(len(_OBJ_CLUSTERS))
        region = _OBJ_CLUSTERS[cluster]
        out.append({
            "id": _uuid(rng), "date_created": _iso(_ago(rng, 500)), "cluster_id": 2 + cluster, "region": region,
            "location": region, "label": f"bucket-store-{i}",
            "status": "active", "s3_hostname": f"{region}1.vultrobjects.com",
            "s3_access_key": _secret(rng, 20, string.ascii_uppercase + string.digits),
            "s3_secret_key": _secret(rng, 40), "tier": dict(rng.choice(tiers)),
        })
    return out


def _subscriptions(seed: int, count: int) -> list[Obj]:
    rng = _rng(seed, "inference_subscriptions")
    return [{"id": _uuid(rng), "date_created": _iso(_ago(rng, 300)), "label": f"inference-{i}",
             "api_key": _secret(rng, 36, string.ascii_uppercase + string.digits)} for i in range(count)]


# --- billing ------------------------------------------------------------------------------------------------
def _month_start(months_back: int) -> datetime:
    y, m = EPOCH.year, EPOCH.month - months_back
    while m <= 0:
        y, m = y - 1, m + 12
    return datetime(y, m, 1, tzinfo=UTC)


def _invoices(seed: int, count: int) -> tuple[list[Obj], dict[int, list[Obj]]]:
    rng = _rng(seed, "billing_invoices")
    invoices: list[Obj] = []
    items: dict[int, list[Obj]] = {}
    for i in range(count):
        start = _month_start(i + 1)
        end = _month_start(i)
        hours = int((end - start).total_seconds() // 3600)
        lines: list[Obj] = []
        for product, unit_type in rng.sample(_PRODUCTS[:7], rng.randint(3, 6)):
            unit_price = round(rng.choice([0.007, 0.015, 0.03, 0.06, 0.125, 0.25]), 4)
            units = hours * rng.randint(1, 12)
            lines.append({"description": f"{product} ({rng.choice(_ROLES)})", "product": product,
                          "start_date": _iso(start), "end_date": _iso(end), "units": units,
                          "unit_type": unit_type, "unit_price": unit_price, "total": round(units * unit_price, 2)})
        iid = 9_000_000 + (seed % 1000) * 1000 + count - i
        amount = round(sum(x["total"] for x in lines), 2)
        invoices.append({"id": iid, "date": _iso(end), "description": f"Invoice #{iid}", "amount": amount,
                         "balance": 0.0})
        items[iid] = lines
    return invoices, items


def _billing_history(seed: int, count: int, invoices: list[Obj]) -> list[Obj]:
    rng = _rng(seed, "billing_history")
    out: list[Obj] = []
    balance = round(-rng.uniform(0, 50), 2)
    for i in range(count):
        month = i // 2
        if i % 2 == 0:
            inv = invoices[month] if month < len(invoices) else None
            amount = inv["amount"] if inv else round(rng.uniform(200, 2000), 2)
            row = {"id": inv["id"] if inv else 8_000_000 + i, "date": inv["date"] if inv else _iso(_month_start(month)),
                   "type": "invoice", "description": f"Invoice #{inv['id'] if inv else 8_000_000 + i}",
                   "amount": amount, "balance": balance}
        else:
            amount = -round(rng.uniform(200, 2000), 2)
            row = {"id": 7_000_000 + i, "date": _iso(_month_start(month) + timedelta(days=3)),
                   "type": rng.choice(["payment", "credit"]), "description": "Payment via card",
                   "amount": amount, "balance": balance}
        out.append(row)
        balance = round(balance - amount, 2)
    return out


def _pending_charges(seed: int, count: int, res: dict[str, list[Obj]]) -> list[Obj]:
    """Month-to-date charges derived from the fleet, so pending totals match what the fleet costs."""
    rng = _rng(seed, "pending_charges")
    start = _month_start(0)
    hours = int((EPOCH - start).total_seconds() // 3600)  # month to date
    plan_cost = {p["id"]: _plan_cost(p["monthly_cost"]) for p in res["plans"]}
    metal_cost = {p["id"]: _plan_cost(p["monthly_cost"]) for p in res["plans_metal"]}
    db_cost = {p["id"]: p["monthly_cost"] for p in res["database_plans"]}
    monthly = {
        "Vultr Cloud Compute": sum(plan_cost[i["plan"]] for i in res["instances"]),
        "Bare Metal": sum(metal_cost[b["plan"]] for b in res["bare_metals"]),
        "Managed Database": sum(db_cost[d["plan"]] for d in res["databases"]),
        "Block Storage": sum(b["cost"] for b in res["blocks"]),
        "Load Balancer": 10.0 * sum(lb["nodes"] for lb in res["load_balancers"]),
        "Object Storage": sum(o["tier"]["price"] for o in res["object_storages"]),
        "Serverless Inference": 10.0 * len(res["inference_subscriptions"]),
        "Bandwidth Overage": round(rng.uniform(0, 25), 2),
    }
    out = []
    for i in range(count):
        product, unit_type = _PRODUCTS[i % len(_PRODUCTS)]
        share = 1.0 if i < len(_PRODUCTS) else rng.uniform(0.01, 0.1)
        month_total = monthly[product] * share
        units = hours if unit_type == "hours" else max(1, int(month_total * 10))
        unit_price = round(month_total / 730.0, 4) if unit_type == "hours" else 0.1
        out.append({"description": product if i < len(_PRODUCTS) else f"{product} (adjustment {i})",
                    "product": product, "start_date": _iso(start), "end_date": _iso(EPOCH), "units": units,
                    "unit_type": unit_type, "unit_price": unit_price, "total": round(units * unit_price, 2)})
    return out


def _account(seed: int, res: dict[str, list[Obj]]) -> tuple[Obj, Obj]:
    rng = _rng(seed, "account")
    account = {
        "name": f"Sandbox Analytics {seed}", "email": f"ops+{seed}@example.com",
        "acls": ["manage_users", "subscriptions_view", "subscriptions", "billing", "support", "provisioning",
                 "dns", "abuse", "upgrade", "firewall", "alerts", "objstore", "loadbalancer"],
        "balance": round(-rng.uniform(10, 500), 2),
        "pending_charges": round(sum(c["total"] for c in res["pending_charges"]), 2),
        "last_payment_date": _iso(_month_start(0) + timedelta(days=3)),
        "last_payment_amount": -round(rng.uniform(200, 2000), 2),
    }
    n = max(1, len(res["instances"]))

    def period(start: datetime, end: datetime, scale: float) -> Obj:
        gb_out = round(n * rng.uniform(20, 80) * scale, 2)
        return {"timestamp_start": _iso(start), "timestamp_end": _iso(end),
                "gb_in": round(gb_out * rng.uniform(0.2, 0.6), 2), "gb_out": gb_out,
                "total_instance_hours": int(n * 730 * scale), "total_instance_count": n,
                "instance_bandwidth_credits": n * 1000, "free_bandwidth_credits": 2048,
                "purchased_bandwidth_credits": 0, "overage": 0, "overage_unit_cost": 0.01, "overage_cost": 0}

    bandwidth = {"previous_month": period(_month_start(1), _month_start(0), 1.0),
                 "current_month_to_date": period(_month_start(0), EPOCH, 0.8),
                 "current_month_projected": period(_month_start(0), _month_start(-1), 1.0)}
    return account, bandwidth


# --- request-time payloads (deterministic given the rng the caller passes) ----------------------------------
def database_usage(db: Obj, rng: random.Random, *, as_strings: bool = False) -> Obj:
    """The ``usage`` object of ``GET /databases/{id}/usage``: disk now, memory and CPU averaged over an hour.

    ``as_strings`` renders every number as a string (SPEC23 types them so; clients must be lenient).

    >>> u = database_usage(build_fleet(0).resources["databases"][0], random.Random(1))
    >>> sorted(u)
    ['cpu', 'disk', 'memory']
    """
    max_gb = db.get("plan_disk") or 0
    max_mb = db["plan_ram"]
    cur_gb = round(max_gb * rng.uniform(0.02, 0.8), 2)
    cur_mb = round(max_mb * rng.uniform(0.1, 0.9), 1)
    usage: Obj = {
        "disk": {"current_gb": cur_gb, "max_gb": max_gb,
                 "percentage": round(100 * cur_gb / max_gb, 2) if max_gb else 0.0},
        "memory": {"current_mb": cur_mb, "max_mb": max_mb, "percentage": round(100 * cur_mb / max_mb, 2)},
        "cpu": {"percentage": round(rng.uniform(0.5, 85.0), 2)},
    }
    if as_strings:
        usage = {k: {kk: str(vv) for kk, vv in v.items()} for k, v in usage.items()}
    return usage


def database_alerts(db: Obj, period: str, rng: random.Random) -> list[Obj]:
    """The ``alerts`` list of ``POST /databases/{id}/alerts`` for ``period`` (day, week, month or year).

    >>> len(database_alerts(build_fleet(0).resources["databases"][0], "year", random.Random(0))) > 0
    True
    """
    span_days = {"day": 1, "week": 7, "month": 30, "year": 365}[period]
    count = rng.randint(0, 2) + {"day": 0, "week": 1, "month": 2, "year": 4}[period]
    alerts = []
    for _ in range(count):
        ts = EPOCH - timedelta(seconds=int(rng.uniform(0, span_days * 86400)))
        if rng.random() < 0.6:
            alerts.append({"timestamp": _dbdate(ts), "message_type": "RESOURCE USAGE DISK",
                           "description": f"Disk usage exceeded {rng.choice([80, 90])}% on {db['label']}",
                           "recommendation": "Upgrade to a plan with more storage or delete unused data.",
                           "resource_type": "disk"})
        else:
            alerts.append({"timestamp": _dbdate(ts), "message_type": "MAINTENANCE SCHEDULED",
                           "description": "A maintenance update is available for your database.",
                           "maintenance_scheduled": _dbdate(ts + timedelta(days=7))})
    alerts.sort(key=lambda a: a["timestamp"], reverse=True)
    return alerts


def database_backups(db: Obj) -> Obj:
    """The body of ``GET /databases/{id}/backups`` (latest and oldest backup as date + time)."""
    latest = datetime.strptime(db["latest_backup"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    oldest = latest - timedelta(days=7)
    return {"latest_backup": {"date": latest.strftime("%Y-%m-%d"), "time": latest.strftime("%H:%M:%S")},
            "oldest_backup": {"date": oldest.strftime("%Y-%m-%d"), "time": oldest.strftime("%H:%M:%S")}}


def inference_usage(sub: Obj, seed: int) -> Obj:
    """The ``usage`` object of ``GET /inference/{id}/usage`` (govultr ``InferenceUsage`` shape)."""
    rng = random.Random(f"{seed}:inference_usage:{sub['id']}")

    def month() -> list[Obj]:
        return [{"model": m, "tokens": rng.randint(10_000, 5_000_000), "input_tokens": rng.randint(10_000, 9_000_000),
                 "output_price": rng.randint(1, 400), "input_price": rng.randint(1, 200)}
                for m in rng.sample(_INFERENCE_MODELS, rng.randint(1, len(_INFERENCE_MODELS)))]

    completion = rng.randint(100_000, 20_000_000)
    prompt = rng.randint(100_000, 40_000_000)
    return {
        "chat_by_model": {"current_month": month(), "previous_month": month()},
        "audio": {"tts_characters": rng.randint(0, 200_000), "tts_sm_characters": rng.randint(0, 50_000)},
        "image": {"megapixels": round(rng.uniform(0, 500), 2), "sm_megapixels": round(rng.uniform(0, 100), 2)},
        "chat": {"completion_tokens": completion, "cost": round(completion * 2e-7, 2), "input_tokens": prompt,
                 "input_cost": round(prompt * 1e-7, 2), "current_tokens": completion + prompt,
                 "monthly_allotment": 50_000_000, "overage": max(0, completion + prompt - 50_000_000)},
    }
