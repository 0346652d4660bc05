"""The Messenger settings (admins): the widget's greeting, launcher colour and side, and
per-language overrides of its strings, validated by shared/messenger.py."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from services.dashboard import audit
from services.dashboard.auth import require_admin
from shared import messenger
from shared.web import WORKSPACES
from shared.workspaces import Workspace

LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "pt": "Portuguese",
    "ar": "Arabic (right to left)", "he": "Hebrew (right to left)",
}  # fmt: skip


def context(ws: Workspace) -> dict[str, Any]:
    """What the settings page's Messenger card shows."""
    return {
        "languages": LANGUAGE_NAMES,
        "keys": messenger.STRING_KEYS,
        "positions": messenger.POSITIONS,
        "strings": {
            lang: messenger.strings_text(ws.widget_strings.get(lang, {}))
            for lang in messenger.LANGUAGES
        },
        "max_greeting": messenger.MAX_GREETING,
    }


def parse_form(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The workspace changes, and the errors by field (empty when valid)."""
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    try:
        greeting = str(form.get("greeting", ""))
        changes["greeting"] = messenger.plain(greeting, messenger.MAX_GREETING, "Greeting")
    except messenger.Invalid as exc:
        errors["greeting"] = str(exc)
    try:
        changes["launcher_color"] = messenger.parse_color(str(form.get("launcher_color", "")))
    except messenger.Invalid as exc:
        errors["launcher_color"] = str(exc)
    position = str(form.get("launcher_position", ""))
    if position not in messenger.POSITIONS:
        errors["launcher_position"] = "Choose the right or the left corner."
    changes["launcher_position"] = position
    strings: dict[str, dict[str, str]] = {}
    for lang in messenger.LANGUAGES:
        try:
            parsed = messenger.parse_strings(lang, str(form.get(f"strings_{lang}", "")))
        except messenger.Invalid as exc:
            errors[f"strings_{lang}"] = str(exc)
            continue
        if parsed:
            strings[lang] = parsed
    changes["widget_strings"] = strings
    return changes, errors


async def save_messenger(request: web.Request) -> web.StreamResponse:
    from services.dashboard.views.settings import page, the_workspace

    require_admin(request)
    form = await request.post()
    ws = the_workspace(request)
    changes, errors = parse_form(form)
    if errors:
        return await page(request, errors, status=400)
    await request.app[WORKSPACES].put(dataclasses.replace(ws, **changes))
    if changed := audit.changed_fields(ws, changes):
        await audit.record(request, "settings.changed", fields=changed)
    raise web.HTTPSeeOther("/settings?saved=messenger#messenger")
