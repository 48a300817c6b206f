"""Field report (issue 12) items 18-19: careless numeric input and wrong models fail early, typed, by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit import cli
from vultr_toolkit.bench.workload import build_plan

BASE = {"model": "m", "max_tokens": 8}


@pytest.mark.parametrize("kw", [
    {"concurrency": np.int64(2)}, {"concurrency": np.array([1, 2])}, {"concurrency": np.arange(1, 3)},
    {"concurrency": pd.Series([1, 2])}, {"concurrency": np.array(2)}, {"max_tokens": np.int64(4)},
    {"rate": np.float64(2.5)}, {"rate": np.array([1.0, 2.0])}, {"requests": np.int32(4)},
    {"warmup": np.int64(1)}, {"input_tokens": np.int64(16)}, {"timeout_s": np.float32(5.0)},
])
def test_numpy_values_are_accepted_as_python_values(kw: dict) -> None:
    plan = build_plan(**{**BASE, **kw})
    assert all(type(lv.level) is float for lv in plan.levels)
    assert type(plan.max_tokens) is int and type(plan.warmup) is int
    if "concurrency" in kw:
        assert [lv.level for lv in plan.levels] == [float(x) for x in np.atleast_1d(kw["concurrency"])]
    if "requests" in kw:
        assert type(plan.levels[0].requests) is int


@pytest.mark.parametrize(("kw", "name"), [
    ({"concurrency": 2.5}, "concurrency"), ({"concurrency": [1, True]}, "concurrency"),
    ({"concurrency": []}, "concurrency"), ({"concurrency": "4"}, "concurrency"),
    ({"requests": -1}, "requests"), ({"requests": True}, "requests"), ({"requests": 2.0}, "requests"),
    ({"rate": float("inf")}, "rate"), ({"rate": float("nan")}, "rate"), ({"rate": -1.0}, "rate"),
    ({"rate": [1, True]}, "rate"), ({"warmup": -1}, "warmup"), ({"warmup": 1.5}, "warmup"),
    ({"max_tokens": True}, "max_tokens"), ({"max_tokens": 4.0}, "max_tokens"),
    ({"input_tokens": True}, "input_tokens"), ({"input_tokens": 2.5}, "input_tokens"),
    ({"timeout_s": float("inf")}, "timeout_s"), ({"timeout_s": True}, "timeout_s"),
    ({"duration_s": float("nan")}, "duration_s"), ({"burstiness": float("inf")}, "burstiness"),
    ({"stall_timeout_s": -1.0}, "stall_timeout_s"), ({"seed": 1.5}, "seed"),
    ({"rate": 2.0, "max_concurrency": 2.5}, "max_concurrency"),
])
def test_bad_numbers_raise_config_error_naming_the_argument(kw: dict, name: str) -> None:
    with pytest.raises(vt.ConfigError, match=name):
        build_plan(**{**BASE, **kw})


def test_run_rejects_bad_numbers_before_any_request(sandbox: vt.Sandbox) -> None:
    before = sandbox.inference.chat_requests
    for kw in ({"concurrency": 2.5}, {"requests": -1}, {"rate": float("inf")}, {"workers": np.float64(2.5)}):
        with pytest.raises(vt.ConfigError):
            vt.bench.run(sandbox, model="qwen3.8-27b", max_tokens=4, progress=False, **kw)
    assert sandbox.inference.chat_requests == before


def test_run_accepts_numpy_concurrency_end_to_end(sandbox: vt.Sandbox) -> None:
    res = vt.bench.run(sandbox, model="qwen3.8-27b", concurrency=np.arange(1, 3), requests=2,  # type: ignore[arg-type]
                       max_tokens=np.int64(4), progress=False)  # type: ignore[arg-type]
    assert sorted(res.requests["level"].unique().tolist()) == [1.0, 2.0]
    assert res.meta["max_tokens"] == 4 and type(res.meta["max_tokens"]) is int


def test_non_chat_model_is_a_config_error_listing_chat_models(sandbox: vt.Sandbox) -> None:
    before = sandbox.inference.chat_requests
    with pytest.raises(vt.ConfigError, match="model='bge-reranker-v2-m3' is not a chat model") as e:
        vt.bench.run(sandbox, model="bge-reranker-v2-m3", requests=2, max_tokens=4, progress=False)
    assert "qwen3.8-27b" in str(e.value)
    assert sandbox.inference.chat_requests == before


def test_max_tokens_beyond_documented_max_is_a_config_error(sandbox: vt.Sandbox) -> None:
    before = sandbox.inference.chat_requests
    with pytest.raises(vt.ConfigError, match="max_tokens=40000 exceeds"):
        vt.bench.run(sandbox, model="qwen3.8-27b", requests=2, max_tokens=40000, progress=False)
    assert sandbox.inference.chat_requests == before


def test_unknown_model_suggests_close_matches(sandbox: vt.Sandbox) -> None:
    with pytest.raises(vt.ConfigError, match=r"did you mean 'qwen3\.8-27b'"):
        vt.bench.run(sandbox, model="qwen3.8-72b", requests=2, max_tokens=4, progress=False)


def test_readme_model_pick_is_a_chat_model(sandbox: vt.Sandbox) -> None:
    with vt.Client(sandbox.settings()) as client:
        models = client.inference.models()
        chat_model = models[models.is_chat].id.iloc[0]
    assert bool(models.set_index("id").loc[chat_model, "is_chat"])
    import pathlib
    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    assert "models().id[0]" not in readme and "models[models.is_chat].id.iloc[0]" in readme


@pytest.mark.parametrize("arg", ["https://api.vultr.com/v2", 42])
def test_client_with_a_non_settings_positional_is_a_config_error(arg: object) -> None:
    for cls in (vt.Client, vt.AsyncClient):
        with pytest.raises(vt.ConfigError, match=r"vt\.Settings"):
            cls(arg)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", ["x", None, 1.5, True])
def test_sandbox_seed_must_be_an_int(seed: object) -> None:
    with pytest.raises(vt.ConfigError, match="seed"):
        vt.Sandbox(seed=seed)  # type: ignore[arg-type]


def test_sandbox_accepts_numpy_seed_and_time_scale_keyword() -> None:
    sb = vt.Sandbox(seed=np.int64(3), time_scale=0.05)  # type: ignore[arg-type]
    assert sb.seed == 3 and type(sb.seed) is int
    assert sb.inference.options["time_scale"] == 0.05
    with pytest.raises(vt.ConfigError, match="time_scale"):
        vt.Sandbox(time_scale=0)


def test_cli_bench_fractional_concurrency_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.build_parser().parse_args(["bench", "--concurrency", "1.5"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--concurrency" in err and "whole numbers" in err
    assert cli.build_parser().parse_args(["bench", "--concurrency", "1,4"]).concurrency == [1, 4]
