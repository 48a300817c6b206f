"""prompts= a dataset file or a datasets.Dataset: rows sent, sampling, meta, and ConfigErrors before any request."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

import vultr_toolkit as vt
from vultr_toolkit import ConfigError
from vultr_toolkit.bench.workload import build_plan


def _contents(plan: object) -> list[str]:
    return [json.loads(b)["messages"][0]["content"] for b in plan.bodies]  # type: ignore[attr-defined]


def test_sample_file_is_bundled_with_200_rows_of_varied_length() -> None:
    frame, meta = vt.bench.load_dataset(vt.bench.sample_dataset_path())
    assert meta["rows_total"] == 200 and list(frame.columns) == ["prompt", "output_tokens"]
    words = frame["prompt"].map(lambda s: len(s.split()))
    assert words.min() < 20 and words.max() > 500
    assert meta["sha256"] == hashlib.sha256(vt.bench.sample_dataset_path().read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_each_file_format_sends_its_prompt_rows(tmp_path: Path, fmt: str) -> None:
    frame = pd.DataFrame({"prompt": ["alpha beta", "gamma"], "other": [1, 2]})
    path = tmp_path / f"d.{fmt}"
    {"jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     "csv": lambda: frame.to_csv(path, index=False), "parquet": lambda: frame.to_parquet(path)}[fmt]()
    plan = build_plan(model="m", max_tokens=4, prompts=str(path), requests=2)
    assert _contents(plan) == ["alpha beta", "gamma"]
    assert plan.body_meta["dataset"]["path"] == f"d.{fmt}" and plan.body_meta["dataset"]["rows_used"] == 2


def test_sharegpt_first_human_turn_is_the_prompt(tmp_path: Path) -> None:
    rows = [{"conversations": [{"from": "human", "value": "hi there"}, {"from": "gpt", "value": "one two three"}]},
            {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "second"}]}]
    path = tmp_path / "sg.json"
    path.write_text(json.dumps(rows))
    frame, _ = vt.bench.load_dataset(path)
    assert frame["prompt"].tolist() == ["hi there", "second"]
    assert frame["output_tokens"].tolist()[0] == 3 and pd.isna(frame["output_tokens"].tolist()[1])


class _FakeDataset:
    """Duck-typed datasets.Dataset: only .to_pandas() is used."""

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame({"messages": [[{"role": "user", "content": "x y"}], [{"role": "user", "content": "z"}]]})


def test_a_duck_typed_dataset_sends_its_messages_and_hashes_its_content() -> None:
    plan = build_plan(model="m", max_tokens=4, prompts=_FakeDataset(), requests=2)
    assert _contents(plan) == ["x y", "z"]
    meta = plan.body_meta["dataset"]
    assert meta["name"] == "_FakeDataset" and meta["path"] is None and len(meta["sha256"]) == 64
    assert build_plan(model="m", max_tokens=4, prompts=_FakeDataset()).body_meta["dataset"]["sha256"] == meta["sha256"]


def test_real_datasets_dataset_if_installed() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"prompt": ["a b", "c"]})
    assert _contents(build_plan(model="m", max_tokens=4, prompts=ds, requests=2)) == ["a b", "c"]


def test_sampling_is_seeded_and_respects_replace() -> None:
    path = vt.bench.sample_dataset_path()
    a = vt.bench.load_dataset(path, sample=50, seed=1)[0]
    b = vt.bench.load_dataset(path, sample=50, seed=1)[0]
    c = vt.bench.load_dataset(path, sample=50, seed=2)[0]
    assert a.equals(b) and not a.equals(c) and a["prompt"].is_unique
    assert len(vt.bench.load_dataset(path, sample=500, replace=True)[0]) == 500
    with pytest.raises(ConfigError, match="dataset_replace=True"):
        vt.bench.load_dataset(path, sample=500)


def test_run_against_the_sandbox_records_the_dataset(sandbox: vt.Sandbox) -> None:
    res = vt.bench.run(sandbox, model="qwen3.8-27b", prompts=vt.bench.sample_dataset_path(), dataset_sample=6,
                       max_tokens=3, concurrency=1, requests=6, progress=False)
    ds = res.meta["workload"]["dataset"]
    assert (ds["path"], ds["rows_total"], ds["rows_used"], res.meta["prompts"]) == ("sample_prompts.jsonl", 200, 6, 6)
    assert res.requests["prompt_tokens"].notna().all() and len(res.requests) == 6


@pytest.mark.parametrize(("content", "name", "match"), [
    (None, "missing.jsonl", "no dataset file"),
    ("", "empty.jsonl", "is empty"),
    ("a,b", "data.txt", "supported: .jsonl, .json, .csv, .parquet"),
    ('{"text": "hi"}\n', "cols.jsonl", "it has text"),
    ('[{"conversations": [{"from": "gpt", "value": "x"}]}]', "sg.json", "row 0 has no human turn"),
    ("{not json\n", "bad.jsonl", "cannot read bad.jsonl"),
])
def test_bad_dataset_files_are_config_errors_before_any_request(tmp_path: Path, content: str | None, name: str,
                                                                  match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match) as err:
        # a closed loopback port: reaching the network would be a different error
        vt.bench.run(vt.Settings(inference_url="http://127.0.0.1:9/v1"), model="m", prompts=path, max_tokens=2)
    assert "prompts" in str(err.value)


def test_dataset_options_without_a_dataset_are_refused() -> None:
    with pytest.raises(ConfigError, match="dataset_sample / dataset_replace need a dataset"):
        build_plan(model="m", max_tokens=4, prompts=["a"], dataset_sample=2)
