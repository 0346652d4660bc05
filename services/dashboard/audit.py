"""The audit trail: what agents and admins did, and what the gateway refused.

Every record is one structured JSON log line (logger `parley.audit`, at any log
level) and one document in the dashboard's `audit` collection, kept
`PARLEY_AUDIT_RETENTION_DAYS` days (a TTL index). The dashboard records its own
actions directly; the gateway, which has no database, publishes its (aggregated)
refusals on `P.audit.<workspace>.refused` and the durable consumer `dashboard-audit`
stores them here. Records hold who, what, when, from which IP and a small detail:
never a password, a key or a token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.dashboard import keys
from services.dashboard.store import Store
from shared import tasks
from shared.audit import log_line
from shared.errors import PermanentError
from shared.events import parse_time
from shared.proxies import client_ip
from shared.web import BUS, SETTINGS
from shared.workspaces import DEFAULT_WORKSPACE_ID

DURABLE = "dashboard-audit"
DELETES_DURABLE = "dashboard-person-deleted"
UNMERGES_DURABLE = "dashboard-person-unmerged"
MAX_TEXT = 300
ACTIONS = {
    "signin": "Signed in",
    "signin.failed": "Failed sign-in",
    "signin.throttled": "Sign-ins locked (too many failures)",
    "signout": "Signed out",
    "invitation.created": "Invited an agent",
    "invitation.accepted": "Accepted an invitation",
    "password.reset_requested": "Asked for a password-reset email",
    "password.reset": "Reset their password by email",
    "password.changed": "Changed their password",
    "avatar.changed": "Changed their avatar",
    "avatar.removed": "Removed their avatar",
    "invitation.revoked": "Revoked an invitation",
    "agent.role_changed": "Changed a role",
    "agent.disabled": "Disabled an agent",
    "agent.enabled": "Enabled an agent",
    "workspace.created": "Created a workspace",
    "member.added": "Added an existing agent to the workspace",
    "member.removed": "Removed an agent from the workspace",
    "key.rotated": "Rotated a key",
    "key.revoked": "Revoked a previous key",
    "settings.changed": "Changed settings",
    "suppression.lifted": "Lifted a suppression",
    "webhook.created": "Added a webhook",
    "webhook.deleted": "Deleted a webhook",
    "webhook.enabled": "Turned a webhook on or off",
    "webhook.topics": "Changed a webhook's topics",
    "webhook.rotate": "Rotated a webhook's secret",
    "webhook.redeliver": "Redelivered a webhook",
    "label.created": "Added a label",
    "label.changed": "Renamed or recoloured a label",
    "label.deleted": "Deleted a label",
    "conversations.bulk": "Changed conversations in bulk",
    "person.deleted": "Deleted a person and all their data",
    "person.unmerged": "Undid a merge (the merged-away person re-created)",
    "origin.refused": "Refused an origin",
    "user_hash.refused": "Refused an unverified user_hash",
}
REFUSALS = ("origin.refused", "user_hash.refused")


def moment() -> datetime:
    """Now, to the millisecond (what the database keeps, so cursors compare exactly)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _text(value: Any) -> str | None:
    return str(value)[:MAX_TEXT] if value is not None else None


def entry(
    action: str,
    workspace_id: str,
    *,
    actor: dict[str, Any] | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
    count: int = 1,
    source: str = "dashboard",
    at: datetime | None = None,
    record_id: str | None = None,
) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return {
        "_id": record_id or f"au_{secrets.token_hex(10)}",
        "workspace_id": workspace_id,
        "at": at or moment(),
        "action": action,
        "actor_id": actor.get("_id") if actor else None,
        "actor_email": actor.get("email") if actor else None,
        "ip": _text(ip),
        "detail": {k: v for k, v in (detail or {}).items() if v is not None},
        "count": count,
        "source": source,
    }


async def keep(store: Store, record: dict[str, Any]) -> bool:
    """Log the record's line, then store it; False when it was stored already."""
    log_line({**record, "at": record["at"].isoformat()})
    return await store.add_audit(record)


async def record(
    request: web.Request,
    action: str,
    *,
    actor: dict[str, Any] | None = None,
    workspace_id: str | None = None,
    **detail: Any,
) -> None:
    """Record what the request did; the actor defaults to the signed-in agent."""
    actor = actor or request.get(keys.AGENT)
    ws = workspace_id or (actor or {}).get("workspace_id") or DEFAULT_WORKSPACE_ID
    await keep(
        request.app[keys.STORE],
        entry(action, ws, actor=actor, ip=client_ip(request), detail=detail),
    )


async def workspace_of_email(store: Store, email: str) -> str:
    """Whose trail a failed sign-in goes in: the agent's workspace, else the default one."""
    agent = await store.agent_by_email(email) if email else None
    return (agent or {}).get("workspace_id") or DEFAULT_WORKSPACE_ID


def changed_fields(before: Any, changes: dict[str, Any]) -> list[str]:
    """The names of the settings a form really changed (values are not logged)."""
    return sorted(name for name, value in changes.items() if getattr(before, name, None) != value)


