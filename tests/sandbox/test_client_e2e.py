"""A few end-to-end checks: the toolkit's own client against the sandbox (both real, over loopback)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import vultr_toolkit as vt
from vultr_toolkit.sandbox import Sandbox


def test_client_paginates_every_instance_and_lists_databases(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(fleet={"instances": 1200})
    with vt.Client(sb.settings()) as client:
        items = client.management.paginate("/instances", "instances")
        dbs = client.management.paginate("/databases", "databases")
        account = client.management.get("/account")["account"]
    assert [i["id"] for i in items] == [i["id"] for i in sb.fleet["instances"]]
    assert len(dbs) == len(sb.fleet["databases"])
    assert account == sb.fleet_data.account
    log = sb.requests_log()
    assert (log["path"] == "/v2/instances").sum() == 3  # per_page=500
    assert (log["path"] == "/v2/databases").sum() == 1


def test_client_survives_injected_faults(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(fleet={"instances": 300})
    # Seed 8 draws a 503 for the 5th request and the next one for the 15th, after the 13 this walk needs.
    sb.set_faults("/v2/instances", p503=0.1, seed=8)
    with vt.Client(sb.settings()) as client:
        items = client.management.paginate("/instances", "instances", per_page=25)
    assert len({i["id"] for i in items}) == 300
    log = sb.requests_log()
    faulted = log.index[log["fault"] == "p503"].tolist()
    assert len(faulted) == 1
    for row in faulted:  # the client retried the same page
        assert log.loc[row + 1, "query"] == log.loc[row, "query"] and log.loc[row + 1, "status"] == 200


def test_client_stops_on_a_repeated_cursor(sandbox: Sandbox) -> None:
    sandbox.set_pagination_bug("repeat_cursor")
    with vt.Client(sandbox.settings()) as client, pytest.raises(vt.IncompleteListError, match="repeated_cursor"):
        client.management.paginate("/instances", "instances", per_page=10)
    assert (sandbox.requests_log()["path"] == "/v2/instances").sum() <= 3
