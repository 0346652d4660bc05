"""Dead letters can be listed and replayed: the command, the dashboard's admin list, a gauge."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from services.identity.app import CONSUMER, PROCESSOR
from shared import consumer
from shared.bus import Bus
from shared.metrics import REGISTRY
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.consumer_support import dead_letters
from tests.integration.dashboard_support import signed_in_client
from tests.integration.identity_support import event, publish
from tests.support import eventually


async def dead_letter_events(bus: Bus, monkeypatch: pytest.MonkeyPatch, *events) -> None:
    """Have identity's durable consumer give up on `events`, as during an old outage."""
    monkeypatch.setattr(consumer, "MAX_DELIVER", 1)

    async def broken(payload: dict) -> None:
        raise RuntimeError("the database was down")

    await publish(bus, *events)
    task = bus.consume(bus.subjects.events_stream, CONSUMER, bus.subjects.events_all, broken)

    async def all_dead() -> bool:
        return await dead_letters(bus, CONSUMER) == len(events)

    await eventually(all_dead, timeout=15)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    monkeypatch.setattr(consumer, "MAX_DELIVER", 8)


async def command(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.deadletters",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_command_lists_and_replays_dead_letters(
    env: dict[str, str], bus: Bus, start_service, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = event(DEFAULT_WORKSPACE_ID, "identify", user_id="u-replayed", anonymous_id="a-r")
    await dead_letter_events(bus, monkeypatch, lost)

    listing = await command(env, "list", "--consumer", CONSUMER)
    assert "retries_exhausted" in listing
    assert bus.subjects.events(DEFAULT_WORKSPACE_ID, "identify") in listing
    assert "the database was down" in listing
    assert "dead letters waiting: identity: 1" in listing

    identity = await start_service("identity")

    async def gauge_counts_it() -> bool:
        value = REGISTRY.get_sample_value(
            "parley_dead_letters", {"service": "identity", "consumer": CONSUMER}
        )
        return value == 1

    await eventually(gauge_counts_it, timeout=10)
    replayed = await command(env, "replay", "--all", "--consumer", CONSUMER)
    assert "1 replayed" in replayed

    async def applied() -> bool:
        return identity.app[PROCESSOR].applied == 1

    await eventually(applied, timeout=15)
    assert await dead_letters(bus, CONSUMER) == 0


async def test_admins_see_their_workspaces_dead_letters_and_retry_one(
    bus: Bus, start_service, aiohttp_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = event(DEFAULT_WORKSPACE_ID, "identify", user_id="u-ours", anonymous_id="a-ours")
    theirs = event("someone-else", "identify", user_id="u-theirs", anonymous_id="a-theirs")
    await dead_letter_events(bus, monkeypatch, ours, theirs)
    client = await signed_in_client(start_service, aiohttp_client, "identity")

    page = await client.get("/deadletters")
    html = await page.text()
    assert page.status == 200
    assert "u-ours" in html
    assert "u-theirs" not in html
    assert "Retry" in html
    assert 'href="/deadletters"' in html

    seqs = {d.workspace_id: d.seq for d in await _letters(bus)}
    foreign = await client.post(
        f"/deadletters/{seqs['someone-else']}/retry", data={"csrf": client.csrf}
    )
    assert foreign.status == 404
    retried = await client.post(
        f"/deadletters/{seqs[DEFAULT_WORKSPACE_ID]}/retry",
        data={"csrf": client.csrf},
        allow_redirects=False,
    )
    assert retried.status == 303
    assert await dead_letters(bus, CONSUMER) == 1  # theirs is still there

    after = await (await client.get(retried.headers["Location"])).text()
    assert "was sent again" in after
    assert "u-ours" not in after


async def _letters(bus: Bus) -> list:
    from shared import deadletters

    return await deadletters.listing(bus)
