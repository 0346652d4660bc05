"""The dashboard's search page against the real chat service: highlighted, escaped, paged."""

from __future__ import annotations

import re

import pytest

from shared.bus import Bus
from tests.integration.chat_support import conversation_of, visitor_says
from tests.integration.dashboard_support import signed_in_client
from tests.support import eventually

LINK = re.compile(r'<a href="/conversations/([^"]+)" class="row-link">')


@pytest.fixture
async def agent(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client, "chat")


async def test_search_page_highlights_escaped_matches_and_pages(agent, bus: Bus) -> None:
    await visitor_says(bus, "v-x", 'my <b onmouseover="x">invoice</b> is late')
    cid = (await conversation_of(bus, "v-x"))["conversation_id"]
    for n in range(27):
        await visitor_says(bus, f"v-{n:02d}", f"question number {n} about shipping")
    await eventually(lambda: _count(agent, "/search?q=shipping", 25), timeout=20)
    html = await (await agent.get("/search?q=invoice")).text()
    assert LINK.findall(html) == [cid]
    assert "<mark>invoice</mark>" in html
    assert "&lt;b onmouseover=&#34;x&#34;&gt;" in html and "<b onmouseover" not in html
    # a query that looks like markup stays text, in the field and the page
    hostile = await (await agent.get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E")).text()
    assert "<script>alert(1)" not in hostile
    assert "No conversations match." in hostile
    first = await (await agent.get("/search?q=shipping")).text()
    older = re.search(r'rel="next" href="/search\?q=shipping&amp;cursor=([^"]+)"', first)
    assert older, "a second page"
    second = await (await agent.get(f"/search?q=shipping&cursor={older.group(1)}")).text()
    both = LINK.findall(first) + LINK.findall(second)
    assert len(both) == 27 and len(set(both)) == 27
    # the inbox's header has the box, posting to this page
    inbox = await (await agent.get("/inbox")).text()
    assert 'action="/search"' in inbox and 'type="search"' in inbox


async def test_bad_filters_are_dropped_or_refused(agent) -> None:
    page = await agent.get("/search?q=x&from=not-a-date&label=%3Cx%3E")
    assert page.status == 200
    assert (await agent.get("/search?q=x&cursor=" + "a" * 600)).status == 400


async def _count(agent, path: str, want: int) -> bool:
    return len(LINK.findall(await (await agent.get(path)).text())) == want
