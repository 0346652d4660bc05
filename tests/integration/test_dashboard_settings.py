"""Workspace settings: key rotation reaches every service, widget policy, hours, canned replies."""

from __future__ import annotations

import re
import time

import aiohttp
import pytest

from services.gateway.visitor.ws import CLOSE_BAD_KEY
from shared.events import parse_time
from shared.hours import is_open
from shared.security import user_hash
from shared.web import WORKSPACES
from shared.workspaces import DEFAULT_GRACE_SECONDS, DEFAULT_WORKSPACE_ID
from tests.integration.dashboard_support import signed_in_client
from tests.integration.visitor_ws_client import Visitor
from tests.support import basic_auth, eventually


@pytest.fixture
async def admin(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client)


async def test_settings_show_keys_and_an_install_snippet_with_the_write_key(
    admin, settings
) -> None:
    html = await (await admin.get("/settings")).text()
    assert settings.write_key in html
    assert settings.secret_key in html  # behind a "Show" disclosure, for admins only
    assert settings.public_url in html
    textarea = re.search(r'<textarea id="snippet"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea is not None
    snippet = textarea.group(1)
    assert settings.write_key in snippet and "&lt;script" in snippet


async def _rotate(admin, key: str, grace: int | None = None) -> None:
    form = {"key": key, "csrf": admin.csrf}
    if grace is not None:
        form["grace"] = str(grace)
    response = await admin.post("/settings/keys", data=form, allow_redirects=False)
    assert response.status == 303


async def _seen_by(gateway, check) -> None:
    registry = gateway.app[WORKSPACES]

    async def seen() -> bool:
        ws = registry.get(DEFAULT_WORKSPACE_ID)
        return ws is not None and check(ws)

    await eventually(seen)


async def _revoke_all(admin) -> None:
    html = await (await admin.get("/settings")).text()
    for retired in re.findall(r'name="retired" value="([^"]+)"', html):
        response = await admin.post(
            "/settings/keys/revoke",
            data={"retired": retired, "csrf": admin.csrf},
            allow_redirects=False,
        )
        assert response.status == 303


async def _refusal_of(gateway, key: str) -> tuple[dict, int | None]:
    visitor = await Visitor.connect(gateway, key, hello=False)
    await visitor.closed.wait()
    await visitor.close()
    return visitor.frames[0], visitor.ws.close_code


async def test_rotating_the_write_key_reaches_the_gateway(admin, start_service, settings) -> None:
    """The new key is live on the other services through the workspace registry; the old
    one keeps working for the default grace (24 h), listed with its expiry, until revoked."""
    gateway = await start_service("gateway")
    old = settings.write_key
    await _rotate(admin, "write_key")
    await _seen_by(gateway, lambda ws: ws.write_key != old)
    registry = gateway.app[WORKSPACES]
    new = registry.get(DEFAULT_WORKSPACE_ID).write_key
    assert new.startswith("wk_")
    assert registry.by_write_key(new) is registry.by_write_key(old) is not None
    (retired,) = registry.get(DEFAULT_WORKSPACE_ID).in_grace()
    assert abs(retired.expires_at - (time.time() + DEFAULT_GRACE_SECONDS)) < 60
    html = await (await admin.get("/settings")).text()
    assert new in html
    grace_table = re.search(r'<table class="table" id="keys-in-grace">.*?</table>', html, re.S)
    assert grace_table and old in grace_table.group(0) and "Revoke now" in grace_table.group(0)
    assert time.strftime("%d %b %Y", time.gmtime(retired.expires_at)) in grace_table.group(0)
    # a deployed snippet with the old key still opens the socket
    visitor = await Visitor.connect(gateway, old)
    assert visitor.welcome["visitor_id"]
    await visitor.close()
    # the other keys did not change
    assert registry.get(DEFAULT_WORKSPACE_ID).secret_key == settings.secret_key

    await _revoke_all(admin)
    await _seen_by(gateway, lambda ws: not ws.in_grace())
    assert registry.by_write_key(old) is None and registry.by_write_key(new) is not None
    assert 'id="keys-in-grace"' not in await (await admin.get("/settings")).text()
    frame, close_code = await _refusal_of(gateway, old)
    assert (frame["code"], close_code) == ("bad_key", CLOSE_BAD_KEY)


async def test_rotating_with_revoke_now_stops_the_old_key_at_once(
    admin, start_service, settings
) -> None:
    gateway = await start_service("gateway")
    await _rotate(admin, "write_key", grace=0)
    await _seen_by(gateway, lambda ws: ws.write_key != settings.write_key)
    assert gateway.app[WORKSPACES].by_write_key(settings.write_key) is None
    assert gateway.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID).in_grace() == []
    refused = await admin.post(
        "/settings/keys", data={"key": "write_key", "grace": "31536000", "csrf": admin.csrf}
    )
    assert refused.status == 400  # only the offered grace periods
    stale = await admin.post(
        "/settings/keys/revoke", data={"retired": "nothing-here", "csrf": admin.csrf}
    )
    assert stale.status == 400


