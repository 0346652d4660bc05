"""Agents signing in and out: the form, sessions, CSRF, throttling, roles and invitations."""

from __future__ import annotations

import pytest

from tests.integration.dashboard_support import ADMIN_EMAIL, ADMIN_PASSWORD, csrf_of, sign_in


@pytest.fixture
async def client(start_service, aiohttp_client):  # type: ignore[no-untyped-def]
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
