"""Latency and throughput benchmarks of OpenAI-compatible chat endpoints (Vultr Serverless Inference).

::

    import vultr_toolkit as vt
    res = vt.bench.run(client, model="qwen3.8-27b", concurrency=[1, 8], requests=32, max_tokens=64)
    res.requests, res.chunks, res.summary(), res.plot()
    vt.bench.compare(res, other)

Metric definitions: :mod:`vultr_toolkit.bench.metrics`. Engine design: :mod:`vultr_toolkit.bench.engine`.
"""

from __future__ import annotations

from .datasets import load_dataset, sample_dataset_path
from .driver import arun, run
from .errors import LostWorker, WorkerLostError
from .result import BenchmarkResult, compare

__all__ = ["BenchmarkResult", "LostWorker", "WorkerLostError", "arun", "compare", "load_dataset", "run",
           "sample_dataset_path"]
