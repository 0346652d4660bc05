"""The sidebar's "Merge into this" against the real chat service and dashboard."""

from __future__ import annotations

import pytest

from shared.bus import Bus
from tests.integration.chat_support import ask, conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client
from tests.integration.test_dashboard_inbox import stand_in_identity
from tests.support import eventually

ANN = {"id": "p-ann", "stage": "contact", "name": "Ann Lee", "email": None, "user_id": None}


@pytest.fixture
async def agent(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client, "chat")


async def test_merge_into_this_from_the_sidebar(agent, bus: Bus) -> None:
    await stand_in_identity(bus, {"d-laptop": ANN, "d-phone": ANN})
    await visitor_says(bus, "v-laptop", "from my laptop", distinct_id="d-laptop")
    await visitor_says(bus, "v-phone", "from my <b>phone</b>", distinct_id="d-phone")
    laptop = (await conversation_of(bus, "v-laptop"))["conversation_id"]
    phone = (await conversation_of(bus, "v-phone"))["conversation_id"]

    async def linked() -> bool:
        for cid in (laptop, phone):
            got = await ask(bus, "conversation.get", conversation_id=cid)
            if got["conversation"]["profile_id"] != "p-ann":
                return False
        return True

    await eventually(linked, timeout=10)
    page = await (await agent.get(f"/conversations/{laptop}")).text()
    assert "Merge into this" in page
    assert f'name="source" value="{phone}"' in page

    refused = await agent.post(
        f"/conversations/{laptop}/merge", data={"source": phone}, allow_redirects=False
    )
    assert refused.status == 403, "no CSRF token, no merge"
    done = await agent.post(
        f"/conversations/{laptop}/merge",
        data={"source": phone, "csrf": agent.csrf},
        allow_redirects=False,
    )
    assert done.status == 303
    page = await (await agent.get(f"/conversations/{laptop}")).text()
    assert "from my &lt;b&gt;phone&lt;/b&gt;" in page
    assert "merged conversation with v-phone into this" in page
    assert "Merge into this" not in page, "merged away: nothing left to merge"
    source_page = await (await agent.get(f"/conversations/{phone}")).text()
    assert f'Merged into <a href="/conversations/{laptop}">' in source_page
    assert "Merge into this" not in source_page

    bad = await agent.post(
        f"/conversations/{laptop}/merge",
        data={"source": laptop, "csrf": agent.csrf},
        allow_redirects=False,
    )
    assert bad.status == 400
