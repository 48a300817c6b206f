"""vt.report.build over a real sandbox run: HTML (inlined PNGs, no secrets), Markdown, Parquet, errors."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.inventory import InventorySnapshot
from vultr_toolkit.report.figures import Picture
from vultr_toolkit.store.history import coerce_samples

from .conftest import CANARY_KEY, RunData

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return [s for s in secrets if s and s in text]


def test_html_is_one_self_contained_file_with_plots_and_no_secret(run_data: RunData, tmp_path: Path) -> None:
    rep = vt.report.build(inventory=run_data.snapshot, health=run_data.history, benchmark=run_data.bench,
                          title="Nightly <check>", settings=run_data.settings)
    path = rep.to_html(tmp_path / "out" / "report.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) == 6  # 2 inventory + 2 health + 2 benchmark plots
    assert all(base64.b64decode(u).startswith(PNG_MAGIC) for u in uris)
    # Self-contained: nothing is fetched when the file is opened from disk.
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<link" not in text and "<script" not in text
    assert _leaks(text, run_data.secrets) == []
    # The title is escaped; sections, headline numbers and tables are there.
    assert "Nightly &lt;check&gt;" in text and "Nightly <check>" not in text
    for heading in ("Inventory", "Health", "Inference benchmark", "Run metadata"):
        assert f">{heading}<" in text
    assert f"{len(run_data.snapshot.resources):,}" in text
    assert "qwen3.8-27b" in text and "ttft_s_p50" in text and "uptime_pct" in text
    # Metadata: versions and settings, keys as fingerprints, the URL password masked.
    assert f">{vt.__version__}<" in text and "pandas" in text
    assert "sha256:" in text and "postgresql+psycopg2://app:***@127.0.0.1:1/app" in text


def test_repr_html_is_a_fragment_of_the_same_report(run_data: RunData) -> None:
    rep = vt.report.build(health=run_data.history)
    frag = rep._repr_html_()
    assert frag.lstrip().startswith('<div class="vt-report">') and "<html" not in frag
    assert frag.count("data:image/png;base64,") == 2
    assert "health" in repr(rep) and "2 plots" in repr(rep)


def test_markdown_writes_pngs_beside_it(run_data: RunData, tmp_path: Path) -> None:
    rep = vt.report.build(inventory=run_data.snapshot, benchmark=run_data.bench, settings=run_data.settings)
    md = rep.to_markdown(tmp_path / "r.md")
    text = md.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 4
    for link in links:
        assert (md.parent / link).read_bytes().startswith(PNG_MAGIC)
    assert "| resource_type | count | monthly_cost_usd |" in text
    assert _leaks(text, run_data.secrets) == []
    inline = rep.to_markdown(tmp_path / "inline.md", inline_images=True).read_text()
    assert inline.count("](data:image/png;base64,") == 4
    assert not (tmp_path / "inline_files").exists()


def test_parquet_bundle_round_trips_the_frames(run_data: RunData, tmp_path: Path) -> None:
    rep = vt.report.build(inventory=run_data.snapshot, health=run_data.history, benchmark=run_data.bench)
    d = rep.to_parquet(tmp_path / "bundle")
    doc = json.loads((d / "report.json").read_text())
    assert doc["title"] == "Vultr toolkit report" and set(doc["facts"]) == {"inventory", "health", "benchmark"}
    snap = InventorySnapshot.read_parquet(d / "inventory")
    pd.testing.assert_frame_equal(snap["instances"], run_data.snapshot["instances"])
    # An all-null category column comes back as object from Parquet; coerce_samples restores the schema.
    hist = coerce_samples(pd.read_parquet(d / "health" / "history.parquet"))
    pd.testing.assert_frame_equal(hist, run_data.history.reset_index(drop=True), check_categorical=False)
    req = pd.read_parquet(d / "benchmark" / "requests.parquet")
    assert len(req) == len(run_data.bench.requests) and str(req["sent_at"].dtype) == "datetime64[us, UTC]"
    text = "".join(p.read_bytes().decode("latin-1") for p in d.rglob("*") if p.is_file())
    assert CANARY_KEY not in text


def test_health_accepts_a_monitor_and_check_health(run_data: RunData) -> None:
    with vt.HealthMonitor(run_data.sandbox.settings()) as mon:
        mon.check()
        rep = vt.report.build(health=mon)
    facts = dict(rep.sections[0].facts)
    assert facts["targets"] == "2" and facts["incidents"] == "0" and facts["overall uptime"] == "100 %"
    one = vt.report.build(health=vt.check_health(run_data.sandbox.settings()))
    assert dict(one.sections[0].facts)["samples"] == "3"


def test_incidents_show_up_in_the_health_section(run_data: RunData) -> None:
    hist = run_data.history.copy()
    api = hist["service"].astype(str) == "api"
    hist["status"] = hist["status"].where(~api, "down")
    rep = vt.report.build(health=hist)
    sec = rep.sections[0]
    assert dict(sec.facts)["incidents"] == "1"
    assert [t.caption for t in sec.tables][-1].startswith("Incidents")


def test_one_outage_of_one_service_is_one_incident(run_data: RunData) -> None:
    """A real monitor sees /v2/account fail for a few ticks: the api is down once, and so is the synthetic
    overall row, which must not count as a second incident in the fact card or the table."""
    sb = run_data.sandbox
    with vt.HealthMonitor(sb.settings(), retries_before_down=0) as mon:
        mon.run(interval_s=0.05, count=2, progress=False)
        sb.set_faults("/v2/account*", p503=1.0, retry_after_s=None)
        try:
            mon.run(interval_s=0.05, count=3, progress=False)
        finally:
            sb.clear_faults()
        mon.run(interval_s=0.05, count=2, progress=False)
        hist = mon.samples()
    down = hist[hist["status"].astype(str) == "down"]
    assert set(down["service"].astype(str)) == {"api", "overall"}  # the outage shows on both rows
    sec = vt.report.build(health=hist).sections[0]
    assert dict(sec.facts)["incidents"] == "1"
    table = next(t for t in sec.tables if t.caption.startswith("Incidents"))
    assert table.frame["service"].astype(str).tolist() == ["api"]


def test_two_benchmarks_are_compared(run_data: RunData) -> None:
    rep = vt.report.build(benchmark=[run_data.bench, run_data.bench])
    sec = rep.sections[0]
    cmp = sec.tables[-1].frame
    assert sec.tables[-1].caption.startswith("Comparison")
    assert set(cmp["ratio"].dropna().round(6)) <= {1.0}
    assert "compare" in sec.frames and "requests_2" in sec.frames


def test_a_failing_plot_becomes_a_note_not_a_broken_report(run_data: RunData, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import vultr_toolkit.plot as vplot

    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("no axes today")

    monkeypatch.setattr(vplot, "plot_itl_ecdf", broken)
    rep = vt.report.build(benchmark=run_data.bench)
    notes = [p for p in rep.sections[0].pictures if p.png is None]
    assert [p.note for p in notes] == ["plot unavailable: RuntimeError: no axes today"]
    html = rep.html()
    assert html.count("data:image/png;base64,") == 1 and "no axes today" in html


def test_inventory_resources_frame_and_empty_inputs() -> None:
    empty = InventorySnapshot({}, fetched_at=pd.Timestamp("2026-01-01", tz="UTC"))
    rep = vt.report.build(inventory=empty)
    assert rep.sections[0].pictures == [] and dict(rep.sections[0].facts)["resources"] == "0"
    assert "<img" not in rep.html()
    rep2 = vt.report.build(inventory=empty.resources, title="t")
    assert "resources" in rep2.sections[0].frames


@pytest.mark.parametrize("kwargs, match", [
    ({}, "at least one of"),
    ({"inventory": pd.DataFrame({"x": [1]})}, "InventorySnapshot"),
    ({"health": 42}, "health history"),
    ({"benchmark": ["nope"]}, "BenchmarkResult"),
    ({"health": pd.DataFrame(), "max_rows": 0}, "max_rows"),
])
def test_bad_arguments_raise_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(vt.ConfigError, match=match):
        vt.report.build(**kwargs)  # type: ignore[arg-type]


def test_long_tables_are_capped_with_a_note(run_data: RunData) -> None:
    rep = vt.report.build(inventory=run_data.snapshot, max_rows=3)
    by_region = rep.sections[0].tables[1]
    assert len(by_region.frame) == 3 and by_region.total_rows > 3
    assert f"First 3 of {by_region.total_rows} rows" in rep.html()


def test_picture_type_is_plain_data() -> None:
    p = Picture("c", PNG_MAGIC)
    assert p.note is None and p.png == PNG_MAGIC


def test_benchmark_facts_are_prefixed_only_when_there_are_several_runs(run_data: RunData) -> None:
    one = dict(vt.report.build(benchmark=run_data.bench).sections[0].facts)
    assert one["model"] == "qwen3.8-27b" and one["requests"] == "8 (0 failed)"
    two = dict(vt.report.build(benchmark=[run_data.bench, run_data.bench]).sections[0].facts)
    assert two["qwen3.8-27b: model"] == "qwen3.8-27b"
