"""The cache's value codec: JSON with a small type registry — never pickle.

Pickle in a shared cache turns write access to the cache into code execution (Flask-Caching CVE-2021-33026,
diskcache CVE-2025-69872), so values are JSON. Types JSON lacks are written as tagged objects
``{"__vt__": <tag>, ...}`` and restored exactly:

=====================  ============================================================================
Python value            stored as
=====================  ============================================================================
str int float bool     JSON (NaN/inf allowed)
None list dict[str,…]  JSON; a dict with non-str keys (or a ``__vt__`` key) becomes tagged pairs
tuple set frozenset    tagged lists
datetime date time     ISO 8601 (timezone kept)
timedelta              days/seconds/microseconds
Decimal UUID           strings
bytes bytearray        base64
pandas Timestamp, NaT  ISO / tag; ``pd.NA`` tag
numpy scalars          the matching Python number (np.int64 -> int)
pydantic models        ``model_dump(mode="json")`` (comes back as a dict)
DataFrame / Series     per column: dtype name + values; category, datetime64[unit, tz], timedelta64,
                       nullable Int64/Float64/boolean, str and object columns round-trip with dtypes
=====================  ============================================================================

Anything else is a :class:`TypeError` raised by :func:`encode` — before the cache writes anything.

Stored layout (bytes)::

    <tag header>\\n<envelope>

The header is ``""`` for untagged entries or a JSON array ``["tag", "version", ...]`` that the server-side Lua
checks against the live tag versions (a stale version reads as a miss). The envelope is
``{"v": 1, "exp": <epoch s or null>, "dl": <compute seconds or null>, "d": <value>}``; ``exp``/``dl`` drive
XFetch early refresh. JSON never emits a raw newline, so the first ``\\n`` always ends the header.

Example::

    >>> body = encode_entry({"a": Decimal("1.5")}, exp=None, delta=None)
    >>> decode_entry(b"\\n" + body).value   # empty tag header, then the envelope
    {'a': Decimal('1.5')}
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any, NamedTuple

__all__ = ["ENVELOPE_VERSION", "Entry", "InvalidEntry", "decode_entry", "encode_entry", "encode_value"]

ENVELOPE_VERSION = 1
_TAG = "__vt__"


class InvalidEntry(ValueError):
    """Stored bytes that are not a valid envelope (foreign, corrupted, pickled or from a future version)."""


class Entry(NamedTuple):
    """A decoded cache entry: the value plus what XFetch needs (absolute expiry, last compute time)."""

    value: Any
    exp: float | None
    delta: float | None


# ---- encoding ----------------------------------------------------------------------------------------------------


def _unsupported(obj: Any, where: str = "") -> TypeError:
    return TypeError(
        f"vultr_toolkit.Cache cannot serialise {type(obj).__module__}.{type(obj).__qualname__}{where}: values are "
        "JSON (plus datetime, Decimal, UUID, bytes, tuples, sets, pandas DataFrames/Series) — never pickle. "
        "Convert it first, e.g. to a dict."
    )


def _enc(obj: Any) -> Any:
    # Fast path first: the common JSON scalars.
    t = type(obj)
    if t is str or t is int or t is float or t is bool or obj is None:
        return obj
    if t is list:
        return [_enc(v) for v in obj]
    if t is dict:
        if all(type(k) is str for k in obj) and _TAG not in obj:
            return {k: _enc(v) for k, v in obj.items()}
        return {_TAG: "dict", "v": [[_enc(k), _enc(v)] for k, v in obj.items()]}
    # Subclasses (IntEnum, StrEnum, numpy-free int-likes): stored as the plain base type, documented above.
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if t is tuple:
        return {_TAG: "tuple", "v": [_enc(v) for v in obj]}
    if t is set or t is frozenset:
        return {_TAG: t.__name__, "v": [_enc(v) for v in obj]}
    if t is Decimal:
        return {_TAG: "dec", "v": str(obj)}
    if t is uuid.UUID:
        return {_TAG: "uuid", "v": str(obj)}
    if t is bytes or t is bytearray:
        return {_TAG: t.__name__, "v": base64.b64encode(obj).decode("ascii")}
    if t is dt.timedelta:
        return {_TAG: "td", "v": [obj.days, obj.seconds, obj.microseconds]}
    mod = t.__module__
    if mod.startswith("pandas"):
        return _enc_pandas(obj)
    if mod == "numpy":
        return _enc_numpy_scalar(obj)
    if t is dt.datetime:
        return {_TAG: "dt", "v": obj.isoformat()}
    if t is dt.date:
        return {_TAG: "date", "v": obj.isoformat()}
    if t is dt.time:
        return {_TAG: "time", "v": obj.isoformat()}
    if hasattr(obj, "model_dump") and callable(obj.model_dump):  # pydantic v2 models
        return _enc(obj.model_dump(mode="json"))
    raise _unsupported(obj)


def _enc_numpy_scalar(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.str_):
        return str(obj)
    raise _unsupported(obj)


def _enc_pandas(obj: Any) -> Any:
    import pandas as pd

    if obj is pd.NaT:
        return {_TAG: "nat"}
    if obj is pd.NA:
        return {_TAG: "na"}
    if isinstance(obj, pd.Timestamp):
        return {_TAG: "ts", "v": obj.isoformat(), "unit": obj.unit}
    if isinstance(obj, pd.Timedelta):
        return {_TAG: "ptd", "ns": int(obj.value), "unit": obj.unit}  # .value is always nanoseconds
    if isinstance(obj, pd.DataFrame):
        if isinstance(obj.columns, pd.MultiIndex):
            raise _unsupported(obj, " with MultiIndex columns")
        if not obj.columns.is_unique:
            raise _unsupported(obj, " with duplicate column names")
        return {
            _TAG: "df",
            "columns": _enc_index(obj.columns),
            "cols": [_enc_column(obj.iloc[:, i], repr(c)) for i, c in enumerate(obj.columns)],
            "index": _enc_index(obj.index),
        }
    if isinstance(obj, pd.Series):
        return {_TAG: "series", "name": _enc(obj.name), "col": _enc_column(obj, "series"),
                "index": _enc_index(obj.index)}
    raise _unsupported(obj)


def _enc_index(index: Any) -> Any:
    import pandas as pd

    if isinstance(index, pd.MultiIndex):
        raise _unsupported(index, " (MultiIndex)")
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": _enc(index.name)}
    return {"col": _enc_column(pd.Series(index), "index"), "name": _enc(index.name)}


def _enc_column(s: Any, label: str) -> dict[str, Any]:
    """One column as ``{"dtype": str, "v": [...]}`` (+ categories); dtype-specific so it restores exactly."""
    import pandas as pd

    dtype = s.dtype
    name = str(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "dtype": "category",
            "cats": _enc_column(pd.Series(dtype.categories), label)["v"],
            "cats_dtype": str(dtype.categories.dtype),
            "ordered": bool(dtype.ordered),
            "v": s.cat.codes.tolist(),
        }
    kind = getattr(dtype, "kind", "O")
    if kind in "mM":  # datetime64 / timedelta64, naive or tz-aware: exact integers in the dtype's unit
        ints = s.array.asi8.tolist()
        mask = s.isna().tolist()
        return {"dtype": name, "v": [None if m else i for i, m in zip(ints, mask, strict=True)]}
    if kind in "biuf" or name in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
                                  "Float32", "Float64", "boolean"):
        values = s.tolist()
        if name[0].isupper() or name == "boolean":  # nullable extension dtypes: pd.NA -> null
            values = [None if v is pd.NA else v for v in values]
        return {"dtype": name, "v": values}
    if isinstance(dtype, pd.StringDtype):
        return {"dtype": name, "v": [None if isinstance(v, float) or v is pd.NA else v for v in s.tolist()]}
    if name == "object":
        return {"dtype": "object", "v": [_enc(v) for v in s.tolist()]}
    raise TypeError(f"vultr_toolkit.Cache cannot serialise a pandas column {label} of dtype {name!r}")


def encode_value(value: Any) -> Any:
    """The JSON-ready form of ``value`` (raises :class:`TypeError` for anything the codec cannot restore)."""
    return _enc(value)


def encode_entry(value: Any, *, exp: float | None, delta: float | None) -> bytes:
    """Serialise ``value`` into an envelope body (without the tag header). Raises :class:`TypeError` early."""
    body = {"v": ENVELOPE_VERSION, "exp": exp, "dl": delta, "d": _enc(value)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---- decoding ----------------------------------------------------------------------------------------------------


def _hook(d: dict[str, Any]) -> Any:
    tag = d.get(_TAG)
    if tag is None:
        return d
    v: Any = d.get("v")
    if tag == "dt":
        return dt.datetime.fromisoformat(v)
    if tag == "dec":
        return Decimal(v)
    if tag == "uuid":
        return uuid.UUID(v)
    if tag == "tuple":
        return tuple(v)
    if tag == "set":
        return set(v)
    if tag == "frozenset":
        return frozenset(v)
    if tag == "bytes":
        return base64.b64decode(v)
    if tag == "bytearray":
        return bytearray(base64.b64decode(v))
    if tag == "dict":  # tuple keys were decoded to tuples already (the hook runs inside-out), so they hash
        return {k: val for k, val in v}
    if tag == "date":
        return dt.date.fromisoformat(v)
    if tag == "time":
        return dt.time.fromisoformat(v)
    if tag == "td":
        return dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2])
    return _dec_pandas(tag, d)


def _dec_pandas(tag: str, d: dict[str, Any]) -> Any:
    import pandas as pd

    if tag == "nat":
        return pd.NaT
    if tag == "na":
        return pd.NA
    if tag == "ts":
        return pd.Timestamp(d["v"]).as_unit(d["unit"])
    if tag == "ptd":
        # Only an integer count of nanoseconds is ours; pandas would parse a string ("1 day") with a warning.
        if not isinstance(d["ns"], int) or isinstance(d["ns"], bool):
            raise InvalidEntry("a Timedelta entry must hold an integer 'ns'")
        return pd.Timedelta(d["ns"], unit="ns").as_unit(d["unit"])
    if tag == "df":
        index = _dec_index(d["index"])
        frame = pd.DataFrame({i: _dec_column(c, index) for i, c in enumerate(d["cols"])}, index=index)
        frame.columns = _dec_index(d["columns"])
        return frame
    if tag == "series":
        return _dec_column(d["col"], _dec_index(d["index"])).rename(d["name"])
    raise InvalidEntry(f"unknown type tag {tag!r}")


def _dec_index(spec: dict[str, Any]) -> Any:
    import pandas as pd

    if "range" in spec:
        start, stop, step = spec["range"]
        return pd.RangeIndex(start, stop, step, name=spec["name"])
    return pd.Index(_dec_column(spec["col"], None), name=spec["name"])


def _dec_column(spec: dict[str, Any], index: Any) -> Any:
    import numpy as np
    import pandas as pd

    dtype_name: str = spec["dtype"]
    values = spec["v"]
    n = len(values)
    idx = index if index is not None else pd.RangeIndex(n)
    if dtype_name == "category":
        cats = pd.Index(_dec_column({"dtype": spec["cats_dtype"], "v": spec["cats"]}, None))
        cat_dtype = pd.CategoricalDtype(cats, ordered=spec["ordered"])
        codes = np.asarray(values, dtype="int64") if n else np.empty(0, dtype="int64")
        return pd.Series(pd.Categorical.from_codes(codes, dtype=cat_dtype), index=idx)
    dtype = pd.api.types.pandas_dtype(dtype_name)
    kind = getattr(dtype, "kind", "O")
    if kind in "mM":
        nat = np.iinfo("int64").min  # NaT's integer form
        ints = np.asarray([nat if v is None else v for v in values], dtype="int64")
        unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(str(dtype))[0]
        if kind == "m":
            return pd.Series(ints.view(f"m8[{unit}]"), index=idx)
        naive = pd.Series(ints.view(f"M8[{unit}]"), index=idx)
        if isinstance(dtype, pd.DatetimeTZDtype):
            return naive.dt.tz_localize("UTC").dt.tz_convert(dtype.tz)
        return naive
    if dtype_name == "object":
        out = np.empty(n, dtype=object)
        for i, v in enumerate(values):  # element-wise: a slice assignment would broadcast nested lists
            out[i] = v
        return pd.Series(out, index=idx, dtype=object)
    if isinstance(dtype, pd.StringDtype):
        return pd.Series(values, index=idx, dtype=dtype)
    if isinstance(dtype, np.dtype) and kind in "biuf":
        return pd.Series(np.asarray(values, dtype=dtype) if n else np.empty(0, dtype=dtype), index=idx)
    return pd.Series(pd.array(values, dtype=dtype), index=idx)


def decode_entry(raw: bytes) -> Entry:
    """Parse stored bytes (header + envelope). Raises :class:`InvalidEntry` for anything that isn't ours."""
    try:
        nl = raw.index(b"\n")
        payload = raw[nl + 1 :]
        # Hot path: most values carry no tagged types; skipping the per-dict hook halves decode time.
        body = json.loads(payload, object_hook=_hook) if b'"__vt__"' in payload else json.loads(payload)
    except InvalidEntry:
        raise
    except Exception as exc:  # ValueError, UnicodeDecodeError, KeyError in a hook, ...: all mean "not ours"
        raise InvalidEntry(f"not a vultr_toolkit cache entry ({type(exc).__name__})") from None
    if type(body) is not dict or body.get("v") != ENVELOPE_VERSION or "d" not in body:
        raise InvalidEntry("not a vultr_toolkit cache envelope (or a different version)")
    exp, delta = body.get("exp"), body.get("dl")
    if (exp is not None and type(exp) not in _NUMBERS) or (delta is not None and type(delta) not in _NUMBERS):
        raise InvalidEntry("malformed envelope metadata")
    if exp is not None and math.isnan(exp):
        exp = None
    return Entry(body["d"], exp, delta)


_NUMBERS = (int, float)
