"""The dashboard's own data in its own database: agents, sessions, invitations, canned
replies, the audit trail.

Session and invitation tokens are stored only as SHA-256 digests, so a copy of the
database does not let anyone sign in. This package is the only door to the dashboard's
database (tests/unit/test_store_boundary.py); sign-in counters are in logins.py.

Across workspaces by nature, and only these: an agent by email or id, a session or an
invitation by its token's digest (that is how the workspace is found), and the sign-in
counters. Everything else carries the workspace id.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.dashboard.store.memberships import Conflict
from services.dashboard.store.profile import Profiles
from services.dashboard.store.resets import Resets
from shared import clock
from shared import cursor as cursors
from shared.identifiers import normalize_email
from shared.security import check_password, hash_password

ROLES = ("admin", "agent")
SESSION_TTL = timedelta(days=7)
INVITE_TTL = timedelta(days=7)
MAX_CANNED = 200
AUDIT_PAGE = 50
AUDIT_TTL_INDEX = "audit_retention"
_INDEX_OPTIONS_CONFLICT = (85, 86)

INDEXES = {
    "agents": [IndexModel([("email", ASCENDING)], unique=True)],
    "sessions": [
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
        IndexModel([("agent_id", ASCENDING)]),
    ],
    "memberships": [
        IndexModel([("agent_id", ASCENDING)]),
        IndexModel([("workspace_id", ASCENDING)]),
    ],
    "invitations": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
    "password_resets": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
    "canned_replies": [
        IndexModel([("workspace_id", ASCENDING), ("shortcut", ASCENDING)], unique=True)
    ],
    "login_failures": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
    # the retention TTL index on `at` is made by Store.ensure_audit_retention (it has a setting)
    "audit": [
        IndexModel([("workspace_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("workspace_id", ASCENDING), ("action", ASCENDING), ("at", DESCENDING)]),
    ],
}


# how an agent is told of a visitor message nobody answered (Your notifications);
# each can be turned off by the agent; sound is off until they turn it on; `email` is
# the mail service's email after PARLEY_AGENT_NOTIFY_DELAY_S (notify_targets)
NOTIFY_CHANNELS = ("browser", "sound", "title", "email")
NOTIFY_DEFAULTS = {"browser": True, "sound": False, "title": True, "email": True}


# the avatar's bytes are read only by the /avatars/ route (Profiles.avatar)
WITHOUT_AVATAR = {"avatar_png": 0}


def notify_settings(agent: dict[str, Any]) -> dict[str, bool]:
    """The agent's notification channels, the defaults filling what they never set."""
    saved = agent.get("notify") or {}
    return {name: bool(saved.get(name, NOTIFY_DEFAULTS[name])) for name in NOTIFY_CHANNELS}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store(Resets, Profiles):
    def __init__(self, db: AsyncIOMotorDatabase) -> None:
        self.db = db

    # --- agents --------------------------------------------------------------------------
    async def ensure_admin(self, email: str, password: str, workspace_id: str) -> None:
        """The first admin comes from settings; an existing account is never overwritten."""
        email = normalize_email(email) or email.strip().lower()
        if await self.db.agents.find_one({"email": email}, {"_id": 1}):
            return
        try:
            await self.create_agent(email, "Admin", password, "admin", workspace_id)
        except Conflict:
            pass  # another replica created it at the same moment

    async def create_agent(
        self, email: str, name: str, password: str, role: str, workspace_id: str
    ) -> dict[str, Any]:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        doc = {
            "_id": "ag_" + secrets.token_hex(8),
            "email": email,
            "name": name.strip() or email.split("@")[0],
            "role": role,
            "workspace_id": workspace_id,
            "password_hash": await asyncio.to_thread(hash_password, password),
            "active": True,
            "created_at": clock.now(),
        }
        try:
            await self.db.agents.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict("an agent with this email already exists") from exc
        return doc

    async def agent_by_email(self, email: str) -> dict[str, Any] | None:
        return await self.db.agents.find_one({"email": email.strip().lower()})

    async def agent(self, agent_id: str) -> dict[str, Any] | None:
        return await self.db.agents.find_one({"_id": agent_id}, WITHOUT_AVATAR)

    async def agents(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's members: its home agents, then those added to it (each with
        their role here and `added: True`)."""
        query = {"workspace_id": workspace_id}
        cursor = self.db.agents.find(query, WITHOUT_AVATAR).sort("created_at", 1)
        homes = await cursor.to_list(500)
        added = await self.added_members(workspace_id)
        if added:
            others = await self.db.agents.find(
                {"_id": {"$in": list(added)}}, WITHOUT_AVATAR
            ).to_list(len(added))
            homes += [{**a, "role": added[a["_id"]], "added": True} for a in others]
        return homes

    async def authenticate(self, email: str, password: str) -> dict[str, Any] | None:
        agent = await self.agent_by_email(email)
        if agent is None:
            # spend the same time as a real check so timing does not reveal who exists
            await asyncio.to_thread(check_password, password, _dummy_hash())
            return None
        # scrypt takes tens of milliseconds: keep it off the event loop
        ok = await asyncio.to_thread(check_password, password, agent["password_hash"])
        if not ok or not agent.get("active", True):
            return None
        return agent

    async def set_role(self, workspace_id: str, agent_id: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if await self.set_member_role(workspace_id, agent_id, role):
            return  # an added member: their role here only
        if role != "admin":
            await self._keep_an_admin(workspace_id, agent_id)
        await self.db.agents.update_one(
            {"_id": agent_id, "workspace_id": workspace_id}, {"$set": {"role": role}}
        )

    async def set_active(self, workspace_id: str, agent_id: str, active: bool) -> None:
        if not await self.db.agents.find_one({"_id": agent_id, "workspace_id": workspace_id}):
            raise Conflict("no such agent in this workspace")
        if not active:
            await self._keep_an_admin(workspace_id, agent_id)
            await self.db.sessions.delete_many({"agent_id": agent_id})
        await self.db.agents.update_one(
            {"_id": agent_id, "workspace_id": workspace_id}, {"$set": {"active": active}}
        )

    async def set_notify(self, workspace_id: str, agent_id: str, channels: dict[str, bool]) -> None:
        """Save the agent's own notification channels (only the known ones, each on its own
        field, so a channel saved elsewhere is left as it is)."""
        fields = {f"notify.{k}": bool(v) for k, v in channels.items() if k in NOTIFY_CHANNELS}
        if fields:  # the agent's own, whichever workspace they are in
            await self.db.agents.update_one({"_id": agent_id}, {"$set": fields})

    async def _keep_an_admin(self, workspace_id: str, agent_id: str) -> None:
        await self.keep_an_admin(workspace_id, agent_id)

    # --- sessions ------------------------------------------------------------------------
    async def create_session(self, agent_id: str, ip: str, user_agent: str) -> tuple[str, str]:
        """A new session; returns (cookie token, CSRF token)."""
        csrf = secrets.token_urlsafe(32)
        fields = {"agent_id": agent_id, "csrf": csrf, "ip": ip, "user_agent": user_agent[:300]}
        return await self._insert_by_token(self.db.sessions, SESSION_TTL, fields), csrf

    async def session(self, token: str) -> dict[str, Any] | None:
        return await self._unexpired(self.db.sessions, token)

    async def end_session(self, token: str) -> None:
        await self.db.sessions.delete_one({"_id": digest(token)})

    async def session_is_live(self, session_id: str, workspace_id: str | None = None) -> bool:
        """Is the session (by its stored id) unexpired, with its agent still active (and
        still a member of `workspace_id`, when given)?"""
        doc = await self.db.sessions.find_one({"_id": session_id}, {"agent_id": 1, "expires_at": 1})
        if doc is None or doc["expires_at"] <= clock.now():
            return False
        agent = await self.agent(doc["agent_id"])
        if not agent or not agent.get("active", True):
            return False
        return workspace_id is None or await self.role_in(agent, workspace_id) is not None

    async def choose_workspace(self, session_id: str, workspace_id: str) -> None:
        """The session works in this workspace from now on (the caller checked membership)."""
        await self.db.sessions.update_one(
            {"_id": session_id}, {"$set": {"workspace_id": workspace_id}}
        )

    # --- invitations ---------------------------------------------------------------------
    async def invite(self, workspace_id: str, email: str, role: str, invited_by: str) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if await self.agent_by_email(email):
            raise Conflict(
                'an agent with this email already exists (add them with "Add an existing agent")'
            )
        fields = {
            "workspace_id": workspace_id,
            "email": email,
            "role": role,
            "invited_by": invited_by,
        }
        return await self._insert_by_token(self.db.invitations, INVITE_TTL, fields)

    async def invitation(self, token: str) -> dict[str, Any] | None:
        doc = await self._unexpired(self.db.invitations, token)
        return None if doc is None or doc.get("accepted_at") else doc

    # --- secrets handed out (session cookies, invitation links): stored by digest --------
    @staticmethod
    async def _insert_by_token(
        collection: AsyncIOMotorCollection, ttl: timedelta, fields: dict[str, Any]
    ) -> str:
        """Store `fields` under a new secret's digest, expiring after `ttl`; the secret."""
        token = secrets.token_urlsafe(32)
        now = clock.now()
        document = {"_id": digest(token), **fields, "created_at": now, "expires_at": now + ttl}
        await collection.insert_one(document)
        return token

    @staticmethod
    async def _unexpired(collection: AsyncIOMotorCollection, token: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await collection.find_one({"_id": digest(token)})
        # TTL deletion runs about once a minute: check expiry ourselves too
        return None if doc is None or doc["expires_at"] <= clock.now() else doc

    async def pending_invitations(self, workspace_id: str) -> list[dict[str, Any]]:
        cursor = self.db.invitations.find(
            {"workspace_id": workspace_id, "accepted_at": None, "expires_at": {"$gt": clock.now()}}
        ).sort("created_at", -1)
        return await cursor.to_list(200)

    async def accept_invitation(self, token: str, name: str, password: str) -> dict[str, Any]:
        """Use the invitation once (atomically) and create the agent it names."""
        invitation = await self.db.invitations.find_one_and_update(
            {"_id": digest(token), "accepted_at": None, "expires_at": {"$gt": clock.now()}},
            {"$set": {"accepted_at": clock.now()}},
            return_document=ReturnDocument.AFTER,
        )
        if invitation is None:
            raise Conflict("this invitation is no longer valid")
        return await self.create_agent(
            invitation["email"], name, password, invitation["role"], invitation["workspace_id"]
        )

    async def revoke_invitation(self, workspace_id: str, invitation_id: str) -> None:
        await self.db.invitations.delete_one({"_id": invitation_id, "workspace_id": workspace_id})

    # --- canned replies ------------------------------------------------------------------
    async def canned_replies(self, workspace_id: str) -> list[dict[str, Any]]:
        cursor = self.db.canned_replies.find({"workspace_id": workspace_id}).sort("shortcut", 1)
        return await cursor.to_list(MAX_CANNED)

    async def add_canned_reply(self, workspace_id: str, shortcut: str, text: str) -> None:
        if await self.db.canned_replies.count_documents({"workspace_id": workspace_id}) >= (
            MAX_CANNED
        ):
            raise Conflict(f"at most {MAX_CANNED} canned replies per workspace")
        try:
            await self.db.canned_replies.insert_one(
                {
                    "_id": "cr_" + secrets.token_hex(8),
                    "workspace_id": workspace_id,
                    "shortcut": shortcut,
                    "text": text,
                    "created_at": clock.now(),
                }
            )
        except DuplicateKeyError as exc:
            raise Conflict(f"the shortcut /{shortcut} already exists") from exc

    async def delete_canned_reply(self, workspace_id: str, reply_id: str) -> None:
        await self.db.canned_replies.delete_one({"_id": reply_id, "workspace_id": workspace_id})

    # --- audit trail ---------------------------------------------------------------------
    async def ensure_audit_retention(self, days: int) -> None:
        """Records expire `days` after `at`; a changed setting is applied to the old index."""
        seconds = days * 86400
        try:
            await self.db.audit.create_index(
                [("at", ASCENDING)], name=AUDIT_TTL_INDEX, expireAfterSeconds=seconds
            )
        except OperationFailure as exc:
            if exc.code not in _INDEX_OPTIONS_CONFLICT:
                raise
            await self.db.command(
                {
                    "collMod": "audit",
                    "index": {"name": AUDIT_TTL_INDEX, "expireAfterSeconds": seconds},
                }
            )

    async def add_audit(self, record: dict[str, Any]) -> bool:
        """Store one record (`_id` given); False when it was stored already (a redelivery)."""
        try:
            await self.db.audit.insert_one(record)
        except DuplicateKeyError:
            return False
        return True

    async def audit_page(
        self, workspace_id: str, cursor: str | None = None, limit: int = AUDIT_PAGE
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; the opaque cursor continues after the page's last record."""
        query: dict[str, Any] = {"workspace_id": workspace_id}
        if cursor:
            at, last_id = _decode_cursor(cursor)
            query["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        found = (
            await self.db.audit.find(query)
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit + 1)
            .to_list(limit + 1)
        )
        page = found[:limit]
        more = len(found) > limit
        return page, _encode_cursor(page[-1]) if more else None

    async def refused_origins(self, workspace_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The origins most recently refused: `{origin, count, last_at}`, latest first."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"workspace_id": workspace_id, "action": "origin.refused"}},
            {"$group": {"_id": "$origin", "count": {"$sum": "$count"}, "last_at": {"$max": "$at"}}},
            {"$sort": {"last_at": -1}},
            {"$limit": limit},
        ]
        rows = await self.db.audit.aggregate(pipeline).to_list(limit)
        return [{"origin": r["_id"], "count": r["count"], "last_at": r["last_at"]} for r in rows]


def _encode_cursor(record: dict[str, Any]) -> str:
    return cursors.encode([record["at"].isoformat(), record["_id"]])


def _decode_cursor(text: str) -> tuple[datetime, str]:
    """ValueError for anything that is not a cursor this store made."""
    try:
        at, last_id = cursors.decode(text)
        moment = datetime.fromisoformat(at)
    except (TypeError, ValueError) as exc:
        raise ValueError("not an audit cursor") from exc
    if not isinstance(last_id, str) or moment.tzinfo is None:
        raise ValueError("not an audit cursor")
    return moment, last_id


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
