"""Argument validation and the open-loop schedule (pure)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vultr_toolkit import ConfigError
from vultr_toolkit.bench.workload import arrival_offsets_s, build_plan


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": -5}, "max_tokens"),
    ({"max_tokens": 8, "concurrency": [1], "rate": 2.0}, "not both"),
    ({"max_tokens": 8, "requests": 4, "duration_s": 2.0}, "not both"),
    ({"max_tokens": 8, "concurrency": [0]}, "concurrency"),
    ({"max_tokens": 8, "rate": -1.0}, "rate"),
    ({"max_tokens": 8, "concurrency": 2, "max_concurrency": 4}, "max_concurrency"),
    ({"max_tokens": 8, "prompts": ["a"], "input_tokens": 10}, "not both"),
    ({"max_tokens": 8, "rate": 1.0, "burstiness": 0}, "burstiness"),
])
def test_bad_arguments_raise_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_plan(model="m", **kwargs)  # type: ignore[arg-type]


def test_bodies_ask_for_streaming_usage_and_exact_length() -> None:
    plan = build_plan(model="m", max_tokens=7, input_tokens=5, concurrency=[1, 4])
    body = json.loads(plan.body(0))
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 7 and len(body["messages"][0]["content"].split()) == 5
    assert [lv.requests for lv in plan.levels] == [32, 32]   # default: max(32, 4 x users)
    chat = build_plan(model="m", max_tokens=3, prompts=[[{"role": "system", "content": "s"},
                                                         {"role": "user", "content": "u"}]])
    assert json.loads(chat.body(5))["messages"][0]["role"] == "system"


def test_arrivals_are_seeded_with_the_requested_mean_rate() -> None:
    a = arrival_offsets_s(4000, 50.0, 1.0, np.random.default_rng(1))
    b = arrival_offsets_s(4000, 50.0, 1.0, np.random.default_rng(1))
    assert a[0] == 0.0 and (np.diff(a) >= 0).all()
    assert np.array_equal(a, b)
    assert np.mean(np.diff(a)) == pytest.approx(1 / 50.0, rel=0.05)
    bursty = np.diff(arrival_offsets_s(4000, 50.0, 0.25, np.random.default_rng(1)))
    # gamma shape < 1 is burstier: a larger coefficient of variation than Poisson's 1
    assert np.std(bursty) / np.mean(bursty) > 1.5
