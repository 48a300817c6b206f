"""The pure cursor pager: per_page rules, cursors, and the two pathological modes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vultr_toolkit.sandbox.pagination import PageParamError, decode_cursor, encode_cursor, paginate, parse_per_page


@pytest.mark.parametrize(("raw", "expected"), [(None, 100), ("", 100), ("1", 1), ("500", 500), ("501", 500),
                                               ("100000", 500)])
def test_per_page_default_and_clamp(raw: str | None, expected: int) -> None:
    assert parse_per_page(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "2.5"])
def test_invalid_per_page_is_an_error(raw: str) -> None:
    with pytest.raises(PageParamError):
        parse_per_page(raw)


@pytest.mark.parametrize("cursor", ["!!!", "bm9wZQ", encode_cursor(-1)])
def test_invalid_cursor_is_an_error(cursor: str) -> None:
    with pytest.raises(PageParamError):
        decode_cursor(cursor)


def test_walk_yields_each_item_once_and_ends_with_empty_next() -> None:
    items = list(range(23))
    seen, cursor, pages = [], None, 0
    while True:
        page, meta = paginate(items, 5, cursor)
        pages += 1
        assert meta["total"] == 23
        seen += page
        cursor = meta["links"]["next"]
        if not cursor:
            break
    assert seen == items and pages == 5
    assert paginate(items, 5)[1]["links"]["prev"] == ""
    assert decode_cursor(paginate(items, 5, encode_cursor(10))[1]["links"]["prev"]) == 5


def test_repeat_cursor_bug_repeats_the_next_cursor() -> None:
    items = list(range(20))
    _, m1 = paginate(items, 5, None, "repeat_cursor")
    _, m2 = paginate(items, 5, m1["links"]["next"], "repeat_cursor")
    _, m3 = paginate(items, 5, m2["links"]["next"], "repeat_cursor")
    assert m1["links"]["next"] == m2["links"]["next"] == m3["links"]["next"] != ""


def test_endless_bug_always_gives_a_new_cursor_and_full_pages() -> None:
    items = list(range(7))
    cursors, cursor = set(), None
    for _ in range(50):
        page, meta = paginate(items, 5, cursor, "endless")
        assert len(page) == 5
        cursor = meta["links"]["next"]
        assert cursor and cursor not in cursors
        cursors.add(cursor)


@given(total=st.integers(0, 400), per_page=st.integers(1, 120))
def test_any_walk_yields_each_item_exactly_once(total: int, per_page: int) -> None:
    items = list(range(total))
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(total // per_page + 2):
        page, meta = paginate(items, per_page, cursor)
        assert meta["total"] == total and len(page) <= per_page
        seen += page
        cursor = meta["links"]["next"] or None
        if cursor is None:
            break
    assert seen == items and cursor is None
