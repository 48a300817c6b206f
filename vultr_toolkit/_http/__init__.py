"""The resilient HTTP layer (see :mod:`vultr_toolkit._http.core`); a package so it can be split by concept."""

from .core import *  # noqa: F403
from .core import __all__  # noqa: F401
