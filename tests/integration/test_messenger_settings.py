"""The Messenger settings: validated (known keys, bounded, plain text, a real colour and
side), saved to the workspace, and carried to every widget in the welcome frame."""

from __future__ import annotations

import pytest

from shared.web import WORKSPACES
from shared.workspaces import DEFAULT_WORKSPACE_ID
from tests.integration.dashboard_support import signed_in_client
from tests.integration.visitor_ws_client import Visitor
from tests.support import eventually

GOOD = {
    "greeting": "Hi! Ask Acme anything.",
    "launcher_color": "#FFD400",
    "launcher_position": "left",
    "strings_fr": "greeting = Bonjour de la part d’Acme !\naway = Nous revenons à 9 h.",
    "strings_ar": "send = أرسل",
}


@pytest.fixture
async def admin(start_service, aiohttp_client):
    return await signed_in_client(start_service, aiohttp_client)


async def _post(admin, **fields: str):
    return await admin.post(
        "/settings/messenger", data={**GOOD, **fields, "csrf": admin.csrf}, allow_redirects=False
    )


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("greeting", "<script>alert(1)</script>", "plain text only"),
        ("greeting", "x" * 301, "at most 300"),
        ("launcher_color", "red; background:url(//evil)", "a colour like"),
        ("launcher_position", "top", "right or the left"),
        ("strings_fr", "welcome = Salut", "not a widget string key"),
        ("strings_de", "send = " + "y" * 301, "at most 300"),
        ("strings_es", "send = <img src=x onerror=alert(1)>", "plain text only"),
        ("strings_pt", "send = Enviar &amp; sair", "plain text only"),
    ],
)
async def test_bad_messenger_settings_are_refused_and_nothing_is_saved(
    admin, field: str, value: str, says: str
) -> None:
    before = admin.server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    bad = await _post(admin, **{field: value})
    assert bad.status == 400
    page = await bad.text()
    assert says in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert admin.server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID) == before


async def test_messenger_settings_are_saved_and_reach_the_widgets_welcome(
    admin, start_service
) -> None:
    gateway = await start_service("gateway")
    saved = await _post(admin)
    assert saved.status == 303
    ws = admin.server.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
    assert (ws.greeting, ws.launcher_color, ws.launcher_position) == (
        "Hi! Ask Acme anything.", "#ffd400", "left",
    )  # fmt: skip
    assert ws.widget_strings == {
        "fr": {"greeting": "Bonjour de la part d’Acme !", "away": "Nous revenons à 9 h."},
        "ar": {"send": "أرسل"},
    }
    html = await (await admin.get("/settings")).text()
    assert "greeting = Bonjour de la part d’Acme !" in html

    async def seen() -> bool:
        got = gateway.app[WORKSPACES].get(DEFAULT_WORKSPACE_ID)
        return got is not None and got.launcher_position == "left"

    await eventually(seen)
    visitor = await Visitor.connect(gateway, ws.write_key)
    look = visitor.welcome["look"]
    await visitor.close()
    assert look == {
        "greeting": "Hi! Ask Acme anything.",
        "color": "#ffd400",
        "text_color": "#000000",  # black reads better on yellow
        "position": "left",
        "strings": ws.widget_strings,
    }


async def test_the_other_languages_are_served_lazily_to_any_page(gateway, aiohttp_client) -> None:
    client = await aiohttp_client(gateway)
    fr = await client.get("/widget/lang/fr.json", headers={"Accept-Encoding": "gzip"})
    assert fr.status == 200
    assert fr.headers["Content-Type"].startswith("application/json")
    assert fr.headers["Access-Control-Allow-Origin"] == "*"
    assert fr.headers["Content-Encoding"] == "gzip"
    assert (await fr.json())["send"] == "Envoyer"
    again = await client.get("/widget/lang/fr.json", headers={"If-None-Match": fr.headers["ETag"]})
    assert again.status == 304
    for missing in ("en", "ar", "xx", "..%2Fwidget"):
        assert (await client.get(f"/widget/lang/{missing}.json")).status == 404
