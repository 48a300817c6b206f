"""BenchmarkRunner: pick a model and a load, press Run, watch the plot and the summary grow level by level.

Each load level is one :func:`vultr_toolkit.bench.run` call, so the figure and the summary table update after
every level; :func:`merge_results` joins the per-level results into one
:class:`~vultr_toolkit.bench.BenchmarkResult` (``.result``), the same frames a single multi-level run gives.
Clicking Run blocks the kernel until the run ends, as any cell does; a tqdm bar shows the progress.

Example::

    runner = vt.widgets.BenchmarkRunner(client)
    runner                                     # in Jupyter: choose, then click Run
    runner.controls["levels"].value = "1, 4"
    runner.controls["run"].click()             # the same as clicking it
    runner.result.summary()
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import ConfigError, VultrToolkitError
from ._ui import Dashboard, clear_output, figure_png, frame_html, ipywidgets, message_html

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..bench import BenchmarkResult

__all__ = ["SUMMARY_COLUMNS", "BenchmarkRunner", "chat_models", "merge_results", "parse_levels", "summary_table"]

#: The summary columns the runner's table shows (all of ``result.summary()`` is one call away).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "level", "requests", "errors", "ttft_s_p50", "ttft_s_p99", "tpot_s_p50", "itl_s_p99", "e2e_s_p50",
    "output_tokens_per_s", "requests_per_s",
)


def parse_levels(text: str, mode: str = "concurrency") -> list[float]:
    """Load levels from text such as ``"1, 4, 16"``: positive integers (users) for ``"concurrency"``, positive
    numbers (requests/s) for ``"rate"``. Raises :class:`~vultr_toolkit.ConfigError` with what to type.

    >>> parse_levels("1, 4 8")
    [1.0, 4.0, 8.0]
    >>> parse_levels("0.5,2", "rate")
    [0.5, 2.0]
    """
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        levels = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"levels {text!r}: type numbers separated by commas, e.g. '1, 4, 16'") from None
    if not levels:
        raise ConfigError("levels: type at least one load level, e.g. '1, 4'")
    if any(not lv > 0 for lv in levels):
        raise ConfigError(f"levels {text!r}: every level must be positive")
    if mode == "concurrency" and any(lv != int(lv) for lv in levels):
        raise ConfigError(f"levels {text!r}: concurrency levels are whole numbers of users")
    return levels


def chat_models(models: pd.DataFrame) -> list[str]:
    """Ids of the models that can chat (``is_chat``), in the endpoint's order; all ids when none says so.

    >>> chat_models(pd.DataFrame({"id": ["a", "b"], "is_chat": pd.array([False, True], dtype="boolean")}))
    ['b']
    """
    if "is_chat" in models.columns:
        chat = models[models["is_chat"].fillna(False).to_numpy(dtype=bool)]
        if len(chat):
            return [str(m) for m in chat["id"]]
    return [str(m) for m in models["id"]]


def merge_results(parts: Sequence[BenchmarkResult]) -> BenchmarkResult:
    """One result from runs of one or more levels each, in order: level indexes and request ids are renumbered
    so they stay unique, ``meta`` is the first run's with every level listed and the last run's finish time.

    >>> res = merge_results([vt.bench.run(client, model="qwen3.8-27b", concurrency=[lv], requests=8, max_tokens=16)
    ...                      for lv in (1, 4)])
    >>> res
    <BenchmarkResult model='qwen3.8-27b' mode=concurrency levels=[1, 4] requests=16 errors=0 chunks=...>
    """
    from ..bench import BenchmarkResult

    if not parts:
        raise ValueError("merge_results needs at least one result")
    reqs, chunks, levels = [], [], []
    level_off = rid_off = 0
    for part in parts:
        rq, ch, lv = part.requests.copy(), part.chunks.copy(), part.levels.copy()
        for frame in (rq, ch, lv):
            frame["level_index"] = frame["level_index"] + level_off
        rq["request_id"] = rq["request_id"] + rid_off
        ch["request_id"] = ch["request_id"] + rid_off
        reqs.append(rq)
        chunks.append(ch)
        levels.append(lv)
        level_off += len(lv)
        if len(part.requests):
            rid_off += int(part.requests["request_id"].max()) + 1
    meta = dict(parts[0].meta)
    meta["levels"] = [x for p in parts for x in p.meta.get("levels", [])]
    if "finished_at" in parts[-1].meta:
        meta["finished_at"] = parts[-1].meta["finished_at"]
    frames = {"requests": pd.concat(reqs, ignore_index=True), "chunks": pd.concat(chunks, ignore_index=True),
              "levels": pd.concat(levels, ignore_index=True)}
    return BenchmarkResult.from_frames(meta, frames)


def summary_table(result: BenchmarkResult) -> pd.DataFrame:
    """The runner's summary table: :data:`SUMMARY_COLUMNS` of ``result.summary()``."""
    s = result.summary(warn=False)
    return s[[c for c in SUMMARY_COLUMNS if c in s.columns]]


