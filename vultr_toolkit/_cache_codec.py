"""The cache's value codec under its old name; it lives in :mod:`vultr_toolkit.cache._codec` now.

Kept so ``from vultr_toolkit._cache_codec import encode_entry, decode_entry`` goes on working.

>>> from vultr_toolkit._cache_codec import decode_entry, encode_entry
>>> decode_entry(b"\\n" + encode_entry({"a": (1, 2)}, exp=None, delta=None)).value
{'a': (1, 2)}
"""

from __future__ import annotations

from .cache._codec import ENVELOPE_VERSION, Entry, InvalidEntry, decode_entry, encode_entry, encode_value

__all__ = ["ENVELOPE_VERSION", "Entry", "InvalidEntry", "decode_entry", "encode_entry", "encode_value"]
