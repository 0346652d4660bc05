"""Agents signing in and out: the form, sessions, CSRF, throttling, roles and invitations."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from services.dashboard import agent_ws, keys
from shared.embedded import start_mongo
from tests.integration.dashboard_support import ADMIN_EMAIL, ADMIN_PASSWORD, csrf_of, sign_in
from tests.support import eventually


def agent_id_of(team_html: str, email: str) -> str:
    match = re.search(rf'data-agent-id="([^"]+)" data-email="{re.escape(email)}"', team_html)
    assert match, f"{email} is not in the team"
    return match.group(1)


@pytest.fixture
async def client(start_service, aiohttp_client):
    server = await start_service("dashboard")
    return await aiohttp_client(server)


async def test_sign_in_form_has_labelled_fields_and_a_sign_in_button(client) -> None:
    """The page at / is the sign-in form the issue describes."""
    response = await client.get("/")
    html = await response.text()
    assert response.status == 200
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert ">Sign in</button>" in html
    assert "parley_login_csrf" in response.headers.get("Set-Cookie", "")


async def test_admin_from_settings_signs_in_and_gets_an_httponly_lax_session(client) -> None:
    """The first admin exists from settings; the session cookie is HttpOnly and SameSite=Lax."""
    page = await client.get("/")
    response = await client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/inbox"
    cookie = response.headers["Set-Cookie"]
    assert "parley_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    inbox = await client.get("/inbox")
    assert inbox.status == 200
    assert "Admin" in await inbox.text()


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client) -> None:
    page = await client.get("/")
    csrf = csrf_of(await page.text())
    for email in (ADMIN_EMAIL, "nobody@example.com"):
        response = await client.post(
            "/login", data={"email": email, "password": "wrong password", "csrf": csrf}
        )
        assert response.status == 401
        assert "Wrong email or password." in await response.text()
    assert (await client.get("/inbox", allow_redirects=False)).status == 303


async def test_repeated_failures_lock_the_email_even_for_the_right_password(client) -> None:
    """Five failures for one email lock it: the right password is refused until the window ends."""
    csrf = csrf_of(await (await client.get("/")).text())
    for _ in range(5):
        response = await client.post(
            "/login", data={"email": ADMIN_EMAIL, "password": "guess", "csrf": csrf}
        )
        assert response.status == 401
    locked = await client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf}
    )
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in await locked.text()


async def test_failures_across_many_emails_lock_the_ip(client) -> None:
    """Spraying one password over many emails from one address is throttled too."""
    csrf = csrf_of(await (await client.get("/")).text())
    for n in range(20):
        await client.post(
            "/login", data={"email": f"user{n}@example.com", "password": "x", "csrf": csrf}
        )
    response = await client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf}
    )
    assert response.status == 429


async def test_sign_in_without_the_form_token_is_refused(client) -> None:
    await client.get("/")
    response = await client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status == 403
    assert (await client.get("/inbox", allow_redirects=False)).status == 303


async def test_state_changes_without_csrf_token_or_from_another_site_are_refused(client) -> None:
    """A signed-in agent's cookie alone changes nothing: the session's token must come back."""
    csrf = await sign_in(client)
    no_token = await client.post("/settings/canned", data={"shortcut": "hi", "text": "Hello!"})
    assert no_token.status == 403
    wrong = await client.post(
        "/settings/canned", data={"shortcut": "hi", "text": "Hello!", "csrf": "x" * 43}
    )
    assert wrong.status == 403
    cross_site = await client.post(
        "/settings/canned",
        data={"shortcut": "hi", "text": "Hello!", "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status == 403
    api = await client.post(
        "/api/conversations/c1/messages", json={"text": "hi", "client_msg_id": "m1"}
    )
    assert api.status == 403
    assert (await api.json())["code"] == "csrf"
    settings_page = await (await client.get("/settings")).text()
    assert "Hello!" not in settings_page
    ok = await client.post(
        "/settings/canned", data={"shortcut": "hi", "text": "Hello!", "csrf": csrf}
    )
    assert ok.status == 200
    assert "Hello!" in await ok.text()


async def test_sign_out_ends_the_session_on_the_server(client) -> None:
    csrf = await sign_in(client)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["parley_session"].value
    response = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert response.status == 303
    # replaying the old cookie does not bring the session back
    replay = await client.get(
        "/inbox", headers={"Cookie": f"parley_session={cookie}"}, allow_redirects=False
    )
    assert replay.status == 303
    assert replay.headers["Location"] == "/"


async def test_pages_and_api_need_a_session(client) -> None:
    for path in ("/inbox", "/contacts", "/settings", "/team", "/conversations/abc"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
    api = await client.get("/api/changes?since=2026-01-01T00:00:00Z")
    assert api.status == 401


async def test_admin_invites_an_agent_who_joins_and_cannot_open_admin_pages(
    client, aiohttp_client
) -> None:
    """Invitation link works once; the new agent signs in with their password; roles apply."""
    csrf = await sign_in(client)
    made = await client.post(
        "/team/invite", data={"email": "Bob@Example.com", "role": "agent", "csrf": csrf}
    )
    html = await made.text()
    assert made.status == 200
    link = html.split('id="invite-link" class="mono" readonly value="')[1].split('"')[0]
    path = "/invite/" + link.rsplit("/invite/", 1)[1]

    bob = await aiohttp_client(client.server)
    form = await bob.get(path)
    assert "bob@example.com" in await form.text()
    joined = await bob.post(
        path,
        data={
            "name": "Bob",
            "password": "a long enough secret",
            "csrf": csrf_of(await form.text()),
        },
        allow_redirects=False,
    )
    assert joined.status == 303
    assert (await bob.get("/inbox")).status == 200
    assert (await bob.get("/settings")).status == 403
    assert (await bob.get("/team")).status == 403
    again = await bob.get(path)
    assert again.status == 404  # used once

    other = await aiohttp_client(client.server)
    await sign_in(other, "bob@example.com", "a long enough secret")

    # the admin promotes Bob; Bob can then open the settings
    team = await (await client.get("/team")).text()
    bob_id = agent_id_of(team, "bob@example.com")
    promoted = await client.post(
        f"/team/agents/{bob_id}/role", data={"role": "admin", "csrf": csrf}, allow_redirects=False
    )
    assert promoted.status == 303
    assert (await bob.get("/settings")).status == 200


async def test_the_last_admin_cannot_be_demoted(client) -> None:
    csrf = await sign_in(client)
    team = await (await client.get("/team")).text()
    admin_id = agent_id_of(team, ADMIN_EMAIL)
    response = await client.post(
        f"/team/agents/{admin_id}/role", data={"role": "agent", "csrf": csrf}
    )
    assert response.status == 409
    assert "at least one active admin" in await response.text()


async def test_secure_cookies_when_configured(start_service, aiohttp_client, settings) -> None:
    server = await start_service("dashboard", settings.with_changes(secure_cookies=True))
    client = await aiohttp_client(server)
    page = await client.get("/")
    assert "Secure" in page.headers["Set-Cookie"]
    response = await client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    # the test client speaks http, so it does not send the Secure pre-login cookie back
    assert response.status == 403


async def test_parallel_wrong_passwords_hit_the_limit_like_sequential_ones(client) -> None:
    """40 guesses at once for one email: only the limit's worth are checked, the rest 429."""
    csrf = csrf_of(await (await client.get("/")).text())

    async def guess(n: int) -> int:
        response = await client.post(
            "/login", data={"email": ADMIN_EMAIL, "password": f"guess {n}", "csrf": csrf}
        )
        return response.status

    statuses = await asyncio.gather(*(guess(n) for n in range(40)))
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 35, statuses
    locked = await client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf}
    )
    assert locked.status == 429