class BenchmarkRunner(Dashboard):
    """Run inference benchmarks from a notebook: model, closed loop (concurrency) or open loop (rate), levels,
    requests per level, max_tokens, and a Run button. The finished run is ``.result``; ``.results`` keeps every
    run of this dashboard. ``.controls``: ``model``, ``mode``, ``levels``, ``requests``, ``max_tokens``, ``run``.

    >>> runner = BenchmarkRunner(client, requests=4, max_tokens=8, progress=False)
    >>> runner.controls["run"].click(); runner.result
    <BenchmarkResult model='qwen3.8-27b' mode=concurrency levels=[1, 4] requests=8 errors=0 chunks=...>
    """

    def __init__(self, client: Any, *, levels: str = "1, 4", requests: int = 16, max_tokens: int = 64,
                 progress: bool = True) -> None:
        w = ipywidgets()
        self.client = client
        self.progress = progress
        self.models = client.inference.models()
        ids = chat_models(self.models)
        self.result: BenchmarkResult | None = None
        self.results: list[BenchmarkResult] = []
        self.figure: Figure | None = None
        self.controls: dict[str, Any] = {
            "model": w.Dropdown(options=ids, value=ids[0] if ids else None, description="model"),
            "mode": w.ToggleButtons(options=[("concurrency (users)", "concurrency"), ("rate (req/s)", "rate")],
                                    value="concurrency", description="load"),
            "levels": w.Text(value=levels, description="levels", placeholder="1, 4, 16"),
            "requests": w.BoundedIntText(value=requests, min=1, max=100_000, description="requests/level"),
            "max_tokens": w.BoundedIntText(value=max_tokens, min=1, max=32_768, description="max_tokens"),
            "run": w.Button(description="Run", button_style="primary", icon="play"),
        }
        self.controls["run"].on_click(self._on_run)
        self.header = w.HTML(f"<h3 style='margin:0'>Inference benchmark</h3><span style='color:#666'>"
                             f"{len(ids)} chat model(s)</span>")
        self.bar = w.Output()
        self.chart = w.Image(format="png", layout=w.Layout(width="100%"))
        self.table = w.HTML()
        self.status = w.HTML(message_html("choose a model and a load, then click Run"))
        c = self.controls
        self.widget = w.AppLayout(
            header=self.header,
            left_sidebar=w.VBox([c["model"], c["mode"], c["levels"], c["requests"], c["max_tokens"], c["run"]]),
            center=w.VBox([self.bar, self.chart, self.table]), footer=self.status,
            pane_widths=["340px", 1, 0], pane_heights=["60px", 1, "30px"],
        )

    def _on_run(self, _button: Any = None) -> None:
        try:
            self.run()
        except (VultrToolkitError, ValueError) as e:  # shown in the dashboard; the kernel stays quiet
            self.status.value = message_html(f"{type(e).__name__}: {e}", error=True)

    def _show(self, result: BenchmarkResult, note: str) -> None:
        self.figure = result.plot()
        self.chart.value = figure_png(self.figure)
        self.table.value = frame_html(summary_table(result))
        self.status.value = note

    def run(self) -> BenchmarkResult:
        """Run the benchmark the controls describe, one level at a time, updating the plot and table after each.

        Raises :class:`~vultr_toolkit.ConfigError` for bad control values (the button shows it instead).
        """
        from tqdm.auto import tqdm

        from ..bench import run as bench_run

        c = self.controls
        mode, model = c["mode"].value, c["model"].value
        if not model:
            raise ConfigError("no model to benchmark: the endpoint lists no chat model")
        levels = parse_levels(c["levels"].value, mode)
        n, max_tokens = int(c["requests"].value), int(c["max_tokens"].value)
        parts: list[BenchmarkResult] = []
        c["run"].disabled = True
        self.status.value = message_html(f"running {model} at {mode} {levels} …")
        clear_output(self.bar)
        try:
            with self.bar:
                bar = tqdm(total=n * len(levels), desc=f"bench {model}", unit="req", disable=not self.progress)
            try:
                for lv in levels:
                    load = {"concurrency": [int(lv)]} if mode == "concurrency" else {"rate": [lv]}
                    bar.set_postfix_str(f"{mode} {lv:g}")
                    with self.bar:  # the run's own per-request bar (transient) shows under the overall one
                        part = bench_run(self.client, model=model, requests=n, max_tokens=max_tokens,
                                         progress=self.progress, **load)
                    parts.append(part)
                    bar.update(n)
                    merged = merge_results(parts)
                    done = ", ".join(f"{x:g}" for x in levels[:len(parts)])
                    self._show(merged, f"{html.escape(model)}: level(s) {done} of {len(levels)} done")
            finally:
                bar.close()
        finally:
            c["run"].disabled = False
        result = merge_results(parts)
        self.result = result
        self.results.append(result)
        errors = int((result.requests["status"] == "error").sum())
        self.status.value = (f"<b>{html.escape(model)}</b> · {mode} {', '.join(f'{x:g}' for x in levels)} · "
                             f"{len(result.requests):,} requests · {errors:,} errors · result in <code>.result</code>")
        return result
