"""Length distributions, body pass-through and the target columns (issue 14 items 1-2), against the sandbox."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit import ConfigError
from vultr_toolkit.bench.lengths import parse_lengths
from vultr_toolkit.bench.workload import build_plan


def test_distributions_are_seeded_clipped_and_near_their_mean() -> None:
    spec = parse_lengths("input_tokens", {"dist": "lognormal", "mean": 300, "sd": 100, "min": 20, "max": 900})
    a = spec.draw(20_000, np.random.default_rng(3))
    assert np.array_equal(a, spec.draw(20_000, np.random.default_rng(3)))
    assert a.min() >= 20 and a.max() <= 900
    assert a.mean() == pytest.approx(300, rel=0.03) and a.std() == pytest.approx(100, rel=0.1)
    n = parse_lengths("output_tokens", "normal:mean=64,sd=8").draw(20_000, np.random.default_rng(0))
    assert n.mean() == pytest.approx(64, rel=0.02) and n.min() >= 1


@pytest.mark.parametrize(("value", "match"), [
    ({"dist": "uniform", "min": 10, "max": 5}, "greater than max"),
    ("normal:mean=10", "needs mean= and sd="),
    ({"dist": "zipf"}, "unknown distribution"),
    ([3, -1], r"input_tokens\[1\]"),
    ("uniform:min=a,max=3", "not a number"),
    (2.5, "input_tokens"),
])
def test_bad_length_specs_are_config_errors(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_lengths("input_tokens", value)


def test_bodies_carry_per_request_lengths_and_options() -> None:
    plan = build_plan(model="m", input_tokens=[5, 9, 13], output_tokens=np.array([4, 6, 8]), concurrency=1,
                      requests=6, extra_body={"reasoning": {"effort": "low"}}, temperature=0.2, stop="\n",
                      sampling_seed=7, exact_output_tokens=True)
    for i in range(6):
        body = json.loads(plan.body(i))
        want_in, want_out = [5, 9, 13][i % 3], [4, 6, 8][i % 3]
        assert plan.targets(i) == (want_in, want_out)
        assert len(body["messages"][0]["content"].split()) == want_in
        assert body["max_tokens"] == want_out == body["min_tokens"] and body["ignore_eos"] is True
        assert body["reasoning"] == {"effort": "low"} and body["temperature"] == 0.2
        assert body["stop"] == ["\n"] and body["seed"] == 7 and body["stream"] is True


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_tokens": 4, "extra_body": {"model": "x"}}, "may not set model"),
    ({"max_tokens": 4, "extra_body": {"stream": False}}, "may not set stream"),
    ({"max_tokens": 4, "extra_body": ["ignore_eos"]}, "JSON object"),
    ({"max_tokens": 4, "extra_body": {"x": object()}}, "JSON-serialisable"),
    ({"max_tokens": 4, "temperature": 1.0, "extra_body": {"temperature": 0.5}}, "once"),
    ({"max_tokens": 4, "headers": {"Authorization": "Bearer x"}}, "may not set Authorization"),
    ({"max_tokens": 4, "top_p": 1.5}, "top_p"),
    ({"max_tokens": 4, "output_tokens": 8}, "not both"),
    ({}, "max_tokens"),
    ({"max_tokens": 4, "prompts": pd.DataFrame({"text": ["a"]})}, "'prompt'"),
])
def test_bad_body_options_are_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_plan(model="m", **kwargs)  # type: ignore[arg-type]


def test_a_dataframe_of_prompts_sends_its_rows_not_its_column_names() -> None:
    plan = build_plan(model="m", max_tokens=4, prompts=pd.DataFrame({"prompt": ["alpha beta", "gamma"]}))
    assert [json.loads(b)["messages"][0]["content"] for b in plan.bodies] == ["alpha beta", "gamma"]


def test_unknown_option_names_its_closest_match(sandbox: vt.Sandbox) -> None:
    with pytest.raises(ConfigError, match="did you mean max_tokens"):
        vt.bench.run(sandbox, model="qwen3.8-27b", max_token=4)  # type: ignore[call-arg]


def test_run_records_targets_beside_actuals_and_the_body_options(sandbox: vt.Sandbox) -> None:
    res = vt.bench.run(sandbox, model="qwen3.8-27b", input_tokens=[8, 16], output_tokens=[3, 5], concurrency=1,
                       requests=4, progress=False, headers={"X-Team": "ml"}, extra_body={"user": "bench"})
    req = res.requests.sort_values("request_id")
    assert req["input_tokens_target"].tolist() == [8, 16, 8, 16]
    assert req["output_tokens_target"].tolist() == [3, 5, 3, 5]
    assert (req["output_tokens"] <= req["output_tokens_target"]).all() and req["output_tokens"].notna().all()
    assert res.meta["workload"]["headers"] == ["X-Team"]
    assert res.meta["workload"]["extra_body"] == {"user": "bench"}
    assert res.meta["workload"]["output_tokens"]["dist"] == "array"
