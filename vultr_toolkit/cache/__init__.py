"""``vt.Cache``: a Valkey/Redis cache helper (see :mod:`vultr_toolkit.cache.core`); a package so it can be split.

>>> from vultr_toolkit.cache import Cache
>>> Cache(namespace="doc").get_or_compute("package-doc", lambda: [1, 2], ttl=60)
[1, 2]
"""

from __future__ import annotations

# The private names are ones the tests reach for (the in-process store, the Lua scripts), re-exported explicitly.
from .core import _LUA_ACK as _LUA_ACK
from .core import _LUA_CLAIM as _LUA_CLAIM
from .core import _LUA_MGET_AND_DELETE as _LUA_MGET_AND_DELETE
from .core import _MEMORY as _MEMORY
from .core import Cache, CacheStats, Claim

__all__ = ["Cache", "CacheStats", "Claim"]
