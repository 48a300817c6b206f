"""Benchmark prompts from what a data scientist has: a local JSONL / CSV / Parquet / ShareGPT JSON file, or a
``datasets.Dataset`` (duck-typed: anything with ``.to_pandas()``; ``datasets`` is never imported here).

:func:`load_dataset` turns any of them into a DataFrame with a ``prompt`` or ``messages`` column plus a meta
record (name, file basename, sha256 of the file or of the frame's content, rows_total, rows_used), so a
result says exactly which data it measured. ``sample=`` draws rows (seeded; ``replace=`` with or without
replacement). Bad input is a :class:`ConfigError` naming ``prompts`` before any request.

Example::

    >>> frame, meta = load_dataset(sample_dataset_path(), sample=10, seed=0)
    >>> len(frame), meta["rows_total"], meta["rows_used"]
    (10, 200, 10)
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ConfigError

__all__ = ["FORMATS", "is_dataset", "load_dataset", "sample_dataset_path"]

FORMATS = (".jsonl", ".json", ".csv", ".parquet")


def sample_dataset_path() -> Path:
    """The bundled, license-clean sample: 200 synthetic Q&A rows of varied lengths (``prompt``, ``output_tokens``).

    >>> sample_dataset_path().name
    'sample_prompts.jsonl'
    """
    return Path(str(resources.files("vultr_toolkit") / "data" / "sample_prompts.jsonl"))


def is_dataset(prompts: Any) -> bool:
    """Whether ``prompts=`` names a dataset (a path, or an object with ``.to_pandas()``) rather than prompts.

    A plain string is a dataset only when it ends with a supported suffix: ``prompts="hello"`` stays one prompt.

    >>> is_dataset("q.jsonl"), is_dataset("hello"), is_dataset(["a"])
    (True, False, False)
    """
    if isinstance(prompts, os.PathLike):
        return True
    if isinstance(prompts, str):
        return prompts.lower().endswith(FORMATS)
    return callable(getattr(prompts, "to_pandas", None))


def _sharegpt(rows: list[Any], where: str) -> pd.DataFrame:
    """ShareGPT rows (``conversations: [{"from": "human"|"gpt", "value": ...}]``): first human turn = prompt;
    the first gpt answer's word count gives ``output_tokens``."""
    prompts, outs = [], []
    for i, row in enumerate(rows):
        conv = row.get("conversations") if isinstance(row, dict) else None
        if not isinstance(conv, list) or not all(isinstance(t, dict) for t in conv):
            raise ConfigError(f"prompts: {where} row {i} is not ShareGPT: it needs 'conversations': "
                              "[{'from': 'human', 'value': ...}, ...]")
        human = next((t.get("value") for t in conv if t.get("from") in ("human", "user")), None)
        if not isinstance(human, str) or not human:
            raise ConfigError(f"prompts: {where} row {i} has no human turn with a text 'value'")
        gpt = next((t.get("value") for t in conv if t.get("from") in ("gpt", "assistant")), None)
        prompts.append(human)
        outs.append(max(1, len(gpt.split())) if isinstance(gpt, str) and gpt else None)
    frame = pd.DataFrame({"prompt": prompts})
    if any(o is not None for o in outs):
        frame["output_tokens"] = pd.array(outs, dtype="Int64")
    return frame


def _read(path: Path) -> tuple[pd.DataFrame, str]:
    if not path.is_file():
        raise ConfigError(f"prompts: no dataset file at {path}: give the path of a local "
                          f"{'/'.join(s[1:].upper() for s in FORMATS)} file")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"prompts: unknown dataset format {suffix or '(no suffix)'} of {path.name}; "
                          f"supported: {', '.join(FORMATS)} (ShareGPT is .json/.jsonl with 'conversations')")
    data = path.read_bytes()
    if not data.strip():
        raise ConfigError(f"prompts: the dataset file {path.name} is empty")
    digest = hashlib.sha256(data).hexdigest()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path), digest
        if suffix == ".csv":
            return pd.read_csv(path), digest
        text = data.decode("utf-8")
        rows = ([json.loads(line) for line in text.splitlines() if line.strip()] if suffix == ".jsonl"
                else json.loads(text))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"prompts: cannot read {path.name} as {suffix[1:].upper()}: {e}") from None
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"prompts: the dataset file {path.name} holds no rows")
    if isinstance(rows[0], dict) and "conversations" in rows[0]:
        return _sharegpt(rows, path.name), digest
    if not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"prompts: every row of {path.name} must be a JSON object")
    return pd.DataFrame(rows), digest


def _frame_digest(frame: pd.DataFrame) -> str:
    # Content hash of the rows a run may use (independent of the index), so two equal frames hash equal.
    return hashlib.sha256(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes()).hexdigest()


def load_dataset(prompts: Any, *, sample: int | None = None, replace: bool = False,
                 seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The dataset's rows (a ``prompt`` or ``messages`` column, optional ``output_tokens``) and its meta.

    >>> frame, meta = load_dataset(sample_dataset_path())
    >>> list(frame.columns), meta["path"]
    (['prompt', 'output_tokens'], 'sample_prompts.jsonl')
    """
    if isinstance(prompts, str | os.PathLike):
        path = Path(prompts)
        frame, digest = _read(path)
        name, base = path.stem, path.name
    else:
        frame = prompts.to_pandas()
        if not isinstance(frame, pd.DataFrame):
            raise ConfigError("prompts: the dataset's .to_pandas() did not return a DataFrame")
        digest, base = _frame_digest(frame), None
        info = getattr(prompts, "info", None)
        name = getattr(info, "dataset_name", None) or type(prompts).__name__
    if frame.empty:
        raise ConfigError(f"prompts: the dataset {base or name} has no rows")
    col = next((c for c in ("messages", "prompt") if c in frame.columns), None)
    if col is None:
        raise ConfigError(f"prompts: the dataset {base or name} needs a 'prompt' (text) or 'messages' column; "
                          f"it has {', '.join(map(str, frame.columns)) or 'none'}")
    keep = [col] + (["output_tokens"] if "output_tokens" in frame.columns else [])
    frame = frame[keep].reset_index(drop=True)
    total = len(frame)
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int | np.integer) or sample < 1:
            raise ConfigError(f"dataset_sample must be a positive number of rows, got {sample!r}")
        if not isinstance(replace, bool):
            raise ConfigError("dataset_replace must be True or False")
        if sample > total and not replace:
            raise ConfigError(f"dataset_sample={sample} exceeds the dataset's {total} rows: lower it or pass "
                              "dataset_replace=True")
        idx = np.random.default_rng((seed, 17)).choice(total, size=int(sample), replace=replace)
        frame = frame.iloc[idx].reset_index(drop=True)
    meta = {"name": name, "path": base, "sha256": digest, "rows_total": total, "rows_used": len(frame)}
    return frame, meta
