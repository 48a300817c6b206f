"""BenchmarkRunner against the sandbox's inference emulator: every control reaches the run it starts."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit.widgets import BenchmarkRunner, chat_models, merge_results, parse_levels


@pytest.fixture(scope="module")
def client() -> Iterator[vt.Client]:
    # time_scale 0.1: the emulator's token timings ten times faster, so a run takes about a second.
    with vt.Sandbox(seed=0, rate_limit=None, inference={"time_scale": 0.1}) as sb, vt.Client(sb.settings()) as c:
        yield c


def test_model_dropdown_lists_the_chat_models(client: vt.Client) -> None:
    runner = BenchmarkRunner(client, progress=False)
    models = client.inference.models()
    chat = models.loc[models["is_chat"].fillna(False).astype(bool), "id"].tolist()
    assert list(runner.controls["model"].options) == chat
    assert "bge-reranker-v2-m3" not in runner.controls["model"].options  # listed, but cannot chat
    assert runner.result is None


def test_run_concurrency_uses_every_control(client: vt.Client) -> None:
    runner = BenchmarkRunner(client, progress=False)
    c = runner.controls
    model = c["model"].options[1]
    c["model"].value = model
    c["mode"].value = "concurrency"
    c["levels"].value = "1, 2"
    c["requests"].value = 4
    c["max_tokens"].value = 8
    c["run"].click()
    res = runner.result
    assert res is not None
    assert res.meta["model"] == model
    assert res.levels["level"].tolist() == [1.0, 2.0]
    assert set(res.levels["mode"].astype(str)) == {"concurrency"}
    assert res.requests.groupby("level")["request_id"].count().tolist() == [4, 4]
    assert res.requests["request_id"].is_unique
    ok = res.requests[res.requests["status"] == "ok"]
    assert len(ok) == 8 and (ok["output_tokens"] <= 8).all() and (ok["output_tokens"] > 0).all()
    summary = res.summary(warn=False)
    assert summary["level"].tolist() == [1.0, 2.0]
    assert "ttft_s_p50" in runner.table.value and "<table" in runner.table.value
    assert runner.chart.value[:4] == b"\x89PNG"
    assert len(runner.figure.axes) >= 3  # type: ignore[union-attr]
    assert model in runner.status.value and "8 requests" in runner.status.value
    assert c["run"].disabled is False


def test_run_rate_mode_and_results_accumulate(client: vt.Client) -> None:
    runner = BenchmarkRunner(client, progress=True)
    c = runner.controls
    c["mode"].value = "rate"
    c["levels"].value = "20"
    c["requests"].value = 3
    c["max_tokens"].value = 4
    c["run"].click()
    first = runner.result
    assert first is not None and first.meta["mode"] == "rate"
    assert first.levels["level"].tolist() == [20.0]
    c["levels"].value = "10 40"
    c["run"].click()
    assert runner.result is not first
    assert runner.result is not None and runner.result.levels["level"].tolist() == [10.0, 40.0]
    assert len(runner.results) == 2


@pytest.mark.parametrize(("mode", "levels", "message"), [
    ("concurrency", "abc", "numbers separated by commas"),
    ("concurrency", "1.5", "whole numbers"),
    ("rate", "0", "positive"),
    ("rate", " ", "at least one"),
])
def test_bad_levels_are_shown_not_raised(client: vt.Client, mode: str, levels: str, message: str) -> None:
    runner = BenchmarkRunner(client, progress=False)
    runner.controls["mode"].value = mode
    runner.controls["levels"].value = levels
    runner.controls["run"].click()
    assert runner.result is None
    assert message in runner.status.value and "ConfigError" in runner.status.value
    assert runner.controls["run"].disabled is False


def test_parse_levels_and_chat_models() -> None:
    assert parse_levels("1;2  16") == [1.0, 2.0, 16.0]
    assert parse_levels("0.5", "rate") == [0.5]
    with pytest.raises(vt.ConfigError):
        parse_levels("2.5", "concurrency")
    models = pd.DataFrame({"id": ["a", "b"], "is_chat": pd.array([None, None], dtype="boolean")})
    assert chat_models(models) == ["a", "b"]  # nobody says they chat: offer them all


def test_merge_results_matches_the_per_level_runs(client: vt.Client) -> None:
    model = chat_models(client.inference.models())[0]
    parts = [vt.bench.run(client, model=model, concurrency=[lv], requests=3, max_tokens=4, progress=False)
             for lv in (1, 3)]
    merged = merge_results(parts)
    assert merged.levels["level_index"].tolist() == [0, 1]
    assert merged.requests["request_id"].is_unique
    assert set(merged.chunks["request_id"]) <= set(merged.requests["request_id"])
    assert merged.meta["levels"] == [1, 3]
    for col, dtype in parts[0].requests.dtypes.items():
        assert merged.requests[col].dtype == dtype, col
    s = merged.summary(warn=False)
    for i, part in enumerate(parts):
        one = part.summary(warn=False).iloc[0]
        assert s.iloc[i]["requests"] == one["requests"]
        assert s.iloc[i]["ttft_s_p50"] == pytest.approx(one["ttft_s_p50"])
        assert s.iloc[i]["itl_s_p50"] == pytest.approx(one["itl_s_p50"])
    with pytest.raises(ValueError):
        merge_results([])


def test_run_outside_a_kernel_prints_nothing(client: vt.Client, capsys: pytest.CaptureFixture[str]) -> None:
    # Outside Jupyter, Output.clear_output() printed ANSI erase codes into stdout (a script's, a doctest's).
    runner = BenchmarkRunner(client, requests=2, max_tokens=4, progress=False)
    runner.bar.outputs = ({"output_type": "stream", "name": "stdout", "text": "an earlier run"},)
    runner.controls["run"].click()
    assert runner.result is not None and len(runner.result.requests) == 4
    assert capsys.readouterr().out == ""
    assert runner.bar.outputs == ()
