"""Helpers for the dashboard's tests: sign in through the real forms, read CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Client(TestClient[web.Request, web.Application]):
    """The tests' `aiohttp_client` (tests/conftest.py): once signed in through the
    dashboard's form, `csrf` holds the session's CSRF token."""

    csrf: str = ""


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def sign_in(
    client: TestClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD
) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = await client.get("/")
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "csrf": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    inbox = await client.get("/inbox")
    assert inbox.status == 200
    return csrf_of(await inbox.text())


async def signed_in_client(start_service: Any, aiohttp_client: Any, *first: str) -> Client:
    """The services named in `first` (e.g. "chat"), then the dashboard; an admin client
    signed in through the form, with its session's CSRF token at `.csrf`."""
    for name in first:
        await start_service(name)
    client = await aiohttp_client(await start_service("dashboard"))
    assert isinstance(client, Client)
    client.csrf = await sign_in(client)
    return client
