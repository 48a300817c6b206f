"""Token-length distributions for ``input_tokens=`` / ``output_tokens=``: parse once, draw seeded.

A length is given as

* an **int** — every request the same (``256``);
* a **distribution spec** — a mapping ``{"dist": "normal", "mean": 512, "sd": 128, "min": 16, "max": 2048}``
  or the same as a string, the CLI's syntax: ``"normal:mean=512,sd=128,min=16,max=2048"``. Kinds:
  ``fixed`` (``value``), ``uniform`` (``min``, ``max``, both inclusive), ``normal`` and ``lognormal``
  (``mean``, ``sd`` of the *lengths themselves*, optional ``min`` / ``max`` clip). A log-normal's ``mean`` and
  ``sd`` are those of the resulting lengths, not of the underlying normal — what a user reading a histogram of
  prompt lengths would quote;
* an **array** of per-request lengths (list, NumPy array, ``pd.Series``) — request *i* gets element
  ``i mod len``.

Draws are rounded to integers, clipped to ``[min, max]`` and never below 1. The same seed gives the same
lengths, so a run is reproducible.

Example::

    >>> import numpy as np
    >>> spec = parse_lengths("input_tokens", "uniform:min=10,max=20")
    >>> spec
    LengthSpec(dist='uniform', mean=15.0, sd=None, min=10, max=20, values=None)
    >>> draws = spec.draw(1000, np.random.default_rng(0))
    >>> int(draws.min()) >= 10 and int(draws.max()) <= 20
    True
    >>> parse_lengths("output_tokens", 64).draw(3, np.random.default_rng(0)).tolist()
    [64, 64, 64]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._errors import ConfigError
from .._validate import as_float, as_int

__all__ = ["KINDS", "LengthSpec", "parse_lengths"]

KINDS = ("fixed", "uniform", "normal", "lognormal")

_SYNTAX = ("an int, an array of per-request lengths, or a distribution such as "
           "{'dist': 'normal', 'mean': 512, 'sd': 128, 'min': 16, 'max': 2048} "
           "(CLI: normal:mean=512,sd=128,min=16,max=2048; kinds: fixed, uniform, normal, lognormal)")


@dataclasses.dataclass(frozen=True)
class LengthSpec:
    """A validated length distribution (``values`` holds an explicit per-request array)."""

    dist: str
    mean: float
    sd: float | None = None
    min: int = 1
    max: int | None = None
    values: tuple[int, ...] | None = None

    @property
    def upper(self) -> int:
        """The largest length this spec can produce (the bound checked against the model's limits)."""
        if self.values is not None:
            return max(self.values)
        if self.max is not None:
            return self.max
        if self.dist == "fixed":
            return int(self.mean)
        # Unbounded normal / log-normal: 6 sd above the mean covers every draw a run will make in practice;
        # a user who needs a hard bound gives max=.
        return math.ceil(self.mean + 6 * (self.sd or 0.0))

    def to_meta(self) -> dict[str, Any]:
        """JSON-ready description for ``BenchmarkResult.meta`` (an array is summarised, not copied)."""
        if self.values is not None:
            return {"dist": "array", "n": len(self.values), "min": min(self.values), "max": max(self.values),
                    "mean": float(np.mean(self.values))}
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "values"}

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` integer lengths (int64), reproducible for a given ``rng`` state."""
        if self.values is not None:
            vals = np.asarray(self.values, dtype=np.int64)
            return np.resize(vals, n) if n else np.zeros(0, dtype=np.int64)
        if self.dist == "fixed":
            x = np.full(n, self.mean)
        elif self.dist == "uniform":
            assert self.max is not None
            return rng.integers(self.min, self.max + 1, size=n, dtype=np.int64)
        elif self.dist == "normal":
            x = rng.normal(self.mean, self.sd or 0.0, size=n)
        else:  # lognormal with the lengths' own mean and sd: solve for the underlying normal's mu, sigma
            sd = self.sd or 0.0
            sigma2 = math.log1p((sd / self.mean) ** 2)
            mu = math.log(self.mean) - sigma2 / 2
            x = rng.lognormal(mu, math.sqrt(sigma2), size=n)
        hi = self.max if self.max is not None else np.inf
        return np.clip(np.rint(x), max(1, self.min), hi).astype(np.int64)


def _parse_text(name: str, text: str) -> dict[str, Any]:
    text = text.strip()
    if text.lstrip("+").isdigit():
        return {"dist": "fixed", "value": int(text)}
    kind, sep, rest = text.partition(":")
    fields: dict[str, Any] = {"dist": kind.strip()}
    if sep:
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, val = part.partition("=")
            if not eq:
                raise ConfigError(f"{name}: cannot read {part!r} in {text!r}: write key=value, e.g. {_SYNTAX}")
            try:
                fields[key.strip()] = float(val)
            except ValueError:
                raise ConfigError(f"{name}: {key.strip()}={val!r} is not a number in {text!r}") from None
    return fields


def _from_mapping(name: str, spec: Mapping[str, Any]) -> LengthSpec:
    fields = dict(spec)
    kind = fields.pop("dist", fields.pop("kind", None))
    if kind not in KINDS:
        raise ConfigError(f"{name}: unknown distribution {kind!r}; give {_SYNTAX}")
    allowed = {"fixed": {"value"}, "uniform": {"min", "max"}, "normal": {"mean", "sd", "min", "max"},
               "lognormal": {"mean", "sd", "min", "max"}}[kind]
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ConfigError(f"{name}: {kind} takes {', '.join(sorted(allowed))}; unknown {', '.join(unknown)}")

    def whole(key: str, minimum: int = 1) -> int | None:
        v = fields.get(key)
        if v is None:
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return as_int(f"{name} {key}", v, minimum=minimum, hint=" (a token count)")

    lo, hi = whole("min"), whole("max")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"{name}: min={lo} is greater than max={hi}; swap them")
    if kind == "fixed":
        value = whole("value")
        if value is None:
            raise ConfigError(f"{name}: fixed needs value=, e.g. 'fixed:value=256' or simply 256")
        return LengthSpec("fixed", float(value), None, value, value)
    if kind == "uniform":
        if lo is None or hi is None:
            raise ConfigError(f"{name}: uniform needs min= and max=, e.g. 'uniform:min=64,max=512'")
        return LengthSpec("uniform", (lo + hi) / 2, None, lo, hi)
    if "mean" not in fields or "sd" not in fields:
        raise ConfigError(f"{name}: {kind} needs mean= and sd=, e.g. '{kind}:mean=512,sd=128,min=16,max=2048'")
    mean = as_float(f"{name} mean", fields["mean"], positive=True, hint=" (tokens)")
    sd = as_float(f"{name} sd", fields["sd"], non_negative=True, hint=" (tokens)")
    if (hi is not None and mean > hi) or (lo is not None and mean < lo):
        raise ConfigError(f"{name}: mean={mean:g} lies outside [min, max] = [{lo}, {hi}]")
    return LengthSpec(kind, mean, sd, lo or 1, hi)


def parse_lengths(name: str, value: Any) -> LengthSpec:
    """Validate a length argument (int, mapping, CLI string or array); raise ConfigError naming ``name``.

    >>> parse_lengths("input_tokens", [100, 200]).upper
    200
    >>> parse_lengths("input_tokens", {"dist": "uniform", "min": 9, "max": 3})
    Traceback (most recent call last):
    ...
    vultr_toolkit.ConfigError: input_tokens: min=9 is greater than max=3; swap them
    """
    if isinstance(value, str):
        return _from_mapping(name, _parse_text(name, value))
    if isinstance(value, Mapping):
        return _from_mapping(name, value)
    if isinstance(value, np.ndarray | list | tuple) or hasattr(value, "to_numpy"):
        arr = value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value)
        if arr.ndim != 1 or arr.size == 0:
            raise ConfigError(f"{name}: an array of lengths must be one-dimensional and non-empty, "
                              f"got shape {arr.shape}")
        vals = tuple(as_int(f"{name}[{i}]", v, minimum=1, hint=" (a token count)") for i, v in enumerate(arr))
        return LengthSpec("array", float(np.mean(vals)), None, min(vals), max(vals), vals)
    try:
        n = as_int(name, value, minimum=1, hint=" (a token count)")
    except ConfigError:
        raise ConfigError(f"{name} must be {_SYNTAX}; got {value!r} ({type(value).__name__})") from None
    return LengthSpec("fixed", float(n), None, n, n)
