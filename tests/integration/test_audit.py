"""The audit trail: dashboard actions and the gateway's refusals, stored, logged and shown."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from services.dashboard import audit, keys
from services.dashboard.store import AUDIT_TTL_INDEX, Store
from shared import audit as shared_audit
from shared.logs import JsonFormatter
from shared.settings import Settings
from tests.integration.dashboard_support import ADMIN_EMAIL, csrf_of, sign_in
from tests.integration.visitor_ws_client import ORIGIN, Visitor
from tests.support import eventually

EVIL = "https://evil.example"


def actions_of(html: str) -> list[str]:
    return re.findall(r'<tr class="audit-row" data-action="([^"]+)"', html)


def agent_id_of(team_html: str, email: str) -> str:
    match = re.search(rf'data-agent-id="([^"]+)" data-email="{re.escape(email)}"', team_html)
    assert match, f"{email} is not in the team"
    return match.group(1)


def store_of(client: TestClient) -> Store:
    return client.app[keys.STORE]


async def all_records(store: Store, workspace_id: str = "default") -> list[dict]:
    records, cursor = [], None
    while True:
        page, cursor = await store.audit_page(workspace_id, cursor)
        records += page
        if cursor is None:
            return records


@pytest.fixture
async def client(start_service, aiohttp_client):
    return await aiohttp_client(await start_service("dashboard"))


# --- what the dashboard records -----------------------------------------------------------
async def test_dashboard_actions_are_recorded_and_shown_newest_first(client, caplog) -> None:
    """Sign-ins, failures, invitations, roles, disabling, keys, settings, sign-out: all in."""
    caplog.set_level(logging.INFO, logger="parley.audit")
    login_csrf = csrf_of(await (await client.get("/")).text())
    failed = await client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": "wrong", "csrf": login_csrf}
    )
    assert failed.status == 401
    csrf = await sign_in(client)
    await client.post(
        "/team/invite", data={"email": "eve@example.com", "role": "agent", "csrf": csrf}
    )
    await store_of(client).create_agent(
        "bob@example.com", "Bob", "a long secret", "agent", "default"
    )
    bob = agent_id_of(await (await client.get("/team")).text(), "bob@example.com")
    await client.post(f"/team/agents/{bob}/role", data={"role": "admin", "csrf": csrf})
    await client.post(f"/team/agents/{bob}/active", data={"active": "0", "csrf": csrf})
    await client.post("/settings/keys", data={"key": "secret_key", "csrf": csrf})
    settings_html = await (await client.get("/settings")).text()
    (retired,) = re.findall(r'name="retired" value="([^"]+)"', settings_html)
    await client.post("/settings/keys/revoke", data={"retired": retired, "csrf": csrf})
    await client.post(
        "/settings/widget",
        data={"allowed_origins": "https://www.example.com", "away_message": "", "csrf": csrf},
    )
    csrf_after = csrf_of(await (await client.get("/audit")).text())
    await client.post("/logout", data={"csrf": csrf_after})
    await sign_in(client)

    page = await client.get("/audit")
    html = await page.text()
    assert page.status == 200
    assert actions_of(html) == [
        "signin",
        "signout",
        "settings.changed",
        "key.revoked",
        "key.rotated",
        "agent.disabled",
        "agent.role_changed",
        "invitation.created",
        "signin",
        "signin.failed",
    ]
    assert 'href="/audit" aria-current="page"' in html and "Audit log" in html
    records = {r["action"]: r for r in await all_records(store_of(client))}
    assert records["key.rotated"]["detail"] == {"key": "secret_key", "grace_seconds": 86400}
    assert "allowed_origins" in records["settings.changed"]["detail"]["fields"]
    assert records["agent.disabled"]["detail"]["agent_email"] == "bob@example.com"
    assert records["agent.role_changed"]["detail"]["role"] == "admin"
    assert records["signin.failed"]["detail"] == {"email": ADMIN_EMAIL}
    assert records["signin.failed"]["ip"] == "127.0.0.1"
    assert records["signin"]["actor_email"] == ADMIN_EMAIL
    new_key = (await (await client.get("/settings")).text()).split('id="key-secret_key">')[1]
    assert new_key.split("<")[0] not in json.dumps(list(records.values()), default=str)

    lines = [
        json.loads(JsonFormatter("dashboard").format(r))
        for r in caplog.records
        if r.name == "parley.audit"
    ]
    failed_line = next(line for line in lines if line["audit"]["action"] == "signin.failed")
    assert failed_line["audit"]["ip"] == "127.0.0.1"
    assert failed_line["audit"]["detail"]["email"] == ADMIN_EMAIL
    assert failed_line["logger"] == "parley.audit"


async def test_a_lockout_is_recorded_once_not_once_per_refused_guess(client) -> None:
    csrf = csrf_of(await (await client.get("/")).text())
    for n in range(9):
        await client.post("/login", data={"email": ADMIN_EMAIL, "password": f"g{n}", "csrf": csrf})
    records = await all_records(store_of(client))
    actions = [r["action"] for r in records]
    assert actions.count("signin.failed") == 5
    assert actions.count("signin.throttled") == 1
    throttled = next(r for r in records if r["action"] == "signin.throttled")
    assert throttled["detail"]["locked"] == "email" and throttled["detail"]["retry_after"] > 0


async def test_only_admins_read_the_audit_log(client, aiohttp_client) -> None:
    await store_of(client).create_agent(
        "ann@example.com", "Ann", "a long secret", "agent", "default"
    )
    ann = await aiohttp_client(client.server)
    await sign_in(ann, "ann@example.com", "a long secret")
    assert (await ann.get("/audit")).status == 403
    assert 'href="/audit"' not in await (await ann.get("/inbox")).text()


async def test_the_audit_log_pages_by_cursor_newest_first(client) -> None:
    store = store_of(client)
    start = audit.moment() - timedelta(hours=1)
    for n in range(120):
        # records 40..59 share one instant: the cursor must still neither skip nor repeat
        at = start + timedelta(seconds=min(n, 40) if 40 <= n < 60 else n)
        await store.add_audit(
            audit.entry("signin", "default", detail={"n": n}, at=at, record_id=f"r{n:03d}")
        )
    await store.add_audit(audit.entry("signin", "elsewhere", record_id="other-workspace"))
    await sign_in(client)
    seen: list[str] = []
    html = await (await client.get("/audit")).text()
    while True:
        seen += re.findall(r"<span class=\"muted\">n:</span> (\d+)<", html)
        older = re.search(r'href="/audit\?cursor=([^"]+)">Older', html)
        if not older:
            break
        html = await (await client.get(f"/audit?cursor={older.group(1)}")).text()
    numbers = [int(n) for n in seen if int(n) < 120]
    assert len(numbers) == 120 and len(set(numbers)) == 120
    ats = [r["at"] for r in sorted(await all_records(store), key=lambda r: r["at"], reverse=True)]
    assert ats == sorted(ats, reverse=True)
    assert numbers[0] == 119 and numbers[-1] == 0
    assert (await client.get("/audit?cursor=not-a-cursor")).status == 400


async def test_retention_is_a_ttl_index_that_follows_the_setting(
    start_service, settings: Settings
) -> None:
    assert Settings.from_env({"PARLEY_DATA_DIR": str(settings.data_dir)}).audit_retention_days == 90
    with pytest.raises(ValueError, match="PARLEY_AUDIT_RETENTION_DAYS"):
        Settings.from_env(
            {"PARLEY_DATA_DIR": str(settings.data_dir), "PARLEY_AUDIT_RETENTION_DAYS": "0"}
        )

    async def ttl_of(days: int) -> int:
        server = await start_service("dashboard", settings.with_changes(audit_retention_days=days))
        indexes = await server.app[keys.STORE].db.audit.index_information()
        return indexes[AUDIT_TTL_INDEX]["expireAfterSeconds"]

    assert await ttl_of(30) == 30 * 86400
    assert await ttl_of(7) == 7 * 86400  # a changed setting changes the existing index


# --- what the gateway refuses, recorded by the dashboard -----------------------------------
@pytest.fixture
async def strict(start_service, aiohttp_client, settings: Settings, monkeypatch):
    """Gateway + dashboard of one deployment: an allow-list and identity verification on."""
    monkeypatch.setattr(shared_audit, "WINDOW", 1.0)
    config = settings.with_changes(allowed_origins=(ORIGIN,), enforce_identity_verification=True)
    gateway = await start_service("gateway", config)
    dashboard = await aiohttp_client(await start_service("dashboard", config))
    dashboard.csrf = await sign_in(dashboard)
    return gateway, dashboard, config


async def refused_track(gateway, config: Settings, origin: str = EVIL) -> int:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            gateway.make_url("/v1/track"),
            json={"writeKey": config.write_key, "anonymousId": "a-1", "event": "X"},
            headers={"Origin": origin},
        )
        return response.status


async def test_refused_origins_and_user_hashes_reach_the_audit_log(strict) -> None:
    gateway, dashboard, config = strict
    assert await refused_track(gateway, config) == 403
    # the socket opens only to say why it is refused (docs/widget-protocol.md)
    refused = await Visitor.connect(
        gateway, config.write_key, origin="https://other.example", hello=False
    )
    await refused.wait_for(lambda f: f.get("code") == "bad_origin")
    await refused.close()
    async with aiohttp.ClientSession() as http:
        unverified = await http.post(
            gateway.make_url("/v1/identify"),
            json={"writeKey": config.write_key, "userId": "u-1", "anonymousId": "a-1"},
            headers={"Origin": ORIGIN},
        )
        assert unverified.status == 403
    visitor = await Visitor.connect(gateway, config.write_key)
    await visitor.send(
        {"type": "identify", "message_id": "ident-000001", "user_id": "u-2", "user_hash": "00"}
    )
    await visitor.wait_for(lambda f: f.get("code") == "unverified")
    await visitor.close()

    store = store_of(dashboard)

    async def all_four() -> bool:
        records = await all_records(store)
        return len([r for r in records if r["source"] == "gateway"]) >= 4

    await eventually(all_four, timeout=10)
    refusals = {
        (r["action"], r["detail"].get("origin"), r["detail"]["channel"])
        for r in await all_records(store)
        if r["source"] == "gateway"
    }
    assert refusals == {
        ("origin.refused", EVIL, "api"),
        ("origin.refused", "https://other.example", "widget"),
        ("user_hash.refused", None, "api"),
        ("user_hash.refused", None, "widget"),
    }
    html = await (await dashboard.get("/audit")).text()
    assert "Refused an origin" in html and EVIL in html
    assert "Refused an unverified user_hash" in html


async def test_a_flood_of_refusals_is_aggregated_into_a_few_records(strict) -> None:
    """200 refused calls in a burst: a handful of records whose counts add up to 200."""
    gateway, dashboard, config = strict
    started = time.monotonic()
    statuses = await asyncio.gather(*(refused_track(gateway, config) for _ in range(200)))
    burst = time.monotonic() - started
    assert statuses == [403] * 200
    store = store_of(dashboard)

    async def counted() -> list[dict]:
        return [r for r in await all_records(store) if r["action"] == "origin.refused"]

    async def all_counted() -> bool:
        return sum(r["count"] for r in await counted()) == 200

    await eventually(all_counted, timeout=15)
    records = await counted()
    # the first at once, then at most one per 1 s window while the burst lasted
    assert 2 <= len(records) <= math.ceil(burst / shared_audit.WINDOW) + 2, (burst, records)
    assert records[-1]["count"] == 1  # the oldest: published at once, before aggregation


async def test_invented_origins_fold_into_one_record_beyond_the_key_limit(
    strict, monkeypatch
) -> None:
    monkeypatch.setattr(shared_audit, "MAX_KEYS", 3)
    gateway, dashboard, config = strict
    origins = [f"https://x{uuid.uuid4().hex[:6]}.example" for _ in range(30)]
    for origin in origins:
        assert await refused_track(gateway, config, origin) == 403
    store = store_of(dashboard)

    async def all_counted() -> bool:
        records = [r for r in await all_records(store) if r["action"] == "origin.refused"]
        return sum(r["count"] for r in records) == 30

    await eventually(all_counted, timeout=15)
    seen = {r["detail"]["origin"] for r in await all_records(store) if r["source"] == "gateway"}
    assert seen == {*origins[:3], shared_audit.OTHER_ORIGINS}


async def test_the_settings_page_shows_the_last_refused_origins_with_a_hint(strict) -> None:
    gateway, dashboard, config = strict
    for _ in range(3):
        assert await refused_track(gateway, config) == 403

    async def listed() -> bool:
        html = await (await dashboard.get("/settings")).text()
        return EVIL in html and "<td>3</td>" in html

    await eventually(listed, timeout=15)
    html = await (await dashboard.get("/settings")).text()
    section = html.split('id="refused-origins"')[1].split("</table>")[0]
    assert EVIL in section and "Allowed origins" in section and "add it there" in section
    assert "just now" in section

    saved = await dashboard.post(
        "/settings/widget",
        data={"allowed_origins": f"{ORIGIN}\n{EVIL}", "away_message": "", "csrf": dashboard.csrf},
    )
    assert saved.status == 200
    assert 'id="refused-origins"' not in await (await dashboard.get("/settings")).text()
