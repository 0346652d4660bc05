"""Workspace settings: key rotation reaches every service, widget policy, hours, canned replies."""

from __future__ import annotations

import re

import pytest

from shared.events import parse_time
from shared.hours import is_open
from shared.web import WORKSPACES
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.dashboard_support import signed_in_client
from tests.support import eventually


@pytest.fixture
async def admin(start_service, aiohttp_client):  # type: ignore[no-untyped-def]
    return await signed_in_client(start_service, aiohttp_client)


async def test_settings_show_keys_and_an_install_snippet_with_the_write_key(
    admin, settings
) -> None:
    html = await (await admin.get("/settings")).text()
    assert settings.write_key in html
    assert settings.secret_key in html  # behind a "Show" disclosure, for admins only
    assert settings.public_url in html
    snippet = re.search(r'<textarea id="snippet"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert settings.write_key in snippet and "&lt;script" in snippet


async def test_rotating_the_write_key_reaches_the_gateway(admin, start_service, settings) -> None:
    """The new key is live on the other services through the workspace registry."""
    gateway = await start_service("gateway")
    old = settings.write_key
    response = await admin.post(
        "/settings/keys", data={"key": "write_key", "csrf": admin.csrf}, allow_redirects=False
    )
    assert response.status == 303
    registry = gateway.app[WORKSPACES]

    async def rotated() -> bool:
        ws = registry.get(DEFAULT_WORKSPACE_ID)
        return ws is not None and ws.write_key != old

    await eventually(rotated)
    new = registry.get(DEFAULT_WORKSPACE_ID).write_key
    assert new.startswith("wk_")
    assert registry.by_write_key(old) is None
    assert new in await (await admin.get("/settings")).text()
    # the other keys did not change
    assert registry.get(DEFAULT_WORKSPACE_ID).secret_key == settings.secret_key


async def test_widget_settings_are_validated_and_saved(admin) -> None:
    bad = await admin.post(
        "/settings/widget",
        data={"allowed_origins": "javascript:alert(1)", "away_message": "x", "csrf": admin.csrf},
    )
    assert bad.status == 400
    assert "is not an origin" in await bad.text()
    form = {
        "allowed_origins": "https://www.example.com/\nhttps://APP.example.com",
        "enforce_identity_verification": "on",
        "away_message": "Back at 9 — leave your email <3",
        "hours_enabled": "on",
        "timezone": "Europe/Paris",
        "mon_on": "on",
        "mon_open": "09:00",
        "mon_close": "17:30",
        "csrf": admin.csrf,
    }
    saved = await admin.post("/settings/widget", data=form, allow_redirects=False)
    assert saved.status == 303
    ws = admin.server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert ws.allowed_origins == ["https://app.example.com", "https://www.example.com"]
    assert ws.enforce_identity_verification is True
    assert ws.away_message == "Back at 9 — leave your email <3"
    assert ws.business_hours == {"timezone": "Europe/Paris", "days": {"mon": ["09:00", "17:30"]}}
    html = await (await admin.get("/settings")).text()
    assert "leave your email &lt;3" in html
    # Monday 10:00 in Paris (08:00 UTC in winter) is open; Tuesday is closed
    assert is_open(ws.business_hours, parse_time("2026-01-05T08:00:00Z"))
    assert not is_open(ws.business_hours, parse_time("2026-01-06T08:00:00Z"))
    assert not is_open(ws.business_hours, parse_time("2026-01-05T17:00:00Z"))


async def test_closing_time_before_opening_is_refused(admin) -> None:
    form = {"hours_enabled": "on", "timezone": "UTC", "tue_on": "on", "tue_open": "18:00"}
    response = await admin.post(
        "/settings/widget", data={**form, "tue_close": "08:00", "csrf": admin.csrf}
    )
    assert response.status == 400
    assert "Tuesday: opening must be before closing" in await response.text()


async def test_canned_replies_are_added_listed_and_deleted(admin) -> None:
    added = await admin.post(
        "/settings/canned",
        data={"shortcut": "/Refund", "text": "Refunds take <b>5</b> days.", "csrf": admin.csrf},
        allow_redirects=False,
    )
    assert added.status == 303
    dup = await admin.post(
        "/settings/canned", data={"shortcut": "refund", "text": "again", "csrf": admin.csrf}
    )
    assert dup.status == 400
    html = await (await admin.get("/settings")).text()
    assert "/refund" in html and "Refunds take &lt;b&gt;5&lt;/b&gt; days." in html
    reply_id = re.search(r'action="/settings/canned/([^/]+)/delete"', html).group(1)
    deleted = await admin.post(
        f"/settings/canned/{reply_id}/delete", data={"csrf": admin.csrf}, allow_redirects=False
    )
    assert deleted.status == 303
    assert "Refunds take" not in await (await admin.get("/settings")).text()
