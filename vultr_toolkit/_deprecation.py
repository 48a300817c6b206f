"""Old names kept for one release: a deprecated alias warns once per call site and then does what the new name does.

One mechanism for every rename (issue 13: one name per thing), so each alias says the same thing: what to use
instead and when the old name goes. An alias is never collected by pytest (``__test__ = False``), even when its
old name starts with ``test_`` and a test module imports it.

>>> import warnings
>>> def verify(x: int) -> int:
...     return x + 1
>>> check = renamed(verify, "check")
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     check(1), str(caught[0].message)
(2, 'check() is deprecated and will be removed in 0.3; use verify() instead')
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["REMOVED_IN", "renamed", "renamed_class"]

#: The release that drops the aliases made here.
REMOVED_IN = "0.3"

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def _message(old: str, new: str) -> str:
    return f"{old} is deprecated and will be removed in {REMOVED_IN}; use {new} instead"


def renamed(new: F, old: str) -> F:
    """A function (or method) named ``old`` that warns with :class:`DeprecationWarning` and calls ``new``."""

    @functools.wraps(new)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(_message(f"{old}()", f"{new.__name__}()"), DeprecationWarning, stacklevel=2)
        return new(*args, **kwargs)

    alias.__name__ = old
    alias.__qualname__ = new.__qualname__.rsplit(".", 1)[0] + "." + old if "." in new.__qualname__ else old
    alias.__doc__ = f"Deprecated alias of ``{new.__name__}()`` (removed in {REMOVED_IN})."
    del alias.__wrapped__  # doctest and inspect must not pick up the new name's examples twice
    alias.__test__ = False  # type: ignore[attr-defined]
    return alias  # type: ignore[return-value]


def renamed_class(new: C, old: str) -> C:
    """A subclass named ``old`` that warns when instantiated and otherwise is ``new``.

    >>> import warnings
    >>> class Emulator:
    ...     pass
    >>> API = renamed_class(Emulator, "API")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     isinstance(API(), Emulator), str(caught[0].message)
    (True, 'API is deprecated and will be removed in 0.3; use Emulator instead')
    """

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        warnings.warn(_message(old, new.__name__), DeprecationWarning, stacklevel=2)
        new.__init__(self, *args, **kwargs)  # type: ignore[misc]  # new is the base: its __init__ is the one meant

    alias = type(old, (new,), {"__init__": __init__, "__doc__": f"Deprecated alias of ``{new.__name__}``.",
                               "__module__": new.__module__, "__test__": False})
    return alias  # type: ignore[return-value]
