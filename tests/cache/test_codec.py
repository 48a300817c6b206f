"""The cache's JSON envelope codec: exact round trips, clear TypeErrors, and foreign bytes rejected."""

from __future__ import annotations

import datetime as dt
import enum
import pickle
import uuid
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vultr_toolkit._cache_codec import InvalidEntry, decode_entry, encode_entry


def roundtrip(value: Any) -> Any:
    return decode_entry(b"\n" + encode_entry(value, exp=None, delta=None)).value


SCALARS = [
    1, -(2**70), 1.5, float("inf"), "é\n\"", None, True, b"\x00\xff\n", bytearray(b"ab"),
    dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), dt.datetime(2024, 1, 2, 3, 4, 5),
    dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.date(2024, 2, 29), dt.time(23, 59, 59, 999999), dt.timedelta(days=-1, microseconds=3),
    Decimal("19.990"), Decimal("-1E+3"), uuid.UUID(int=12345), (1, (2, "x")), {1, 2}, frozenset({"a"}),
    {"__vt__": "dt", "v": "not a date"}, {1: "int key", (1, 2): "tuple key", "s": "str key"},
    pd.Timestamp("2024-01-01T00:00:00.123456789Z"), pd.Timestamp("2024-01-01").as_unit("s"), pd.Timedelta("1.5s"),
]


@pytest.mark.parametrize("value", SCALARS, ids=lambda v: type(v).__name__)
def test_scalars_round_trip_exactly(value: Any) -> None:
    got = roundtrip(value)
    assert got == value and type(got) is type(value)
    if isinstance(value, dt.datetime):
        assert got.tzinfo == value.tzinfo
    if isinstance(value, pd.Timestamp):
        assert got.unit == value.unit


def test_pandas_missing_markers_round_trip() -> None:
    assert roundtrip(pd.NaT) is pd.NaT
    assert roundtrip(pd.NA) is pd.NA
    assert np.isnan(roundtrip(float("nan")))


def test_numpy_scalars_and_enum_subclasses_become_plain_python() -> None:
    class Color(enum.IntEnum):
        RED = 1

    assert roundtrip([np.int64(3), np.float32(0.5), np.bool_(True), Color.RED]) == [3, 0.5, True, 1]
    assert [type(v) for v in roundtrip([np.int64(3), Color.RED])] == [int, int]


def _frame(n: int) -> pd.DataFrame:
    df = pd.DataFrame({
        "i": np.arange(n, dtype="int64"),
        "u8": np.arange(n, dtype="uint8"),
        "f": np.linspace(0, 1, n),
        "b": np.arange(n) % 2 == 0,
        "Int": pd.array([None if k % 3 == 0 else k for k in range(n)], dtype="Int64"),
        "Flt": pd.array([None if k % 2 else k / 2 for k in range(n)], dtype="Float64"),
        "bool_na": pd.array([None if k % 2 else True for k in range(n)], dtype="boolean"),
        "s": pd.Series([None if k % 4 == 0 else f"s{k}" for k in range(n)], dtype="str"),
        "S": pd.array([None if k % 4 == 0 else f"S{k}" for k in range(n)], dtype="string"),
        "region": pd.Categorical([["ewr", "ams", "nrt"][k % 3] for k in range(n)], categories=["nrt", "ams", "ewr"]),
        "level": pd.Categorical([["lo", "hi"][k % 2] for k in range(n)], categories=["lo", "hi"], ordered=True),
        "at": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC").as_unit("us"),
        "local_at": pd.date_range("2024-03-30", periods=n, freq="6h", tz="Europe/Amsterdam"),
        "naive": pd.date_range("2024-01-01", periods=n, freq="D").as_unit("ns"),
        "latency": pd.to_timedelta(np.arange(n), unit="ms"),
        "obj": pd.Series([{"k": [k, Decimal(k)]} for k in range(n)], dtype=object),
    })
    if n:
        df.loc[0, "at"] = pd.NaT
        df.loc[n - 1, "latency"] = pd.NaT
    return df


@pytest.mark.parametrize("n", [0, 1, 7])
def test_dataframes_round_trip_with_dtypes_for_0_1_n_rows(n: int) -> None:
    df = _frame(n)
    got = roundtrip(df)
    pd.testing.assert_frame_equal(got, df, check_exact=True)
    assert got.dtypes.to_dict() == df.dtypes.to_dict()


def test_indexes_and_series_round_trip() -> None:
    df = _frame(5)
    for frame in (df.set_index("s"), df.set_index("at"), df.set_index("region"), df.iloc[::2]):
        pd.testing.assert_frame_equal(roundtrip(frame), frame, check_exact=True)
    series = df["region"].rename("r")
    pd.testing.assert_series_equal(roundtrip(series), series)
    pd.testing.assert_frame_equal(roundtrip(pd.DataFrame()), pd.DataFrame())
    numbered = pd.DataFrame({0: [1], 1: ["x"]})
    pd.testing.assert_frame_equal(roundtrip(numbered), numbered)


@pytest.mark.parametrize("bad", [
    object(), 1 + 2j, {"nested": [lambda: 1]}, {"k": pickle},
    pd.DataFrame({"p": pd.period_range("2024", periods=2, freq="D")}),
    pd.DataFrame({"a": [1]}).set_index(pd.MultiIndex.from_tuples([(1, 2)])),
    pd.DataFrame([[1, 2]], columns=["a", "a"]),
], ids=lambda v: type(v).__name__)
def test_unserialisable_values_raise_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="cannot serialise"):
        encode_entry(bad, exp=None, delta=None)


@pytest.mark.parametrize("raw", [
    b"", b"no newline", b"\nnot json", b"\n[1, 2]", b'\n{"d": 1}', b'\n{"v": 2, "d": 1}',
    b'\n{"v": 1, "d": {"__vt__": "nope"}}', b'\n{"v": 1, "d": 1, "exp": "soon"}', pickle.dumps({"a": 1}),
    b"\n\xff\xfe",
    # A Timedelta entry whose 'ns' is text: refused, but only after pandas parsed it and warned (see below).
    b'\n{"v":1,"exp":null,"dl":null,"d":{"__vt__":"ptd","ns":"1 day","unit":"us"}}',
])
def test_foreign_bytes_are_invalid_entries(raw: bytes) -> None:
    # Refused quietly: a foreign entry must not also print a pandas UserWarning into the user's notebook.
    with warnings.catch_warnings(record=True) as caught, pytest.raises(InvalidEntry):
        warnings.simplefilter("always")
        decode_entry(raw)
    assert not caught, [str(w.message) for w in caught]


def test_envelope_carries_xfetch_metadata_and_ignores_the_tag_header() -> None:
    body = encode_entry({"x": 1}, exp=1700000000.5, delta=0.25)
    entry = decode_entry(b'["products","1732560000000000"]\n' + body)
    assert (entry.value, entry.exp, entry.delta) == ({"x": 1}, 1700000000.5, 0.25)
    assert b"\n" not in body  # the first newline always ends the header


json_leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
               | st.binary(max_size=20) | st.decimals(allow_nan=False, allow_infinity=False)
               | st.datetimes(timezones=st.just(dt.UTC)) | st.uuids())
values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    | st.tuples(inner, inner),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(values)
def test_property_any_supported_value_round_trips(value: Any) -> None:
    assert roundtrip(value) == value