async def test_the_previous_secret_key_and_identity_secret_work_during_their_grace(
    admin, start_service, bus, settings
) -> None:
    gateway = await start_service("gateway")
    enforce = {"enforce_identity_verification": "on", "away_message": "", "csrf": admin.csrf}
    assert (await admin.post("/settings/widget", data=enforce, allow_redirects=False)).status == 303
    await _rotate(admin, "secret_key", grace=3600)
    await _rotate(admin, "identity_secret", grace=7 * 86400)
    await _seen_by(
        gateway,
        lambda ws: (
            ws.identity_secret != settings.identity_secret
            and ws.secret_key != settings.secret_key
            and ws.enforce_identity_verification
        ),
    )
    expiries = {
        r.kind: r.expires_at - time.time()
        for r in gateway.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID).in_grace()
    }
    assert 3500 < expiries["secret_key"] <= 3600
    assert 7 * 86400 - 100 < expiries["identity_secret"] <= 7 * 86400

    async def track(key: str) -> int:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                gateway.make_url("/v1/track"),
                json={"userId": "u-1", "event": "Rotated"},
                headers=basic_auth(key),
            ) as response:
                return response.status

    async def identify(visitor: Visitor, secret: str, mid: str) -> dict:
        frame = {"type": "identify", "message_id": mid, "user_id": "u-7"}
        await visitor.send({**frame, "user_hash": user_hash(secret, "u-7")})
        return await visitor.wait_for(lambda f: f.get("ref") == mid)

    assert await track(settings.secret_key) == 200
    visitor = await Visitor.connect(gateway, settings.write_key)
    assert (await identify(visitor, settings.identity_secret, "ident-old-1"))["type"] == "ok"
    await visitor.close()

    await _revoke_all(admin)
    await _seen_by(gateway, lambda ws: not ws.in_grace())
    assert await track(settings.secret_key) == 401
    current = gateway.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert await track(current.secret_key) == 200
    visitor = await Visitor.connect(gateway, settings.write_key)
    refused = await identify(visitor, settings.identity_secret, "ident-old-2")
    assert (refused["type"], refused["code"]) == ("error", "unverified")
    assert (await identify(visitor, current.identity_secret, "ident-new-1"))["type"] == "ok"
    await visitor.close()


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
    delete = re.search(r'action="/settings/canned/([^/]+)/delete"', html)
    assert delete is not None
    reply_id = delete.group(1)
    deleted = await admin.post(
        f"/settings/canned/{reply_id}/delete", data={"csrf": admin.csrf}, allow_redirects=False
    )
    assert deleted.status == 303
    assert "Refunds take" not in await (await admin.get("/settings")).text()


async def test_the_ingest_rate_field_changes_the_gateways_limit_live(
    admin, start_service, settings
) -> None:
    gateway = await start_service("gateway")
    batch = {"batch": [{"type": "track", "anonymousId": "a", "event": "e"}] * 10}

    async def send() -> tuple[int, str | None]:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                gateway.make_url("/v1/batch"), json=batch, headers=basic_auth(settings.write_key)
            ) as response:
                return response.status, response.headers.get("Retry-After")

    async def set_rate(value: str) -> int:
        form = {"ingest_rate_per_second": value, "csrf": admin.csrf}
        return (await admin.post("/settings/ingest", data=form, allow_redirects=False)).status

    assert await set_rate("5") == 303
    await _seen_by(gateway, lambda ws: ws.ingest_rate_per_second == 5)
    assert 'value="5"' in await (await admin.get("/settings")).text()
    assert (await send())[0] == 200  # the burst: two seconds' worth
    status, retry_after = await send()
    assert status == 429 and int(retry_after or 0) >= 1

    assert await set_rate("100000") == 303
    await _seen_by(gateway, lambda ws: ws.ingest_rate_per_second == 100_000)
    for _ in range(5):
        assert (await send())[0] == 200

    for bad in ("0", "lots", "2000000"):
        assert await set_rate(bad) == 400
    assert gateway.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID).ingest_rate_per_second == 100_000


async def test_identity_token_keys_are_checked_and_saved(admin) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    base = {"away_message": "", "csrf": admin.csrf}
    bad = {
        **base,
        "identity_public_key": "not a key",
        "identity_jwks_url": "http://keys.example/jwks.json",
        "token_lifetime_minutes": "0",
    }
    refused = await admin.post("/settings/widget", data=bad)
    assert refused.status == 400
    text = await refused.text()
    assert "not a PEM public key" in text and "must be https://" in text
    assert "Between 1 and 10,080 minutes" in text
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    good = {
        **base,
        "identity_public_key": pem,
        "identity_jwks_url": "https://keys.example/jwks.json",
        "token_lifetime_minutes": "15",
    }
    saved = await admin.post("/settings/widget", data=good, allow_redirects=False)
    assert saved.status == 303
    ws = admin.server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert ws.identity_public_key == pem.strip()
    assert ws.identity_jwks_url == "https://keys.example/jwks.json"
    assert ws.identity_token_max_lifetime == 900
