"""What a notebook user reaches from a client is typed (issue 13 item 7): ``client.inventory`` and
``client.inference`` are their real classes for mypy, Jedi and Jupyter's tooltips, not ``Any``.

``typing.assert_type`` is checked by mypy (part of the test command): were a property annotated ``-> Any`` again,
mypy would fail with "Expression is of type Any". At run time the objects are checked to be those classes.
"""

from __future__ import annotations

import asyncio
from typing import assert_type

import pandas as pd

import vultr_toolkit as vt
from vultr_toolkit.api.inference import AsyncInferenceAPI, InferenceAPI
from vultr_toolkit.api.management import AsyncManagementAPI, ManagementAPI
from vultr_toolkit.inventory.api import AsyncInventoryAPI, InventoryAPI
from vultr_toolkit.sandbox import Sandbox


def test_sync_client_surface_is_typed(sandbox_session: Sandbox) -> None:
    with vt.Client(sandbox_session.settings()) as client:
        inv = assert_type(client.inventory, InventoryAPI)
        api = assert_type(client.inference, InferenceAPI)
        mgmt = assert_type(client.management, ManagementAPI)
        regions = assert_type(inv.regions(), pd.DataFrame)
        assert isinstance(inv, InventoryAPI) and isinstance(api, InferenceAPI) and isinstance(mgmt, ManagementAPI)
        assert len(regions) > 0


def test_async_client_surface_is_typed(sandbox_session: Sandbox) -> None:
    async def main() -> tuple[object, object, object]:
        async with vt.AsyncClient(sandbox_session.settings()) as client:
            return (assert_type(client.inventory, AsyncInventoryAPI),
                    assert_type(client.inference, AsyncInferenceAPI),
                    assert_type(client.management, AsyncManagementAPI))

    inv, api, mgmt = asyncio.run(main())
    assert isinstance(inv, AsyncInventoryAPI) and isinstance(api, AsyncInferenceAPI)
    assert isinstance(mgmt, AsyncManagementAPI)
