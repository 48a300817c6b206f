"""Fuzz Settings parsing (env values) and the cache envelope decoder.

Settings: any string in any ``VULTR_*`` variable gives a Settings or a :class:`ConfigError` that names the
variable and never echoes a secret value. Cache: any stored bytes decode to an :class:`Entry` or raise
:class:`InvalidEntry` (a miss for the cache) — never another exception, never a hang.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vultr_toolkit._cache_codec import Entry, InvalidEntry, decode_entry, encode_entry
from vultr_toolkit._errors import ConfigError
from vultr_toolkit._ratelimit import RateLimiter
from vultr_toolkit._settings import Settings

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ENV = [*Settings.ENV_NAMES.values(), "VULTR_MANAGEMENT_API_KEY"]

env_text = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=40),
    st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e400", "20", " 20 ", "true", "http://", "https://h",
                     "ftp://x", "redis://:pwCANARYpw@127.0.0.1:1/0", "postgresql://u:pwCANARYpw@h/db",
                     "postgres://", "sqlite:///x.db", "unix:///tmp/s", "rediss://h", "valkey://", "http://[::1",
                     "https://h:99999/v2", "http://h:-1"]),
    # canary-marked values: wherever they land (a key, a URL, a number field), they must never be echoed
    st.text(max_size=8).map(lambda t: "keyCANARY" + t.replace("\x00", "")),
    st.text(max_size=8).map(lambda t: "postgresql://u:pwCANARY" + t.replace("\x00", "") + "@h/db"),
)


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    try:
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@FUZZ
@given(values=st.dictionaries(st.sampled_from(ENV), env_text, min_size=1, max_size=4))
@example(values={"VULTR_API_URL": "http://[::1"})
@example(values={"VULTR_API_URL": "https://h:99999/v2"})
@example(values={"VULTR_TOOLKIT_RATE_LIMIT": "nan"})
@example(values={"VULTR_TOOLKIT_RATE_LIMIT": "inf", "VULTR_TOOLKIT_TIMEOUT": "1e308"})
@example(values={"VULTR_TOOLKIT_RATE_LIMIT": "1e308", "VULTR_TOOLKIT_RATE_BURST": "1000000000000"})
def test_any_env_value_gives_settings_or_a_config_error(values: dict[str, str]) -> None:
    with _env(values):
        try:
            s = Settings(_env_file=None)
        except ConfigError as e:
            msg = str(e)
            assert any(var in msg for var in values) or "VULTR" in msg
            assert "CANARY" not in msg, "a value leaked into the error message"
            return
    # Accepted: every numeric limit is usable, URLs are http(s), secrets are hidden in the repr.
    assert s.rate_limit > 0 and s.timeout_s > 0 and s.rate_burst >= 1
    # Accepted numbers must be usable: the limiter built from them hands out finite waits (inf used to pass here
    # and overflow on the first request).
    limiter = RateLimiter(rate=s.rate_limit, burst=s.rate_burst)
    waits = [limiter.reserve() for _ in range(3)]
    assert all(math.isfinite(w) and w >= 0 for w in waits)
    assert math.isfinite(s.timeout_s)
    assert s.api_url.lower().startswith(("http://", "https://"))
    text = repr(s)
    if not any("CANARY" in v for k, v in values.items() if k in ("VULTR_API_URL", "VULTR_INFERENCE_URL")):
        assert "CANARY" not in text  # secrets show as fingerprints / redacted URLs only


# ---- cache envelope ------------------------------------------------------------------------------------------

tags = st.sampled_from(["dt", "dec", "uuid", "tuple", "set", "frozenset", "bytes", "bytearray", "dict", "date",
                        "time", "td", "nat", "na", "ts", "ptd", "df", "series", "nope", ""])
small = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=6),
                  st.sampled_from(["2020-01-01", "1.5", "x", "ms", "int64", "Int64", "category", "object",
                                   "datetime64[us, UTC]", "str", "float64", "boolean", "UTC"]))
tagged = st.recursive(small, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.fixed_dictionaries({"__vt__": tags}, optional={
        "v": inner, "unit": inner, "ns": inner, "cols": st.lists(inner, max_size=2), "index": inner,
        "columns": inner, "col": inner, "name": inner, "dtype": inner, "range": st.lists(st.integers(-3, 3),
                                                                                          max_size=3),
        "cats": inner, "cats_dtype": inner, "ordered": inner}),
    st.dictionaries(st.sampled_from(["dtype", "v", "range", "name", "col", "cats", "cats_dtype", "ordered"]),
                    inner, max_size=4),
), max_leaves=12)


@FUZZ
@given(raw=st.binary(max_size=200))
@example(raw=b"")
@example(raw=b"\n")
@example(raw=b"\n" + b"[" * 100_000)
@example(raw=b'\n{"v":1,"d":1,"exp":NaN}')
def test_any_bytes_decode_or_raise_invalid_entry(raw: bytes) -> None:
    try:
        entry = decode_entry(raw)
    except InvalidEntry:
        return
    assert isinstance(entry, Entry)


@FUZZ
@given(d=tagged, exp=st.one_of(st.none(), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)),
       header=st.sampled_from([b"", b'["t","1"]', b"garbage"]))
def test_tagged_envelopes_decode_or_raise_invalid_entry(d: Any, exp: Any, header: bytes) -> None:
    body = json.dumps({"v": 1, "exp": exp, "dl": None, "d": d}).encode()
    try:
        entry = decode_entry(header + b"\n" + body)
    except InvalidEntry:
        return
    assert isinstance(entry, Entry)
    assert entry.exp is None or type(entry.exp) in (int, float)


json_roundtrip = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(), inner, max_size=3),
                            st.tuples(inner, inner)), max_leaves=8)


@FUZZ
@given(value=json_roundtrip)
def test_encode_then_decode_is_identity(value: Any) -> None:
    entry = decode_entry(b"\n" + encode_entry(value, exp=None, delta=None))
    assert entry.value == value
