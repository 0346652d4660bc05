"""Your profile: the name colleagues see, the time zone every time is shown in (and the
snooze presets computed in), and a password change that ends the agent's other sessions
on every dashboard replica but not the one that changed it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from shared.bus import Bus
from tests.integration.chat_support import conversation_of, visitor_says
from tests.integration.dashboard_support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    csrf_of,
    sign_in,
    signed_in_client,
)
from tests.integration.test_dashboard_socket import closed, open_socket
from tests.support import eventually

NEW_PASSWORD = "another long enough secret"


async def save(client, **form: str) -> aiohttp.ClientResponse:
    data = {"csrf": client.csrf, **form}
    return await client.post("/me/profile", data=data, allow_redirects=False)


async def test_name_and_zone_are_checked_saved_and_shown(start_service, aiohttp_client) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    page = await admin.get("/me/profile")
    assert page.status == 200
    assert '<option value="Europe/Paris" >' in await page.text()  # the IANA list

    assert (await save(admin, name="Ann", time_zone="Mars/Olympus")).status == 400
    assert (await save(admin, name="Ann", time_zone="../../etc/passwd")).status == 400
    assert (await save(admin, name="   ", time_zone="UTC")).status == 400
    assert (await save(admin, name="A" * 81, time_zone="UTC")).status == 400
    refused = await admin.post("/me/profile", data={"name": "Ann", "time_zone": "UTC"})
    assert refused.status == 403  # no CSRF token

    saved = await save(admin, name="  Ann   Lee <b> ", time_zone="Asia/Tokyo")
    assert saved.status == 303
    inbox = await (await admin.get("/inbox")).text()
    assert 'data-agent-name="Ann Lee &lt;b&gt;"' in inbox  # escaped, spaces folded
    assert 'data-time-zone="Asia/Tokyo" data-zone-chosen="true"' in inbox
    team = await (await admin.get("/team")).text()
    assert "Ann Lee &lt;b&gt;" in team

    # server-rendered times are in the zone: the audit log's sign-in, at +09:00
    audit = await (await admin.get("/audit")).text()
    stamp = re.search(r'<time datetime="([^"]+)" title="[^"]+">([^<]+)</time>', audit)
    assert stamp
    at = datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00"))
    assert stamp.group(2) == at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%d %b %Y, %H:%M JST")


async def test_the_browsers_zone_is_kept_only_until_the_agent_chooses(
    start_service, aiohttp_client
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    headers = {"X-CSRF-Token": admin.csrf}
    assert 'data-zone-chosen="false"' in await (await admin.get("/inbox")).text()
    bad = await admin.post("/me/time-zone", data={"time_zone": "Nowhere/x"}, headers=headers)
    assert bad.status == 400
    first = await admin.post("/me/time-zone", data={"time_zone": "America/Lima"}, headers=headers)
    assert (await first.json()) == {"time_zone": "America/Lima"}
    again = await admin.post("/me/time-zone", data={"time_zone": "Europe/Oslo"}, headers=headers)
    assert (await again.json()) == {"time_zone": "America/Lima"}  # the first one stays
    assert 'data-time-zone="America/Lima"' in await (await admin.get("/inbox")).text()


async def test_snooze_until_tomorrow_is_nine_in_the_agents_zone(
    start_service, aiohttp_client, bus: Bus
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client, "chat")
    assert (await save(admin, name="Ann", time_zone="America/New_York")).status == 303
    await visitor_says(bus, "v-z", "hello")
    cid = (await conversation_of(bus, "v-z"))["conversation_id"]
    done = await admin.post(
        f"/conversations/{cid}/update",
        data={"csrf": admin.csrf, "snooze": "tomorrow"},
        allow_redirects=False,
    )
    assert done.status == 303
    html = await (await admin.get(f"/conversations/{cid}")).text()
    zone = ZoneInfo("America/New_York")
    tomorrow = (datetime.now(UTC).astimezone(zone) + timedelta(days=1)).date()
    nine = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=zone)
    assert f"Snoozed until {nine.strftime('%d %b %Y, 09:00 %Z')}" in html


async def test_a_password_change_ends_the_other_sessions_on_every_replica(
    start_service, aiohttp_client
) -> None:
    here = await signed_in_client(start_service, aiohttp_client)
    elsewhere = await aiohttp_client(await start_service("dashboard"))  # a second replica
    elsewhere.csrf = await sign_in(elsewhere)
    their_socket = await open_socket(elsewhere)
    my_socket = await open_socket(here)

    wrong = await here.post(
        "/me/password",
        data={"csrf": here.csrf, "current": "not it", "password": NEW_PASSWORD},
    )
    assert wrong.status == 400
    short = await here.post(
        "/me/password", data={"csrf": here.csrf, "current": ADMIN_PASSWORD, "password": "short"}
    )
    assert short.status == 400
    changed = await here.post(
        "/me/password",
        data={"csrf": here.csrf, "current": ADMIN_PASSWORD, "password": NEW_PASSWORD},
        allow_redirects=False,
    )
    assert changed.status == 303

    msg = await closed(their_socket)  # the other replica heard it at once
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert (await elsewhere.get("/inbox", allow_redirects=False)).status in (302, 303, 401)
    assert (await here.get("/inbox")).status == 200  # this session stays
    assert not my_socket.closed

    fresh = await aiohttp_client(here.server)
    page = await fresh.get("/")
    old = await fresh.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert old.status == 401
    assert await sign_in(fresh, ADMIN_EMAIL, NEW_PASSWORD)
    audit = await (await here.get("/audit")).text()
    assert "Changed their password" in audit


async def test_the_team_list_shows_who_is_available_away_or_gone(
    start_service, aiohttp_client, bus: Bus
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client, "chat")
    me = re.search(r'data-agent-id="([^"]+)"', await (await admin.get("/inbox")).text())
    assert me
    me_id = me.group(1)

    def shown(html: str) -> str:
        found = re.search(rf'data-agent-id="{me_id}".*?data-presence="(\w+)"', html, re.S)
        assert found, html
        return found.group(1)

    # no dashboard of theirs open (no socket, no heartbeat): away by themselves
    assert shown(await (await admin.get("/team")).text()) == "gone"
    assert (
        'Away <span class="muted">(no dashboard open)</span>'
        in await (await admin.get("/team")).text()
    )
    beat = {"workspace_id": "default", "agent_id": me_id, "name": "Admin", "online": True}
    await bus.publish(bus.subjects.request("chat", "agent.presence"), beat)

    async def available() -> bool:
        return shown(await (await admin.get("/team")).text()) == "available"

    await eventually(available)
    await admin.post("/me/presence", data={"csrf": admin.csrf, "presence": "away", "back": "/team"})

    async def away() -> bool:
        return shown(await (await admin.get("/team")).text()) == "away"

    await eventually(away)
