"""`/v1/webhooks` on the real gateway (secret key, checked bodies, the OpenAPI schemas)
and the dashboard's webhook settings (admins add, see the banner, redeliver)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator

from services.gateway.openapi import document
from services.webhooks.app import create_app
from shared.bus import Bus
from shared.settings import Settings, WebhookSettings
from tests.conftest import StartService
from tests.integration.dashboard_support import signed_in_client
from tests.integration.webhooks_support import Receiver, hooks
from tests.support import basic_auth, eventually


def _check(doc: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]
    Draft202012Validator(
        {**schema["application/json"]["schema"], "components": doc["components"]}
    ).validate(body)


async def test_the_webhooks_api_takes_the_secret_key_only(
    aiohttp_server: Any, start_service: StartService, settings: Settings
) -> None:
    await aiohttp_server(create_app(settings))
    gateway = await start_service("gateway")
    base = str(gateway.make_url("/v1/webhooks"))
    doc = document(settings)
    secret = basic_auth(settings.secret_key)
    async with aiohttp.ClientSession() as http:
        made = {"url": "https://example.com/hook", "topics": ["message.created"]}
        for key in (settings.write_key, "nope"):
            async with http.post(base, json=made, headers=basic_auth(key)) as resp:
                assert resp.status == 401
                _check(doc, "/v1/webhooks", "post", 401, await resp.json())
        async with http.post(base, json=made, headers=secret) as resp:
            assert resp.status == 201
            created = await resp.json()
            _check(doc, "/v1/webhooks", "post", 201, created)
        assert created["secret"].startswith("whsec_") and created["enabled"] is True
        for bad in (
            {"url": "ftp://example.com", "topics": ["message.created"]},
            {"url": "https://example.com", "topics": ["nope"]},
            {"url": "https://example.com", "topics": ["message.created"], "extra": 1},
        ):
            async with http.post(base, json=bad, headers=secret) as resp:
                assert resp.status == 400, bad
                _check(doc, "/v1/webhooks", "post", 400, await resp.json())
        async with http.post(base, data=b"x" * 20000, headers=secret) as resp:
            assert resp.status == 413
        async with http.get(base, headers=secret) as resp:
            listed = await resp.json()
            _check(doc, "/v1/webhooks", "get", 200, listed)
        assert [w["id"] for w in listed["webhooks"]] == [created["id"]]
        one = f"{base}/{created['id']}"
        async with http.get(one, headers=secret) as resp:
            assert resp.status == 200
            _check(doc, "/v1/webhooks/{webhook_id}", "get", 200, await resp.json())
        async with http.delete(one, headers=secret) as resp:
            assert resp.status == 200
            _check(doc, "/v1/webhooks/{webhook_id}", "delete", 200, await resp.json())
        async with http.get(one, headers=secret) as resp:
            assert resp.status == 404
            _check(doc, "/v1/webhooks/{webhook_id}", "get", 404, await resp.json())


async def test_without_the_webhooks_service_the_api_says_unavailable(
    start_service: StartService, settings: Settings
) -> None:
    gateway = await start_service("gateway")
    async with aiohttp.ClientSession() as http:
        url = str(gateway.make_url("/v1/webhooks"))
        async with http.get(url, headers=basic_auth(settings.secret_key)) as resp:
            assert resp.status == 503
            _check(document(settings), "/v1/webhooks", "get", 503, await resp.json())


async def test_admins_add_a_webhook_see_it_fail_and_redeliver(
    aiohttp_server: Any,
    start_service: StartService,
    aiohttp_client: Any,
    settings: Settings,
    bus: Bus,
) -> None:
    hooks_settings = settings.with_changes(
        webhooks=WebhookSettings(retry_window_s=1.5, base_delay_s=0.2, allow_private=True)
    )
    await aiohttp_server(create_app(hooks_settings, tick=0.05))
    admin = await signed_in_client(start_service, aiohttp_client)
    receiver = await Receiver(fail_first=1, fail_status=410).start()
    try:
        page = await (await admin.get("/settings")).text()
        assert 'href="/settings/webhooks"' in page
        form = {
            "csrf": admin.csrf,
            "url": receiver.url,
            "topics": "person.promoted",
            "enabled": "on",
        }
        response = await admin.post("/settings/webhooks", data=form, allow_redirects=False)
        assert response.status == 303
        location = response.headers["Location"]
        html = await (await admin.get(location)).text()
        secret = re.search(r"whsec_[A-Za-z0-9+/=]+", html)
        assert secret is not None
        refused = await admin.post(
            "/settings/webhooks",
            data={"csrf": admin.csrf, "url": "javascript:alert(1)", "topics": "person.merged"},
        )
        assert refused.status == 400 and "Not added" in await refused.text()

        fact = {"workspace_id": "default", "profile_id": "p1", "stage": "member", "at": "x"}
        await bus.publish_durable(bus.subjects.identity_fact("promoted"), fact, "t:d1")
        await receiver.wait_for("person.promoted")
        endpoint_id = location.split("/")[-1].split("?")[0]

        async def failed() -> bool:
            log = await hooks(bus, "endpoints.log", id=endpoint_id)
            return [d["status"] for d in log["deliveries"]] == ["failed"]

        await eventually(failed)  # a 410 is final
        html = await (await admin.get(f"/settings/webhooks/{endpoint_id}")).text()
        assert "HTTP 410" in html and "Redeliver" in html
        delivery = re.search(r'name="delivery_id" value="([^"]+)"', html)
        assert delivery is not None
        response = await admin.post(
            f"/settings/webhooks/{endpoint_id}/redeliver",
            data={"csrf": admin.csrf, "delivery_id": delivery.group(1)},
            allow_redirects=False,
        )
        assert response.status == 303
        again = await receiver.wait_for("person.promoted", 2)
        assert again[0].id == again[1].id

        failing = await Receiver(fail_first=-1).start()  # fails the whole window
        try:
            await hooks(bus, "endpoints.create", url=failing.url, topics=["person.merged"])
            merge = {"workspace_id": "default", "survivor_id": "p1", "merged_id": "p2", "at": "x"}
            await bus.publish_durable(bus.subjects.identity_fact("merged"), merge, "t:d2")

            async def banner() -> bool:
                listing = await (await admin.get("/settings/webhooks")).text()
                return "was turned off" in listing

            await eventually(banner, timeout=20)
            settings_page = await (await admin.get("/settings")).text()
            assert "was turned off" in settings_page and failing.url in settings_page
        finally:
            await failing.stop()
    finally:
        await receiver.stop()
