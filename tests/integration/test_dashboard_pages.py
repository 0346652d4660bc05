"""The dashboard answers 403, 404 and 500 with its own HTML pages (the API keeps JSON)."""

from __future__ import annotations

import pytest

from services.dashboard import keys
from services.dashboard.views import inbox as inbox_views
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.dashboard_support import sign_in, signed_in_client


@pytest.fixture
async def client(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client)


async def test_an_unknown_page_is_an_html_404_with_the_security_headers(client) -> None:
    response = await client.get("/no/such/page")
    assert response.status == 404
    assert response.content_type == "text/html"
    assert "Page not found" in await response.text()
    assert "Back to the inbox" in await response.text()
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    # the JSON API and static files are not pages
    api = await client.get("/api/no/such/thing")
    assert api.status == 404 and api.content_type != "text/html"
    static = await client.get("/static/no-such-file.css")
    assert static.status == 404 and static.content_type != "text/html"


async def test_an_agent_on_an_admin_page_gets_an_html_403_with_the_reason(
    client, aiohttp_client
) -> None:
    store = client.server.app[keys.STORE]
    await store.create_agent(
        "bob@example.com", "Bob", "a long enough secret", "agent", DEFAULT_WORKSPACE_ID
    )
    bob = await aiohttp_client(client.server)
    await sign_in(bob, "bob@example.com", "a long enough secret")
    response = await bob.get("/settings")
    assert response.status == 403
    assert response.content_type == "text/html"
    html = await response.text()
    assert "Not allowed" in html and "Only admins can do this." in html


async def test_a_failing_page_is_an_html_500_and_the_next_page_works(client, monkeypatch) -> None:
    async def broken(*args: object, **kwargs: object) -> dict:
        raise RuntimeError("a bug in a view")

    monkeypatch.setattr(inbox_views, "people_for", broken)
    response = await client.get("/inbox")
    assert response.status == 500
    assert response.content_type == "text/html"
    html = await response.text()
    assert "Something went wrong" in html and "a bug in a view" not in html
    monkeypatch.undo()
    assert (await client.get("/inbox")).status == 200