async def test_a_successful_sign_in_does_not_count_against_the_ip(client) -> None:
    """Attempts are counted before the password check; a success gives its count back."""
    for _ in range(25):
        client.session.cookie_jar.clear()
        csrf = csrf_of(await (await client.get("/")).text())
        response = await client.post(
            "/login",
            data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": csrf},
            allow_redirects=False,
        )
        assert response.status == 303


# --- sockets of sessions that end (8.2) --------------------------------------------------
def session_token(client: TestClient) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))["parley_session"].value


async def open_socket(client: TestClient, csrf: str, token: str) -> aiohttp.ClientWebSocketResponse:
    """The agent socket on `client`'s server, with the session cookie given explicitly."""
    origin = str(client.make_url("/")).rstrip("/")
    ws = await client.ws_connect(
        f"/ws?csrf={csrf}", headers={"Origin": origin, "Cookie": f"parley_session={token}"}
    )
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    return ws


async def closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> int | None:
    """The close code if the server closes the socket within `seconds`, else None."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    return msg.data  # the server's code (close_code may say 1006 meanwhile)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return ws.close_code
    except TimeoutError:
        return None


@pytest.fixture
async def replicas(start_service, aiohttp_client):
    """Two dashboard replicas of one deployment (same NATS prefix, same database)."""
    first = await aiohttp_client(await start_service("dashboard"))
    second = await aiohttp_client(await start_service("dashboard"))
    return first, second


async def test_signing_out_on_one_replica_closes_the_sessions_socket_on_another(
    replicas,
) -> None:
    """The sign-out is announced: the other replica does not wait for its periodic check."""
    first, second = replicas
    csrf = await sign_in(first)
    ws = await open_socket(second, csrf, session_token(first))
    await first.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert await closed_within(ws, 2) == 1008


async def test_a_session_signed_out_on_one_replica_is_refused_on_another_at_once(
    replicas,
) -> None:
    """Sessions are cached briefly; the announcement forgets them on every replica, so
    even a long cache would not let the signed-out cookie in."""
    first, second = replicas
    second.server.app[keys.SESSIONS].ttl = 3600.0
    csrf = await sign_in(first)
    cookie = {"Cookie": f"parley_session={session_token(first)}"}
    assert (await second.get("/inbox", headers=cookie, allow_redirects=False)).status == 200
    await first.post("/logout", data={"csrf": csrf}, allow_redirects=False)

    async def refused() -> bool:
        answer = await second.get("/api/changes?since=2026-01-01T00:00:00Z", headers=cookie)
        return answer.status == 401

    await eventually(refused, timeout=2)


async def test_disabling_an_agent_closes_their_sockets_on_every_replica(replicas) -> None:
    first, second = replicas
    await first.server.app[keys.STORE].create_agent(
        "bob@example.com", "Bob", "a long enough secret", "agent", "default"
    )
    bob_csrf = await sign_in(second, "bob@example.com", "a long enough secret")
    ws = await open_socket(second, bob_csrf, session_token(second))
    csrf = await sign_in(first)
    bob_id = agent_id_of(await (await first.get("/team")).text(), "bob@example.com")
    disabled = await first.post(
        f"/team/agents/{bob_id}/active", data={"active": "0", "csrf": csrf}, allow_redirects=False
    )
    assert disabled.status == 303
    assert await closed_within(ws, 2) == 1008


async def test_sockets_close_when_the_session_cannot_be_checked(
    start_service, aiohttp_client, settings, tmp_path, monkeypatch
) -> None:
    """Database unreachable: after a few failed checks the socket closes (fails closed)."""
    monkeypatch.setattr(agent_ws, "PRESENCE_EVERY", 0.2)
    monkeypatch.setattr(agent_ws, "CHECK_TIMEOUT", 1.0)
    mongo = start_mongo(tmp_path / "own-mongo")
    try:
        server = await start_service("dashboard", settings.with_changes(mongo_url=mongo.url))
        client = await aiohttp_client(server)
        csrf = await sign_in(client)
        ws = await open_socket(client, csrf, session_token(client))
        assert await closed_within(ws, 1) is None  # checks pass while the database answers
        mongo.stop()
        assert await closed_within(ws, 30) == 1008
    finally:
        mongo.stop()
