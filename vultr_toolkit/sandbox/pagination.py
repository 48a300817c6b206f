"""Cursor pagination as the Vultr v2 API does it (pure functions; the routes call :func:`paginate`).

``per_page`` defaults to 100; values above 500 are clamped to 500 (the real API's maximum) and anything that is not
a positive integer is a 400. ``meta.total`` counts the whole list; ``meta.links.next``/``prev`` are opaque base64
cursors, ``""`` when there is no such page.

Pathological pagers for client tests (:data:`PAGINATION_BUGS`):

* ``"repeat_cursor"`` — every page after the first returns the same ``next`` cursor forever, so a client that does
  not remember cursors loops;
* ``"endless"`` — ``next`` is always a new cursor; past the end the items wrap around, so only a page cap stops it;
* ``"overlap"`` — each ``next`` cursor points 10 % of a page back, so consecutive pages repeat items (a client that
  does not deduplicate by id counts them twice);
* ``"skip"`` — each ``next`` cursor points 10 % of a page too far, so items between pages are never served (only
  ``meta.total`` shows the shortfall).

Example::

    >>> page, meta = paginate(list(range(5)), per_page=2)
    >>> page, meta["total"], decode_cursor(meta["links"]["next"])
    ([0, 1], 5, 2)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "PAGINATION_BUGS",
    "PageParamError",
    "PaginationBug",
    "decode_cursor",
    "encode_cursor",
    "paginate",
    "parse_per_page",
]

T = TypeVar("T")
PaginationBug = Literal["repeat_cursor", "endless", "overlap", "skip"]
PAGINATION_BUGS: tuple[str, ...] = ("repeat_cursor", "endless", "overlap", "skip")
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500


class PageParamError(ValueError):
    """A ``per_page`` or ``cursor`` the API would answer with 400."""


def parse_per_page(raw: str | None) -> int:
    """Validate ``per_page`` like the real API: default 100, clamp above 500, 400 for non-positive or non-integers.

    >>> parse_per_page(None), parse_per_page("20"), parse_per_page("9999")
    (100, 20, 500)
    """
    if raw is None or raw == "":
        return DEFAULT_PER_PAGE
    try:
        value = int(raw)
    except ValueError:
        raise PageParamError("Invalid per_page: must be an integer between 1 and 500.") from None
    if value < 1:
        raise PageParamError("Invalid per_page: must be an integer between 1 and 500.")
    return min(value, MAX_PER_PAGE)


def encode_cursor(offset: int, direction: str = "next") -> str:
    """An opaque cursor for the page starting at ``offset`` (base64 like the real API's ``bmV4dF9f...``)."""
    return base64.urlsafe_b64encode(f"{direction}__{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset inside a cursor made by :func:`encode_cursor`; :class:`PageParamError` for anything else.

    >>> decode_cursor(encode_cursor(42, "prev"))
    42
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, _, number = text.partition("__")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise PageParamError("Invalid cursor.") from None
    if direction not in ("next", "prev") or offset < 0:
        raise PageParamError("Invalid cursor.")
    return offset


def paginate(items: Sequence[T], per_page: int = DEFAULT_PER_PAGE, cursor: str | None = None,
             bug: str | None = None) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` and its ``meta`` object (``total`` and ``links``).

    >>> paginate([1, 2, 3], per_page=2, cursor=encode_cursor(2))[1]["links"]["next"]
    ''
    """
    total = len(items)
    offset = decode_cursor(cursor) if cursor else 0
    if bug == "endless" and total:
        # Wrap around so every page is full and every cursor is new: only a client-side page cap ends the walk.
        page = [items[(offset + k) % total] for k in range(per_page)]
        next_cursor = encode_cursor(offset + per_page)
    else:
        page = list(items[offset:offset + per_page])
        step = per_page
        if bug in ("overlap", "skip"):
            shift = max(1, per_page // 10)
            step = max(1, per_page - shift) if bug == "overlap" else per_page + shift
        next_cursor = encode_cursor(offset + step) if offset + step < total else ""
        if bug == "repeat_cursor" and total:
            # The second page's cursor, forever: a client that does not remember cursors never stops.
            next_cursor = encode_cursor(min(per_page, total - 1))
    prev_cursor = encode_cursor(max(0, offset - per_page), "prev") if offset > 0 else ""
    return page, {"total": total, "links": {"next": next_cursor, "prev": prev_cursor}}
