"""The Vultr v2 management API: ``get``, ``post`` and a cursor pager, sync and async.

Reached as ``client.management`` on :class:`vultr_toolkit.Client` (and ``AsyncClient``). Requests go through the
resilient core in :mod:`vultr_toolkit._http` (rate limit, retries, typed errors).

Pagination: send ``per_page`` (max 500) and follow ``meta.links.next`` — an opaque cursor, ``""`` on the last
page. The pager stops when

* ``next`` is empty (the normal end),
* ``meta`` or ``meta.links`` is missing — list routes without paging such as ``/databases`` return everything
  with ``meta.total`` only,
* a page is empty although ``next`` is set,
* ``next`` repeats a cursor already followed (a server bug that would loop forever),
* the page cap is reached. The default cap is twice the pages that the first page's ``meta.total`` implies plus
  5, or 1000 pages when there is no total.

Items are deduplicated by ``id`` (cursors that overlap would otherwise count resources — and their cost —
twice), and the distinct count is checked against the server's ``meta.total``. A list that ends short of its
total, or on a guard without a total to prove it whole, is never returned as if it were complete:
``paginate()`` raises :class:`~vultr_toolkit.IncompleteListError` (carrying the items it did read), so an
inventory snapshot records it in ``.errors``. Pass ``allow_partial=True`` to get the partial list with a
:class:`PaginationWarning` instead.

The pager is a pure state machine (:class:`Pager`) with two thin drivers, so sync and async share one logic.

Example::

    client = vt.Client(sb.settings())
    account = client.management.get("/account")["account"]
    instances = client.management.paginate("/instances", "instances")      # list[dict]
    for inst in client.management.iter_items("/instances", "instances"):   # lazily, page by page
        ...
"""

from __future__ import annotations

import math
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from .._errors import ConfigError, IncompleteListError, MissingKeyError
from .._http import AsyncHTTPCore, HTTPCore

__all__ = ["DEFAULT_PER_PAGE", "AsyncManagementAPI", "ManagementAPI", "Pager", "PaginationWarning"]

DEFAULT_PER_PAGE = 500  # the API's maximum: fewest requests
_NO_TOTAL_MAX_PAGES = 1000


class PaginationWarning(UserWarning):
    """The server's pagination misbehaved: a partial list returned under ``allow_partial=True``, or repeated
    items that were dropped."""


