"""Reusable argument validators: one place that turns NumPy/pandas scalars into Python numbers or says why not.

Values pulled from a DataFrame or ``np.arange`` arrive as ``np.int64`` / ``np.float64`` / 0-d arrays; they are
accepted as their Python values. ``bool`` is rejected (``True`` is not a count), so are NaN, ±inf and values
out of range. Every failure is a :class:`~vultr_toolkit.ConfigError` naming the argument.

Example::

    >>> import numpy as np
    >>> as_int("concurrency", np.int64(2), minimum=1)
    2
    >>> int_list("concurrency", np.arange(1, 3), minimum=1)
    [1, 2]
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ._errors import ConfigError

__all__ = ["as_float", "as_int", "float_list", "int_list"]


def _scalar(value: Any) -> Any:
    """Unwrap a NumPy scalar or 0-d array into its Python value; anything else is returned unchanged."""
    if hasattr(value, "ndim") and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def as_int(name: str, value: Any, *, minimum: int | None = None, hint: str = "") -> int:
    """``value`` as a Python int (NumPy ints and integral 0-d arrays too), else ConfigError naming ``name``.

    >>> as_int("requests", 3, minimum=1)
    3
    """
    v = _scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ConfigError(f"{name} must be an integer{hint}, got {_describe(value)}")
    v = int(v)
    if minimum is not None and v < minimum:
        what = "positive" if minimum == 1 else f">= {minimum}"
        raise ConfigError(f"{name} must be {what}{hint}, got {v}")
    return v


def as_float(name: str, value: Any, *, positive: bool = False, non_negative: bool = False, hint: str = "") -> float:
    """``value`` as a finite Python float (ints and NumPy numbers too), else ConfigError naming ``name``.

    >>> as_float("rate", 2, positive=True)
    2.0
    """
    v = _scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ConfigError(f"{name} must be a number{hint}, got {_describe(value)}")
    f = float(v)
    if not math.isfinite(f):
        raise ConfigError(f"{name} must be a finite number{hint}, got {f!r}")
    if positive and not f > 0:
        raise ConfigError(f"{name} must be positive{hint}, got {f!r}")
    if non_negative and f < 0:
        raise ConfigError(f"{name} must be non-negative{hint}, got {f!r}")
    return f


def _items(name: str, value: Any, what: str) -> list[Any]:
    v = _scalar(value)
    if isinstance(v, str | bytes) or not hasattr(v, "__iter__"):
        return [v]
    items = list(v.tolist() if hasattr(v, "tolist") else v)  # ndarray / Series / list / tuple / range
    if not items:
        raise ConfigError(f"{name} must be {what} or a non-empty list of them, got an empty {type(value).__name__}")
    return items


def int_list(name: str, value: Any, *, minimum: int | None = None, hint: str = "") -> list[int]:
    """One int or a sequence (list, tuple, range, ndarray, Series) of them -> a list of Python ints.

    >>> int_list("concurrency", 4, minimum=1)
    [4]
    """
    return [as_int(name, x, minimum=minimum, hint=hint) for x in _items(name, value, "an integer")]


def float_list(name: str, value: Any, *, positive: bool = False, hint: str = "") -> list[float]:
    """One number or a sequence of them -> a list of finite Python floats.

    >>> float_list("rate", [1, 2.5], positive=True)
    [1.0, 2.5]
    """
    return [as_float(name, x, positive=positive, hint=hint) for x in _items(name, value, "a number")]