# --- refusals the gateway publishes --------------------------------------------------
def refusal_entry(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored record from a `P.audit.<ws>.refused` message; PermanentError if malformed."""
    action, ws, rid = payload.get("action"), payload.get("workspace_id"), payload.get("id")
    count = payload.get("count")
    if action not in REFUSALS or not isinstance(ws, str) or not ws or not isinstance(rid, str):
        raise PermanentError("not an audit refusal record", code="bad_payload")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise PermanentError("count must be a positive integer", code="bad_payload")
    at = parse_time(payload.get("last_at")) or moment()
    record = entry(
        action,
        ws,
        ip=payload.get("ip"),
        detail={
            "origin": _text(payload.get("origin")),
            "channel": _text(payload.get("channel")),
            "first_at": _text(payload.get("first_at")),
        },
        count=count,
        source=_text(payload.get("service")) or "gateway",
        at=at.replace(microsecond=at.microsecond // 1000 * 1000),
        record_id=f"gw_{rid[:100]}",
    )
    record["origin"] = _text(payload.get("origin"))
    return record


def deletion_entry(fact: dict[str, Any]) -> dict[str, Any]:
    """The trail's record of identity's `person_deleted` fact, whoever asked (an admin here
    or the secret key at the gateway): one per person, however often the fact comes."""
    ws, pid = fact.get("workspace_id"), fact.get("profile_id")
    if not isinstance(ws, str) or not ws or not isinstance(pid, str):
        raise PermanentError("not a person_deleted fact", code="bad_payload")
    given = fact.get("actor")
    who: dict[str, Any] = given if isinstance(given, dict) else {}
    by_agent = who.get("kind") == "agent"
    actor = {"_id": who.get("id"), "email": who.get("email")} if by_agent else None
    at = parse_time(fact.get("deleted_at")) or moment()
    # a digest, not the id: the erased id stays nowhere, yet "was X deleted?" is answerable
    digest = hashlib.sha256(f"{ws}:{pid}".encode()).hexdigest()[:32]
    return entry(
        "person.deleted",
        ws,
        actor=actor,
        detail={"profile_digest": digest, "via": "dashboard" if by_agent else "api"},
        source="identity",
        at=at.replace(microsecond=at.microsecond // 1000 * 1000),
        record_id=f"del_{digest}",
    )


def unmerge_entry(fact: dict[str, Any]) -> dict[str, Any]:
    """The trail's record of identity's `person_unmerged` fact, whoever asked (an admin here
    or the secret key at the gateway): one per undone merge, however often the fact comes."""
    ws, pid, merge_id = (fact.get(k) for k in ("workspace_id", "profile_id", "merge_id"))
    if (
        not isinstance(ws, str)
        or not ws
        or not isinstance(pid, str)
        or not isinstance(merge_id, str)
    ):
        raise PermanentError("not a person_unmerged fact", code="bad_payload")
    given = fact.get("actor")
    who: dict[str, Any] = given if isinstance(given, dict) else {}
    by_agent = who.get("kind") == "agent"
    actor = {"_id": who.get("id"), "email": who.get("email")} if by_agent else None
    at = parse_time(fact.get("unmerged_at")) or moment()
    return entry(
        "person.unmerged",
        ws,
        actor=actor,
        detail={
            "profile_id": pid[:200],
            "survivor_id": _text(fact.get("survivor_id")),
            "merge_id": merge_id[:100],
            "via": "dashboard" if by_agent else "api",
        },
        source="identity",
        at=at.replace(microsecond=at.microsecond // 1000 * 1000),
        record_id=f"unm_{merge_id[:100]}",
    )


def setup(app: web.Application) -> None:
    """Apply the retention setting and store the gateway's refusals (after the store)."""

    async def audit_ctx(app: web.Application):
        store = app[keys.STORE]
        await store.ensure_audit_retention(app[SETTINGS].audit_retention_days)
        bus = app[BUS]

        async def on_refusal(payload: dict[str, Any]) -> None:
            await keep(store, refusal_entry(payload))

        async def on_deleted(payload: dict[str, Any]) -> None:
            await keep(store, deletion_entry(payload))

        async def on_unmerged(payload: dict[str, Any]) -> None:
            await keep(store, unmerge_entry(payload))

        subjects = bus.subjects
        task = bus.consume(subjects.audit_stream, DURABLE, subjects.audit_all, on_refusal)
        deletes = bus.consume(
            subjects.identity_stream, DELETES_DURABLE, subjects.identity_fact("deleted"), on_deleted
        )
        unmerges = bus.consume(
            subjects.identity_stream,
            UNMERGES_DURABLE,
            subjects.identity_fact("unmerged"),
            on_unmerged,
        )
        yield
        await tasks.stop(task)
        await tasks.stop(deletes, unmerges)  # before the database closes

    app.cleanup_ctx.append(audit_ctx)
