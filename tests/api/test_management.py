"""client.management over real HTTP: pagination, its guards, unpaged routes, sync and async drivers."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest

import vultr_toolkit as vt
from vultr_toolkit.api.management import PaginationWarning
from vultr_toolkit.sandbox import Sandbox


def list_requests(sb: Sandbox, path: str) -> list[str]:
    log = sb.requests_log()
    return log.loc[log["path"] == "/v2" + path, "query"].tolist()


def test_ten_thousand_instances_each_once_with_the_fewest_requests(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(fleet={"instances": 10_000})
    with vt.Client(sb.settings()) as c:
        items = c.management.paginate("/instances", "instances")
    ids = [i["id"] for i in items]
    assert len(ids) == 10_000 and len(set(ids)) == 10_000
    assert set(ids) == {i["id"] for i in sb.fleet["instances"]}
    queries = list_requests(sb, "/instances")
    assert len(queries) == math.ceil(10_000 / 500)  # per_page=500: 20 requests, no extra probe
    assert all("per_page=500" in q for q in queries)
    assert sum("cursor=" in q for q in queries) == len(queries) - 1


def test_async_paginate_matches_sync(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(fleet={"instances": 1234})

    async def main() -> list[str]:
        async with vt.AsyncClient(sb.settings()) as c:
            first = [i["id"] async for i in c.management.iter_items("/instances", "instances", per_page=100)]
            again = await c.management.paginate("/instances", "instances", per_page=100)
            assert [i["id"] for i in again] == first
            return first

    ids = asyncio.run(main())
    with vt.Client(sb.settings()) as c:
        assert [i["id"] for i in c.management.paginate("/instances", "instances", per_page=100)] == ids
    assert len(ids) == len(set(ids)) == 1234


def test_iter_items_is_lazy(sandbox: Sandbox) -> None:
    with vt.Client(sandbox.settings()) as c:
        it = c.management.iter_items("/instances", "instances", per_page=2)
        assert list_requests(sandbox, "/instances") == []
        next(it)
        next(it)
        assert len(list_requests(sandbox, "/instances")) == 1


def test_databases_are_returned_without_paging(sandbox: Sandbox) -> None:
    with vt.Client(sandbox.settings()) as c:
        dbs = c.management.paginate("/databases", "databases")
    assert len(dbs) == len(sandbox.fleet["databases"]) > 0
    assert len(list_requests(sandbox, "/databases")) == 1


def test_repeated_cursor_guard(sandbox: Sandbox) -> None:
    sandbox.set_pagination_bug("repeat_cursor")
    n = len(sandbox.fleet["instances"])
    per = max(1, n // 5)
    with vt.Client(sandbox.settings()) as c:
        with pytest.raises(vt.IncompleteListError, match=rf"got {2 * per} of {n} items.*repeated_cursor") as ei:
            c.management.paginate("/instances", "instances", per_page=per)
        # The buggy server hands out the same next cursor on every page: page 2 repeats it -> stop, not forever.
        assert len(list_requests(sandbox, "/instances")) == 2
        # Nothing read is thrown away: the error carries the distinct items, and allow_partial returns them.
        assert (ei.value.received, ei.value.total, ei.value.reason) == (2 * per, n, "repeated_cursor")
        assert len(ei.value.items) == 2 * per and ei.value.kind == "incomplete"
        with pytest.warns(PaginationWarning, match="incomplete"):
            items = c.management.paginate("/instances", "instances", per_page=per, allow_partial=True)
    assert len(items) == 2 * per


def test_page_cap_guard(sandbox: Sandbox) -> None:
    sandbox.set_pagination_bug("endless")
    with vt.Client(sandbox.settings()) as c:
        with pytest.raises(vt.IncompleteListError, match="larger max_pages"):
            c.management.paginate("/instances", "instances", per_page=5, max_pages=4)
        with pytest.warns(PaginationWarning, match="incomplete"):
            items = c.management.paginate("/instances", "instances", per_page=5, max_pages=4, allow_partial=True)
    assert len(items) == 20 and len(list_requests(sandbox, "/instances")) == 8


def test_default_page_cap_stops_an_endless_pager(sandbox: Sandbox) -> None:
    sandbox.set_pagination_bug("endless")
    total = len(sandbox.fleet["instances"])
    with vt.Client(sandbox.settings(rate_limit=1000, rate_burst=100)) as c, \
            pytest.warns(PaginationWarning, match="repeated"):
        items = c.management.paginate("/instances", "instances", per_page=total)
    assert len(list_requests(sandbox, "/instances")) == 2 * 1 + 5
    # The endless pager wraps around: every id once, and the list is whole (meta.total proves it).
    assert sorted(i["id"] for i in items) == sorted(i["id"] for i in sandbox.fleet["instances"])


def test_get_with_params_and_public_routes(sandbox: Sandbox) -> None:
    region = sandbox.fleet["instances"][0]["region"]
    with vt.Client(sandbox.settings()) as c:
        got = c.management.paginate("/instances", "instances", {"region": region})
        assert got and all(i["region"] == region for i in got)
    # Catalogue routes are public: a client without a key can read them.
    with vt.Client(api_url=sandbox.api_url, api_key=None) as anon:
        assert anon.management.paginate("/regions", "regions")


def test_wrong_key_name_is_a_clear_error(sandbox: Sandbox) -> None:
    with vt.Client(sandbox.settings()) as c, pytest.raises(vt.APIResponseError, match="found: instances, meta"):
        c.management.paginate("/instances", "instance")
