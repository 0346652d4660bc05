"""Your avatar: uploaded on /me/profile, checked from its bytes (PNG, JPEG, WebP, GIF; at
most 2 MB), re-encoded to a 128×128 PNG and served at /avatars/{agent}/{version}.png;
shown in the rail and on the team list; each agent changes only their own."""

from __future__ import annotations

import io
import re

import aiohttp
from PIL import Image

from tests.integration.dashboard_support import signed_in_client
from tests.integration.test_dashboard_notify_settings import invited_agent

AVATAR_SRC = re.compile(r'<img class="avatar avatar-sm" src="(/avatars/[^"]+\.png)"')


def png_of(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def bilevel_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    return out.getvalue()


async def upload(client, data: bytes, filename: str, csrf: str | None = None):
    form = aiohttp.FormData()
    form.add_field("csrf", client.csrf if csrf is None else csrf)
    form.add_field("avatar", data, filename=filename, content_type="image/png")
    return await client.post("/me/avatar", data=form, allow_redirects=False)


async def rail_avatar(client) -> str | None:
    found = AVATAR_SRC.search(await (await client.get("/inbox")).text())
    return found.group(1) if found else None


async def test_an_upload_is_re_encoded_to_a_square_png_and_served(
    start_service, aiohttp_client
) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    assert await rail_avatar(admin) is None  # initials until there is one
    uploaded = png_of(300, 200)
    saved = await upload(admin, uploaded, "me.png")
    assert saved.status == 303, await saved.text()
    url = await rail_avatar(admin)
    assert url and re.fullmatch(r"/avatars/ag_[0-9a-f]+/[0-9a-f]{12}\.png", url)

    served = await admin.get(url)
    assert served.status == 200
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    body = await served.read()
    assert body != uploaded
    with Image.open(io.BytesIO(body)) as image:
        assert (image.format, image.size) == ("PNG", (128, 128))
    assert url in await (await admin.get("/team")).text()

    removed = await admin.post("/me/avatar/remove", data={"csrf": admin.csrf})
    assert removed.status == 200
    assert await rail_avatar(admin) is None
    assert (await admin.get(url)).status == 404  # that version is gone


async def test_what_is_not_an_image_or_too_big_is_refused(start_service, aiohttp_client) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    refused = await upload(admin, svg, "me.png")
    assert refused.status == 400
    assert "Upload a PNG, JPEG, WebP or GIF image." in await refused.text()

    text = await upload(admin, b"<html><body>hello</body></html>", "me.jpg")
    assert text.status == 400
    assert "Upload a PNG, JPEG, WebP or GIF image." in await text.text()

    huge = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024)
    too_big = await upload(admin, huge, "big.png")
    assert too_big.status == 400
    assert "Keep the image under 2 MB." in await too_big.text()

    bomb = await upload(admin, bilevel_png(6000, 6000), "bomb.png")  # small file, many pixels
    assert bomb.status == 400
    assert "too many pixels" in await bomb.text()

    assert (await upload(admin, png_of(64, 64), "me.png", csrf="wrong")).status == 403
    assert await rail_avatar(admin) is None  # nothing of the above was stored


async def test_another_agent_cannot_change_yours(start_service, aiohttp_client) -> None:
    admin = await signed_in_client(start_service, aiohttp_client)
    assert (await upload(admin, png_of(128, 128), "admin.png")).status == 303
    mine = await rail_avatar(admin)
    bob = await invited_agent(admin, aiohttp_client, "bob@example.com")
    admin_id = mine.split("/")[2] if mine else ""

    form = aiohttp.FormData()  # naming another agent changes nothing: it is always yours
    form.add_field("csrf", bob.csrf)
    form.add_field("avatar", png_of(50, 90, (0, 0, 255)), filename="x.png")
    form.add_field("agent_id", admin_id)
    assert (await bob.post("/me/avatar", data=form, allow_redirects=False)).status == 303
    await bob.post("/me/avatar/remove", data={"csrf": bob.csrf, "agent_id": admin_id})

    assert await rail_avatar(admin) == mine
    assert (await admin.get(mine or "")).status == 200
    assert (await bob.get(mine or "")).status == 200  # colleagues see it on the team list
