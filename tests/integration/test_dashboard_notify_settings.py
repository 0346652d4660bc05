"""Your notifications: each agent's own channels, stored by the dashboard's store and read
back into every page the agent opens (the data the dashboard's notify.js acts on)."""

from __future__ import annotations

import re

from tests.integration.dashboard_support import csrf_of, sign_in, signed_in_client


def channels(html: str) -> dict[str, str]:
    """What a page tells notify.js: data-notify-<channel>="true|false" on <main>."""
    return dict(re.findall(r'data-notify-(browser|sound|title)="(true|false)"', html))


async def invited_agent(admin, aiohttp_client, email: str):
    made = await admin.post(
        "/team/invite", data={"email": email, "role": "agent", "csrf": admin.csrf}
    )
    link = (await made.text()).split('readonly value="')[1].split('"')[0]
    path = "/invite/" + link.rsplit("/invite/", 1)[1]
    agent = await aiohttp_client(admin.server)
    form = await agent.get(path)
    joined = await agent.post(
        path,
        data={
            "name": "Bob",
            "password": "a long enough secret",
            "csrf": csrf_of(await form.text()),
        },
        allow_redirects=False,
    )
    assert joined.status == 303
    agent.csrf = await sign_in(agent, email, "a long enough secret")
    return agent


async def test_each_agent_turns_their_own_notifications_off(start_service, aiohttp_client) -> None:
    admin = await signed_in_client(start_service, aiohttp_client, "chat")
    bob = await invited_agent(admin, aiohttp_client, "bob@example.com")
    defaults = {"browser": "true", "sound": "false", "title": "true"}
    assert channels(await (await bob.get("/inbox")).text()) == defaults

    page = await bob.get("/me/notifications")  # any agent, not only admins
    assert page.status == 200
    refused = await bob.post("/me/notifications", data={"sound": "on"}, allow_redirects=False)
    assert refused.status == 403  # no CSRF token: nothing changes
    saved = await bob.post(
        "/me/notifications", data={"sound": "on", "csrf": bob.csrf}, allow_redirects=False
    )
    assert saved.status == 303

    mine = {"browser": "false", "sound": "true", "title": "false"}
    assert channels(await (await bob.get("/inbox")).text()) == mine
    assert channels(await (await bob.get("/me/notifications")).text()) == mine
    # the admin's are untouched
    assert channels(await (await admin.get("/inbox")).text()) == defaults
