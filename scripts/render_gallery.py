"""Render the README's plot gallery (docs/gallery/*.png) from one sandbox run. No account, no network.

The run is seeded, and the health history includes a short injected API outage so that the timeline shows what
an incident looks like. Re-run after changing a plot::

    .venv/bin/python scripts/render_gallery.py            # -> docs/gallery/*.png and docs/gallery/index.md
    .venv/bin/python scripts/render_gallery.py --out /tmp/gallery

The pictures are the report's own (:mod:`vultr_toolkit.report.figures`, which draws with
:mod:`vultr_toolkit.plot`), so the gallery shows exactly what ``vt.report`` and ``vultr-toolkit demo`` produce.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import vultr_toolkit as vt
from vultr_toolkit.report.figures import (
    Picture,
    benchmark_pictures,
    health_pictures,
    inventory_pictures,
    png_bytes,
)

ROOT = Path(__file__).resolve().parents[1]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _history(sb: vt.Sandbox) -> object:
    """About 20 s of 0.4 s checks with a ~3 s API outage in the middle (pending, then down, then recovered)."""
    with vt.HealthMonitor(sb.settings(), retries_before_down=1) as mon:
        mon.run(interval_s=0.4, count=18, progress=False)
        sb.set_faults("/v2/account", p503=1.0, seed=0)
        mon.run(interval_s=0.4, count=8, progress=False)
        sb.clear_faults()
        mon.run(interval_s=0.4, count=18, progress=False)
        return mon.samples()


def _compare_picture(a: vt.bench.BenchmarkResult, b: vt.bench.BenchmarkResult) -> Picture:
    from matplotlib.figure import Figure

    from vultr_toolkit.plot import plot_compare

    fig = Figure(figsize=(7, 3.8), layout="constrained")
    plot_compare(vt.bench.compare(a, b), ax=fig.add_subplot())
    return Picture(f"Run comparison: {b.meta['label']} vs {a.meta['label']}", png_bytes(fig))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery", help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    pictures: list[Picture] = []
    with vt.Sandbox(seed=args.seed, rate_limit=None, inference={"time_scale": 0.25}) as sb, \
            vt.Client(sb.settings()) as client:
        snap = client.inventory.snapshot(progress=False)
        pictures += inventory_pictures(snap.resources)
        pictures += health_pictures(_history(sb))  # type: ignore[arg-type]
        common = {"concurrency": [1, 4, 16], "requests": 32, "max_tokens": 48, "progress": False}
        fast = vt.bench.run(client, model="glm-5.3-flash", label="glm-5.3-flash", **common)  # type: ignore[arg-type]
        big = vt.bench.run(client, model="qwen3.8-27b", label="qwen3.8-27b", **common)  # type: ignore[arg-type]
        pictures += benchmark_pictures(big)
        pictures.append(_compare_picture(fast, big))
    lines = ["# Plot gallery", "", "Rendered by `scripts/render_gallery.py` from one sandbox run (seed "
             f"{args.seed}); the health history contains an injected API outage.", ""]
    for i, pic in enumerate(pictures, 1):
        if pic.png is None:
            print(f"warning: {pic.caption}: {pic.note}", file=sys.stderr)
            continue
        name = f"{i:02d}-{_slug(pic.caption)}.png"
        (args.out / name).write_bytes(pic.png)
        lines += [f"## {pic.caption}", "", f"![{pic.caption}]({name})", ""]
        print(f"{args.out / name}  ({len(pic.png) // 1024} KiB)")
    (args.out / "index.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"done in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
