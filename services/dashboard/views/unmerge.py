"""Undo a merge (admins): the profile page's "Undo this merge" form, confirmed in the page,
asks identity's `profile.unmerge`; the merged-away profile is re-created and the audit
trail records it from identity's `person_unmerged` fact (docs/identity.md, "Undoing a
merge"). A merge a later one stands on is refused with the merge to undo first."""

from __future__ import annotations

import re
from urllib.parse import quote

from aiohttp import web

from services.dashboard.ask import TIMEOUT, ask
from services.dashboard.auth import require_admin, workspace_id
from services.dashboard.views.contacts import render_profile
from shared.errors import BusError
from shared.schema import identity_requests as idq

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_MERGE_ID = re.compile(r"^[0-9a-f]{24}$")


async def undo(request: web.Request) -> web.Response:
    agent = require_admin(request)
    profile_id, merge_id = request.match_info["profile_id"], request.match_info["merge_id"]
    if not _ID.match(profile_id) or not _MERGE_ID.match(merge_id):
        raise web.HTTPNotFound(text="No such merge.\n")
    payload = idq.Unmerge(
        workspace_id=workspace_id(request),
        profile_id=profile_id,
        merge_id=merge_id,
        actor_kind="agent",
        actor_id=str(agent["_id"]),
        actor_email=agent.get("email"),
    )
    try:
        answer = await ask(request.app, "identity", "profile.unmerge", payload, timeout=TIMEOUT * 6)
    except BusError as exc:
        if exc.code == "not_found":
            raise web.HTTPNotFound(text="No such merge of this profile.\n") from exc
        if exc.code == "conflict":
            error = {"merge_id": merge_id, "message": str(exc)}
            return await render_profile(request, profile_id, 409, undo_error=error)
        raise web.HTTPServiceUnavailable(text="Identity did not answer; try again.\n") from exc
    back = quote(str(answer.get("id") or ""), safe="")
    raise web.HTTPSeeOther(f"/contacts/{quote(profile_id, safe='')}?unmerged={back}")


def setup(app: web.Application) -> None:
    app.router.add_post("/contacts/{profile_id}/merges/{merge_id}/undo", undo)
