"""The server SDKs, unchanged but for their host, against a real gateway and identity:
Segment's Node client and RudderStack's Node SDK (the pinned npm packages, run by node),
and RudderStack's Python SDK (from PyPI). Each sends with the secret key, as a backend
does; each one's events land on the right profile, read back through the profiles API,
and a message the gateway refuses in the same batch makes no SDK report a failure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Servers, StartService
from tests.integration.identity_support import Stack
from tests.sdk.npm import run_node
from tests.sdk.support import landed, run_id, sdk_stack

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(start_service: StartService, servers: Servers, tmp_path: Path) -> Stack:
    return await sdk_stack(start_service, servers, tmp_path / "data")


async def test_segments_node_client(stack: Stack) -> None:
    user = f"seg-node-{run_id()}"
    result = await run_node(
        "segment-node.cjs", HOST=stack.url, KEY=stack.settings.secret_key, USER=user
    )
    assert result["errors"] == []  # the batch with a refused message was a success to it
    assert all(url.startswith(stack.url + "/v1/batch") for url in result["requests"])
    profile = await landed(
        stack,
        user,
        {"name": "Nora Node", "email": f"{user}@example.com", "plan": "pro"},
        {"identify", "Report Exported"},
    )
    assert profile["stage"] == "member"
    assert await stack.profile_by(user_id="undefined") is None


async def test_rudderstacks_node_sdk(stack: Stack) -> None:
    user = f"rs-node-{run_id()}"
    result = await run_node(
        "rudderstack-node.cjs", HOST=stack.url, KEY=stack.settings.secret_key, USER=user
    )
    assert result["errors"] == []
    # read from context.traits
    await landed(
        stack,
        user,
        {"name": "Rudi Node", "email": f"{user}@example.com", "plan": "team"},
        {"identify", "Invoice Paid"},
    )


def _python_sdk(host: str, key: str, user: str) -> list[Any]:
    from rudderstack.analytics import Client

    errors: list[Any] = []
    client = Client(
        key,
        host=host,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    # RudderStack's Python SDK puts identify traits only in context.traits
    client.identify(user, {"email": f"{user}@example.com", "name": "Pia Python", "plan": "pro"})
    client.track(user, "Workspace Created", {"seats": 3})
    client.track("null", "Never Stored")  # refused; the batch's others are stored
    client.flush()  # one batch from the SDK's queue, as in production
    return errors


async def test_rudderstacks_python_sdk(stack: Stack) -> None:
    user = f"rs-py-{run_id()}"
    errors = await asyncio.to_thread(_python_sdk, stack.url, stack.settings.secret_key, user)
    assert errors == []
    await landed(
        stack,
        user,
        {"name": "Pia Python", "email": f"{user}@example.com", "plan": "pro"},
        {"identify", "Workspace Created"},
    )