class Pager:
    """The pagination state machine: which query to send next and what a page body means.

    Drive it with ``while (params := pager.next_params()) is not None: items = pager.feed(get(params))``.
    After it is done, ``stop_reason`` says why (``last_page``, ``unpaged``, ``no_meta``, ``empty_page``,
    ``repeated_cursor``, ``page_cap``) and ``complete`` whether the list is known to be whole: no fewer distinct
    items than ``meta.total``, and — when the server sent no total — no guard tripped. ``feed`` returns only
    items whose ``id`` it has not seen before (``duplicates`` counts the others); :meth:`check` raises
    :class:`~vultr_toolkit.IncompleteListError` for a list that is not complete.

    >>> p = Pager("/databases", "databases")
    >>> p.next_params()
    {'per_page': 500}
    >>> p.feed({"databases": [{"id": "a"}], "meta": {"total": 1}})
    [{'id': 'a'}]
    >>> p.next_params() is None, p.stop_reason
    (True, 'unpaged')
    """

    def __init__(
        self,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int | None = DEFAULT_PER_PAGE,
        max_pages: int | None = None,
    ) -> None:
        if per_page is not None and not 1 <= per_page <= 500:
            raise ConfigError(f"per_page must be between 1 and 500 (the Vultr API maximum), got {per_page}")
        if max_pages is not None and max_pages < 1:
            raise ConfigError(f"max_pages must be >= 1, got {max_pages}")
        self.path = path
        self.key = key
        self.params = dict(params or {})
        self.per_page = per_page
        self.max_pages = max_pages
        self.pages = 0
        self.items = 0  # distinct items returned by feed()
        self.duplicates = 0  # items dropped because their id was already returned
        self.total: int | None = None
        self.stop_reason: str | None = None
        self._cursor: str | None = None
        self._seen: set[str] = set()
        self._ids: set[Any] = set()

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def complete(self) -> bool:
        """True when the list is known to be whole: the walk ended and no distinct item is missing from the
        server's ``meta.total`` (without a total: it ended normally, not on a guard)."""
        if not self.done:
            return False
        if self.total is not None:
            return self.items >= self.total
        return self.stop_reason in ("last_page", "unpaged", "no_meta")

    def shortfall(self) -> str | None:
        """Why the list is not complete, in words (None when it is).

        >>> p = Pager("/instances", "instances", per_page=2)
        >>> p.feed({"instances": [{"id": 1}, {"id": 2}], "meta": {"total": 5, "links": {"next": ""}}})
        [{'id': 1}, {'id': 2}]
        >>> p.shortfall()
        'got 2 of 5 items (meta.total) after 1 page(s), stopped on last_page'
        """
        if self.complete:
            return None
        if not self.done:
            return f"the walk has not ended ({self.items} items so far)"
        got = f"got {self.items} of {self.total} items (meta.total)" if self.total is not None else \
            f"got {self.items} items and the server sent no meta.total to check them against"
        dup = f", {self.duplicates} repeated item(s) dropped" if self.duplicates else ""
        return f"{got} after {self.pages} page(s){dup}, stopped on {self.stop_reason}"

    def check(self, *, allow_partial: bool = False, items: list[dict[str, Any]] | None = None) -> None:
        """After the walk: raise :class:`~vultr_toolkit.IncompleteListError` if the list is not complete (or only
        warn with ``allow_partial=True``); warn when repeated items were dropped from a complete list."""
        why = self.shortfall()
        if why is None:
            if self.duplicates:
                warnings.warn(f"GET {self.path}: the server repeated {self.duplicates} item(s) across pages "
                              "(overlapping cursors); each id is kept once", PaginationWarning, stacklevel=3)
            return
        if allow_partial:
            warnings.warn(f"GET {self.path}: the list is incomplete: {why}", PaginationWarning, stacklevel=3)
            return
        hint = " — pass a larger max_pages if the list really is that long" if self.stop_reason == "page_cap" else ""
        raise IncompleteListError(
            f"GET {self.path}: the list is incomplete: {why}{hint}; retry later, or pass allow_partial=True to "
            "accept a partial list", received=self.items, total=self.total, reason=self.stop_reason,
            items=items, method="GET", path=self.path)

    def next_params(self) -> dict[str, Any] | None:
        """The query parameters of the next request, or None when the walk is over."""
        if self.done:
            return None
        out = dict(self.params)
        if self.per_page is not None:
            out["per_page"] = self.per_page
        if self._cursor:
            out["cursor"] = self._cursor
        return out

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason

    def _cap(self) -> int:
        if self.max_pages is not None:
            return self.max_pages
        if self.total is not None and self.per_page:
            return 2 * max(1, math.ceil(self.total / self.per_page)) + 5
        return _NO_TOTAL_MAX_PAGES

    def feed(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Consume one page body; return its items and decide whether and where to continue."""
        if self.done:
            raise RuntimeError("Pager.feed() called after the walk ended")
        items = body.get(self.key)
        if not isinstance(items, list):
            found = ", ".join(sorted(map(str, body))) or "nothing"
            raise MissingKeyError(f"GET {self.path}: the response has no list under {self.key!r} (found: {found}); "
                                  "check the resource key", key=self.key, method="GET", path=self.path)
        self.pages += 1
        raw = len(items)
        items = self._distinct(items)
        meta = body.get("meta")
        if not isinstance(meta, Mapping):
            self._stop("no_meta")
            return items
        if isinstance(meta.get("total"), int):
            self.total = meta["total"]
        links = meta.get("links")
        if not isinstance(links, Mapping):
            self._stop("unpaged")
            return items
        nxt = links.get("next") or ""
        if not isinstance(nxt, str) or not nxt:
            self._stop("last_page")
        elif not raw:
            self._stop("empty_page")  # next set on an empty page: following it may never end
        elif nxt in self._seen:
            self._stop("repeated_cursor")  # a server bug that would loop forever
        elif self.pages >= self._cap():
            self._stop("page_cap")
        else:
            self._seen.add(nxt)
            self._cursor = nxt
        return items

    def _distinct(self, items: list[Any]) -> list[Any]:
        """The items whose ``id`` was not returned before (items without an id are all kept)."""
        out = []
        for item in items:
            key = item.get("id") if isinstance(item, Mapping) else None
            if key is not None and not isinstance(key, dict | list):
                if key in self._ids:
                    self.duplicates += 1
                    continue
                self._ids.add(key)
            out.append(item)
        self.items += len(out)
        return out


class ManagementAPI:
    """Sync Vultr v2 client: ``client.management``.

    >>> client.management.get("/account")["account"]["email"]
    'ops+0@example.com'
    """

    def __init__(self, core: HTTPCore) -> None:
        self._core = core

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET path`` → the decoded JSON object (typed errors, retries, rate limit)."""
        return self._core.request_json("GET", path, params=params)

    def post(self, path: str, json: Any = None, *, idempotent: bool = False) -> dict[str, Any]:
        """``POST path`` with a JSON body. Not retried after the request may have been processed unless
        ``idempotent=True`` — set it for read-only POSTs such as ``/databases/{id}/alerts``.

        >>> db = client.inventory.databases(engine="pg")["id"].iloc[0]
        >>> client.management.post(f"/databases/{db}/alerts", {"period": "week"}, idempotent=True)
        {'alerts': [...]}
        """
        return self._core.request_json("POST", path, json=json, idempotent=idempotent)

    def iter_items(self, path: str, key: str, params: Mapping[str, Any] | None = None, *,
                   per_page: int | None = DEFAULT_PER_PAGE, max_pages: int | None = None,
                   allow_partial: bool = False) -> Iterator[dict[str, Any]]:
        """Every distinct item of a (possibly paged) list route, fetched page by page as you iterate; raises
        :class:`~vultr_toolkit.IncompleteListError` at the end if the list came out short (see the module doc).

        >>> next(client.management.iter_items("/regions", "regions"))["id"]
        'ewr'
        """
        pager = Pager(path, key, params, per_page=per_page, max_pages=max_pages)
        while (query := pager.next_params()) is not None:
            yield from pager.feed(self._core.request_json("GET", path, params=query))
        pager.check(allow_partial=allow_partial)

    def paginate(self, path: str, key: str, params: Mapping[str, Any] | None = None, *,
                 per_page: int | None = DEFAULT_PER_PAGE, max_pages: int | None = None,
                 allow_partial: bool = False) -> list[dict[str, Any]]:
        """Every distinct item of a list route as one list (``per_page=500``: the fewest requests).

        A list that ends short of the server's ``meta.total`` raises :class:`~vultr_toolkit.IncompleteListError`
        (its ``.items`` holds what was read); ``allow_partial=True`` returns it with a :class:`PaginationWarning`.

        >>> len(client.management.paginate("/instances", "instances"))
        25
        """
        pager = Pager(path, key, params, per_page=per_page, max_pages=max_pages)
        out: list[dict[str, Any]] = []
        while (query := pager.next_params()) is not None:
            out += pager.feed(self._core.request_json("GET", path, params=query))
        pager.check(allow_partial=allow_partial, items=out)
        return out

    def __repr__(self) -> str:
        return f"ManagementAPI({self._core.base_url!r})"


class AsyncManagementAPI:
    """Async Vultr v2 client: ``async_client.management`` (the same methods, awaited).

    >>> import asyncio
    >>> async def main():
    ...     async with vt.AsyncClient(sb.settings()) as aclient:
    ...         return await aclient.management.paginate("/instances", "instances")
    >>> len(asyncio.run(main()))
    25
    """

    def __init__(self, core: AsyncHTTPCore) -> None:
        self._core = core

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET path`` → the decoded JSON object."""
        return await self._core.request_json("GET", path, params=params)

    async def post(self, path: str, json: Any = None, *, idempotent: bool = False) -> dict[str, Any]:
        """``POST path``; see :meth:`ManagementAPI.post` for ``idempotent``."""
        return await self._core.request_json("POST", path, json=json, idempotent=idempotent)

    async def iter_items(self, path: str, key: str, params: Mapping[str, Any] | None = None, *,
                         per_page: int | None = DEFAULT_PER_PAGE, max_pages: int | None = None,
                         allow_partial: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Every distinct item of a list route, fetched page by page (``async for``); see
        :meth:`ManagementAPI.iter_items`."""
        pager = Pager(path, key, params, per_page=per_page, max_pages=max_pages)
        while (query := pager.next_params()) is not None:
            for item in pager.feed(await self._core.request_json("GET", path, params=query)):
                yield item
        pager.check(allow_partial=allow_partial)

    async def paginate(self, path: str, key: str, params: Mapping[str, Any] | None = None, *,
                       per_page: int | None = DEFAULT_PER_PAGE, max_pages: int | None = None,
                       allow_partial: bool = False) -> list[dict[str, Any]]:
        """Every distinct item of a list route as one list; see :meth:`ManagementAPI.paginate`."""
        pager = Pager(path, key, params, per_page=per_page, max_pages=max_pages)
        out: list[dict[str, Any]] = []
        while (query := pager.next_params()) is not None:
            out += pager.feed(await self._core.request_json("GET", path, params=query))
        pager.check(allow_partial=allow_partial, items=out)
        return out

    def __repr__(self) -> str:
        return f"AsyncManagementAPI({self._core.base_url!r})"
