"""A person's export as a zip: `person.json` (the export document, shared/data_export.py)
and `transcript.html`, every conversation readable in a browser.

The transcript is rendered by jinja2 with autoescape on and a Content-Security-Policy
that allows no script, so nothing a visitor typed runs when the file is opened. The zip
is written to a spooled temporary file (memory, then disk past `SPOOL_BYTES`) with the
stdlib's zipfile, then sent; a service failing midway fails the request (503) rather
than sending a zip cut short.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import AsyncIterator
from typing import IO, Any

import jinja2
from aiohttp import web

from shared import clock, data_export
from shared.bus import Bus

SPOOL_BYTES = 8 * 1024 * 1024
SEND_CHUNK = 64 * 1024

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_HEAD = _ENV.from_string(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Conversations of {{ who }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2433}
section{border-top:1px solid #d5dae3;margin-top:2rem;padding-top:1rem}
.msg{margin:.6rem 0;padding:.5rem .75rem;border-radius:.5rem;background:#f3f5f9}
.msg.visitor{background:#e8f0fe}.msg.internal{background:#fff6d6}
.meta{font-size:12px;color:#5a6475}.text{white-space:pre-wrap;overflow-wrap:anywhere}
</style>
</head>
<body>
<h1>Conversations of {{ who }}</h1>
<p class="meta">Profile {{ profile_id }} · workspace {{ workspace_id }} · exported {{ exported_at }}
· {{ count }} conversation{{ 's' if count != 1 }}. Everything else Parley keeps about the
person is in person.json.</p>
"""
)
_CONVERSATION = _ENV.from_string(
    """<section>
<h2>Conversation {{ c.id }}</h2>
<p class="meta">Started {{ c.created_at or '' }} · status {{ c.status or '' }}</p>
"""
)
_MESSAGE = _ENV.from_string(
    """<div class="msg {{ m.author.kind }}{{ ' internal' if m.internal }}">
<div class="meta">{{ m.author.name or m.author.kind }}{% if m.internal %} · internal note{% endif %}{% if m.via %} · by {{ m.via }}{% endif %} · {{ m.created_at }}</div>
<div class="text">{{ m.text }}</div>
</div>
"""
)
_END_CONVERSATION = "</section>\n"
_TAIL = "</body>\n</html>\n"


def _who(profile: dict[str, Any]) -> str:
    for key in ("name", "email", "user_id", "id"):
        if profile.get(key):
            return str(profile[key])
    return "a person"


async def transcript(bus: Bus, workspace_id: str, found: dict[str, Any]) -> AsyncIterator[str]:
    """The HTML transcript of every conversation of the person `records` found, in pieces."""
    profile = found["profile"]
    family = [profile["id"], *found["merged_ids"]]
    dids = [d["distinct_id"] for d in found["distinct_ids"]]
    conversations = await data_export.conversations(bus, workspace_id, family, dids)
    yield _HEAD.render(
        who=_who(profile),
        profile_id=profile["id"],
        workspace_id=workspace_id,
        exported_at=clock.iso(clock.now()),
        count=len(conversations),
    )
    for summary in conversations:
        yield _CONVERSATION.render(c=summary)
        async for message in data_export.messages(bus, workspace_id, summary["id"]):
            author = message.get("author") or {}
            yield _MESSAGE.render(m={**message, "author": {"name": None, "kind": "", **author}})
        yield _END_CONVERSATION
    yield _TAIL


async def _write(out: IO[bytes], pieces: AsyncIterator[str]) -> None:
    async for piece in pieces:
        out.write(piece.encode())


async def build(bus: Bus, workspace_id: str, found: dict[str, Any], into: IO[bytes]) -> None:
    """The zip of the person's export, written to `into`."""
    with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("person.json", "w", force_zip64=True) as out:
            await _write(out, data_export.chunks(bus, workspace_id, found))
        with archive.open("transcript.html", "w", force_zip64=True) as out:
            await _write(out, transcript(bus, workspace_id, found))


async def respond(
    request: web.Request, bus: Bus, workspace_id: str, found: dict[str, Any]
) -> web.StreamResponse:
    """The zip as a download (BusError when a service fails before it is whole)."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        await build(bus, workspace_id, found, spool)
        spool.seek(0)
        name = data_export.file_name(found)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="person-{name}.zip"',
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        while chunk := spool.read(SEND_CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
