"""``vt.report.build(...)`` → :class:`Report`: sections of headline facts, tables and plots, plus run metadata.

A report is assembled once from the data products (pure pandas and matplotlib, no I/O) and can then be written
in three forms: one self-contained HTML file, Markdown with PNGs, or a Parquet bundle of the underlying frames.

Example::

    import vultr_toolkit as vt
    with vt.Sandbox(seed=0) as sb:
        snap = vt.Client(sb.settings()).inventory.snapshot(progress=False)
        hist = vt.HealthMonitor(sb.settings()).run(interval_s=0.5, count=3, progress=False)
        rep = vt.report.build(inventory=snap, health=hist, title="Nightly check")
        rep.to_html("nightly.html")          # one file: tables, PNG plots inlined, metadata
        rep.to_markdown("nightly.md")        # + nightly_files/*.png
        rep.to_parquet("nightly-data/")      # the frames, for pandas
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import ConfigError
from .._redact import redact
from .figures import Picture, benchmark_pictures, health_pictures, inventory_pictures
from .metadata import run_metadata

if TYPE_CHECKING:  # pragma: no cover
    from .._settings import Settings
    from ..bench import BenchmarkResult
    from ..inventory import InventorySnapshot

__all__ = ["Report", "Section", "Table", "build"]

DEFAULT_TITLE = "Vultr toolkit report"

_BENCH_COLUMNS = ("level", "mode", "requests", "errors", "ttft_s_p50", "ttft_s_p99", "tpot_s_p50", "itl_s_p50",
                  "e2e_s_p50", "e2e_s_p99", "output_tokens_per_s", "requests_per_s", "usd_per_1m_output")


@dataclass(frozen=True)
class Table:
    """A captioned table; ``total_rows`` > ``len(frame)`` when the report shows only the first rows."""

    caption: str
    frame: pd.DataFrame
    total_rows: int


@dataclass
class Section:
    """One data product in a report: headline ``facts``, ``tables``, ``pictures`` and the raw ``frames``."""

    key: str
    title: str
    intro: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    snapshot: Any = None  # the InventorySnapshot, so to_parquet writes its own readable layout


@dataclass
class Report:
    """A rendered-on-demand report. Build it with :func:`build`.

    >>> rep = build(health=vt.check_health(sb.settings()))
    >>> rep
    <Report 'Vultr toolkit report' (health: 1 tables, 2 plots)>
    >>> rep.to_html("health.html")
    PosixPath('health.html')
    """

    title: str
    sections: list[Section]
    metadata: dict[str, Any]

    # --- output ------------------------------------------------------------------------------------------------
    def html(self, *, fragment: bool = False) -> str:
        """The report as one HTML document (or a ``<div>`` fragment), PNGs inlined as base64 data URIs."""
        from .render import render_html

        return render_html(self, fragment=fragment)

    def to_html(self, path: str | Path) -> Path:
        """Write one self-contained HTML file (no external resources); returns its path.

        >>> rep = vt.report.build(benchmark=res)
        >>> rep.to_html("report.html")
        PosixPath('report.html')
        """
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.html(), encoding="utf-8")
        return p

    def to_markdown(self, path: str | Path, *, inline_images: bool = False) -> Path:
        """Write Markdown; plots go to ``<stem>_files/*.png`` beside it (or inline as data URIs with
        ``inline_images=True``, which some viewers refuse). Returns the Markdown file's path.

        >>> rep = vt.report.build(benchmark=res)
        >>> rep.to_markdown("report.md")
        PosixPath('report.md')
        """
        from .render import render_markdown

        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        image_dir = None if inline_images else p.parent / f"{p.stem}_files"
        p.write_text(render_markdown(self, image_dir=image_dir, relative_to=p.parent), encoding="utf-8")
        return p

    def to_parquet(self, directory: str | Path) -> Path:
        """Write every frame behind the report as Parquet under ``directory/<section>/`` plus ``report.json``
        (title, metadata, facts). The inventory part is an ``InventorySnapshot.to_parquet`` directory, so
        ``vt.inventory.InventorySnapshot.read_parquet(dir / "inventory")`` reads it back.

        >>> rep = vt.report.build(inventory=snap, benchmark=res)
        >>> rep.to_parquet("report-data/")
        PosixPath('report-data')
        >>> vt.inventory.InventorySnapshot.read_parquet("report-data/inventory").resources.shape
        (57, 7)
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        files: dict[str, list[str]] = {}
        for s in self.sections:
            sub = d / s.key
            if s.snapshot is not None:
                s.snapshot.to_parquet(sub)
            else:
                sub.mkdir(parents=True, exist_ok=True)
            for name, df in s.frames.items():
                df.to_parquet(sub / f"{name}.parquet", index=False)
            files[s.key] = sorted(f.name for f in sub.iterdir())
        doc = {"title": self.title, "metadata": self.metadata, "files": files,
               "facts": {s.key: dict(s.facts) for s in self.sections}}
        (d / "report.json").write_text(redact(json.dumps(doc, indent=2, default=str)), encoding="utf-8")
        return d

    # --- display -----------------------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return self.html(fragment=True)

    def __repr__(self) -> str:
        parts = ", ".join(f"{s.key}: {len(s.tables)} tables, {sum(p.png is not None for p in s.pictures)} plots"
                          for s in self.sections)
        return f"<Report {self.title!r} ({parts})>"


# --- formatting helpers ----------------------------------------------------------------------------------------
def _money(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"${x:,.2f}"


def _num(x: Any, unit: str = "", digits: int = 3) -> str:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{float(x):,.{digits}g}{unit}"


def _ts(x: Any) -> str:
    if x is None or x is pd.NaT or pd.isna(x):
        return "—"
    return pd.Timestamp(x).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(caption: str, df: pd.DataFrame, max_rows: int) -> Table:
    return Table(caption, df.head(max_rows).reset_index(drop=True), len(df))


# --- sections --------------------------------------------------------------------------------------------------
def _inventory_section(inv: InventorySnapshot | pd.DataFrame, max_rows: int) -> Section:
    from ..inventory import InventorySnapshot

    snapshot = inv if isinstance(inv, InventorySnapshot) else None
    if snapshot is not None:
        resources = snapshot.resources
        errors = snapshot.errors
    elif isinstance(inv, pd.DataFrame) and {"resource_type", "region"} <= set(inv.columns):
        resources, errors = inv, None
    else:
        raise ConfigError("inventory= takes an InventorySnapshot (client.inventory.snapshot()) or its .resources "
                          f"frame, got {type(inv).__name__}")
    cost = resources["monthly_cost_usd"].dropna() if "monthly_cost_usd" in resources else pd.Series([], dtype=float)
    facts = [("resources", f"{len(resources):,}"),
             ("known monthly cost", _money(float(cost.sum()) if len(cost) else None)),
             ("resource types", str(resources["resource_type"].nunique())),
             ("regions", str(resources["region"].nunique()))]
    if snapshot is not None:
        facts += [("fetched at", _ts(snapshot.fetched_at)), ("source", redact(snapshot.source) or "—"),
                  ("failed resources", str(len(snapshot.errors)))]
    def known_sum(s: pd.Series) -> float | None:  # all-unknown costs stay unknown instead of becoming $0
        return float(s.sum()) if s.notna().any() else None

    by_type = (resources.groupby("resource_type", observed=True)
               .agg(count=("resource_type", "size"), monthly_cost_usd=("monthly_cost_usd", known_sum))
               .sort_values("monthly_cost_usd", ascending=False).reset_index())
    by_region = (resources.assign(region=resources["region"].astype(object).fillna("global"))
                 .groupby("region").agg(count=("region", "size"), monthly_cost_usd=("monthly_cost_usd", known_sum))
                 .sort_values(["count", "monthly_cost_usd"], ascending=False).reset_index())
    top = resources.sort_values("monthly_cost_usd", ascending=False, na_position="last")
    top = top[[c for c in ("resource_type", "label", "region", "status", "monthly_cost_usd") if c in top.columns]]
    tables = [_table("By resource type", by_type, max_rows), _table("By region", by_region, max_rows),
              _table("Most expensive resources", top, min(max_rows, 15))]
    if errors is not None and len(errors):
        tables.append(_table("Resources that could not be fetched", errors, max_rows))
    frames = {} if snapshot is not None else {"resources": resources}
    return Section("inventory", "Inventory", "What the account runs and what it costs per month (list prices).",
                   facts, tables, inventory_pictures(resources), frames, snapshot)


def _history(health: Any) -> pd.DataFrame:
    if isinstance(health, pd.DataFrame):
        return health
    samples = getattr(health, "samples", None)
    if callable(samples):  # a HealthMonitor: everything it has kept
        out = samples()
        if isinstance(out, pd.DataFrame):
            return out
    raise ConfigError("health= takes a health history DataFrame (HealthMonitor.run(), check_health(), "
                      f"HistoryStore.health_history()) or a HealthMonitor, got {type(health).__name__}")


def _health_section(health: Any, max_rows: int) -> Section:
    from ..health import incidents, summarize

    hist = _history(health)
    summary = summarize(hist)
    inc = incidents(hist)
    overall = summary[summary["service"].astype(str) == "overall"]
    uptime = overall["uptime_pct"].iloc[0] if len(overall) else None
    targets = hist[hist["service"].astype(str) != "overall"][["service", "target"]].drop_duplicates()
    facts = [("samples", f"{len(hist):,}"), ("targets", str(len(targets))),
             ("from", _ts(hist["checked_at"].min() if len(hist) else None)),
             ("to", _ts(hist["checked_at"].max() if len(hist) else None)),
             ("overall uptime", _num(uptime, " %", 4)), ("incidents", str(len(inc)))]
    if len(hist):
        last = hist.sort_values("checked_at").groupby("service", observed=True).tail(1)
        latest = ", ".join(f"{s}: {st}" for s, st in zip(last["service"].astype(str), last["status"].astype(str),
                                                        strict=True))
        facts.append(("latest status", latest))
    tables = [_table("Uptime and latency per target", summary.round(3), max_rows)]
    if len(inc):
        tables.append(_table("Incidents (contiguous down periods)", inc, max_rows))
    return Section("health", "Health", "Probes of the data layer and the APIs: uptime, latency percentiles, "
                   "incidents.", facts, tables, health_pictures(hist),
                   {"history": hist, "summary": summary, "incidents": inc})


def _bench_section(results: Sequence[BenchmarkResult], max_rows: int) -> Section:
    from ..bench import compare

    facts: list[tuple[str, str]] = []
    tables: list[Table] = []
    pictures: list[Picture] = []
    frames: dict[str, pd.DataFrame] = {}
    for i, res in enumerate(results):
        name = str(res.meta.get("label") or res.meta.get("model") or f"run {i + 1}")
        tag = f"_{i + 1}" if len(results) > 1 else ""
        summary = res.summary(warn=False)
        ok = res.requests[res.requests["status"] == "ok"]
        best = summary["output_tokens_per_s"].max() if len(summary) else None
        first = summary.sort_values("level").iloc[0] if len(summary) else None
        pre = f"{name}: " if len(results) > 1 else ""  # one run needs no prefix on every fact
        facts += [(f"{pre}model", str(res.meta.get("model"))),
                  (f"{pre}endpoint", redact(str(res.meta.get("endpoint")))),
                  (f"{pre}levels", ", ".join(f"{v:g}" for v in res.meta.get("levels") or [])),
                  (f"{pre}requests", f"{len(res.requests):,} ({len(res.requests) - len(ok):,} failed)"),
                  (f"{pre}TTFT p50 at the lowest load", _num(None if first is None else first["ttft_s_p50"], " s")),
                  (f"{pre}best output throughput", _num(best, " tokens/s"))]
        cols = [c for c in _BENCH_COLUMNS if c in summary.columns]
        tables.append(_table(f"{name}: summary per load level", summary[cols].round(4), max_rows))
        pictures += benchmark_pictures(res)
        frames.update({f"requests{tag}": res.requests, f"chunks{tag}": res.chunks, f"levels{tag}": res.levels,
                       f"summary{tag}": summary})
    if len(results) == 2:
        cmp = compare(results[0], results[1])
        tables.append(_table("Comparison (ratio = second / first)", cmp.round(4), max_rows))
        frames["compare"] = cmp
    return Section("benchmark", "Inference benchmark", "Streaming latency (TTFT, TPOT, ITL, end to end) and "
                   "throughput per load level.", facts, tables, pictures, frames)


def build(inventory: InventorySnapshot | pd.DataFrame | None = None, health: Any = None,
          benchmark: BenchmarkResult | Sequence[BenchmarkResult] | None = None, *, title: str = DEFAULT_TITLE,
          settings: Settings | None = None, max_rows: int = 50, **metadata: Any) -> Report:
    """Assemble a :class:`Report` from any of the three data products.

    * ``inventory`` — an :class:`~vultr_toolkit.inventory.InventorySnapshot` (or its ``.resources`` frame);
    * ``health`` — a health history frame (``HealthMonitor.run()``, ``check_health()``, a store's history) or a
      :class:`~vultr_toolkit.HealthMonitor`;
    * ``benchmark`` — a :class:`~vultr_toolkit.bench.BenchmarkResult`, or several (two are also compared).

    ``settings`` adds the configuration to the metadata (keys as fingerprints, passwords masked); ``max_rows``
    caps every table; other keywords are added to the metadata as they are.

    >>> rep = vt.report.build(inventory=snap, health=hist, benchmark=res, title="Weekly")
    >>> rep.to_html("weekly.html")
    PosixPath('weekly.html')
    """
    if inventory is None and health is None and benchmark is None:
        raise ConfigError("vt.report.build: give at least one of inventory=, health=, benchmark=")
    if max_rows < 1:
        raise ConfigError(f"max_rows must be at least 1, got {max_rows}")
    sections: list[Section] = []
    if inventory is not None:
        sections.append(_inventory_section(inventory, max_rows))
    if health is not None:
        sections.append(_health_section(health, max_rows))
    if benchmark is not None:
        from ..bench import BenchmarkResult

        runs = [benchmark] if isinstance(benchmark, BenchmarkResult) else list(benchmark)
        if not runs or not all(isinstance(r, BenchmarkResult) for r in runs):
            raise ConfigError("benchmark= takes a BenchmarkResult (vt.bench.run()) or a list of them")
        sections.append(_bench_section(runs, max_rows))
    return Report(title, sections, run_metadata(settings, **metadata))
