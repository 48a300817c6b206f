"""Planning speed (issue 14): build_plan for 100,000 requests with length distributions, and with a
10,000-row dataset file, must each take < 1 s. Writes benchmarks/results/planning.{json,md}.

Run: ``python benchmarks/bench_planning.py`` (from the repo root). Best of 3 wall times per case.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vultr_toolkit.bench.workload import build_plan

OUT = Path(__file__).parent / "results"


def _best(fn: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> dict[str, float]:
    synth = _best(lambda: build_plan(model="m", input_tokens="lognormal:mean=512,sd=200,min=16,max=4096",
                                     output_tokens="normal:mean=256,sd=64,min=16,max=512", concurrency=64,
                                     requests=100_000, seed=0))
    rng = np.random.default_rng(0)
    words = np.array(["data", "model", "token", "cloud", "vector", "query", "cache", "stream"])
    frame = pd.DataFrame({"prompt": [" ".join(rng.choice(words, int(n))) for n in rng.integers(8, 400, 10_000)]})
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rows.jsonl"
        frame.to_json(path, orient="records", lines=True)
        dataset = _best(lambda: build_plan(model="m", prompts=path,
                                           output_tokens="uniform:min=16,max=512", concurrency=64,
                                           requests=100_000, seed=0))
    res = {"synthetic_100k_distributions_s": round(synth, 4), "dataset_10k_rows_100k_requests_s": round(dataset, 4)}
    OUT.mkdir(exist_ok=True)
    (OUT / "planning.json").write_text(json.dumps(res, indent=2) + "\n")
    (OUT / "planning.md").write_text("# Planning speed (best of 3, 2-core box)\n\n| case | seconds | budget |\n"
                                     "|---|---|---|\n" + "".join(f"| {k} | {v:.3f} | 1.0 |\n" for k, v in res.items()))
    return res


if __name__ == "__main__":
    print(main())
