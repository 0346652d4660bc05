"""Identity tokens at the gateway: the JWKS cache every edge shares, and the API's check.

A Segment call with the write key may prove its `userId` with an identity token (a JWT,
shared/identity_token.py) in `context.identity_token` or `integrations.Parley.identity_token`
instead of a `user_hash`. The token is checked here, before the message is normalised,
because a JWKS may have to be fetched; the token itself is never stored with the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from shared.errors import PermanentError
from shared.identity_token import JwksCache, TokenRefused, VerifiedIdentity, verify_identity_token
from shared.web import SETTINGS
from shared.workspaces import Workspace

JWKS = web.AppKey("identity_jwks", JwksCache)
KEYS = ("identity_token", "identityToken")


@dataclass(frozen=True)
class Proven:
    """A message with its token taken out, and who the token proved (None: no token)."""

    raw: Any
    identity: VerifiedIdentity | None


def _token_of(raw: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The token (None: none given) and the message without it."""
    token, stripped = None, dict(raw)
    context = raw.get("context")
    if isinstance(context, dict) and any(k in context for k in KEYS):
        stripped["context"] = {k: v for k, v in context.items() if k not in KEYS}
        token = next(context[k] for k in KEYS if k in context)
    integrations = raw.get("integrations")
    ours = integrations.get("Parley") if isinstance(integrations, dict) else None
    if isinstance(ours, dict) and any(k in ours for k in KEYS):
        assert isinstance(integrations, dict)
        kept = {k: v for k, v in ours.items() if k not in KEYS}
        stripped["integrations"] = {**integrations, "Parley": kept}
        token = token if token is not None else next(ours[k] for k in KEYS if k in ours)
    return token, stripped


async def prove(workspace: Workspace, raw: Any, jwks: JwksCache) -> Proven:
    """Check a message's identity token; PermanentError(`invalid_identity_token`) says why
    a bad one is refused (forged, expired, too long-lived, naming another user id)."""
    if not isinstance(raw, dict):
        return Proven(raw, None)
    token, stripped = _token_of(raw)
    if token is None:
        return Proven(raw, None)
    try:
        identity = await verify_identity_token(workspace, token, jwks)
    except TokenRefused as exc:
        raise PermanentError(exc.reason, code="invalid_identity_token") from exc
    named = stripped.get("userId")
    if named is None and stripped.get("type") in ("identify", "alias"):
        stripped["userId"] = named = identity.user_id
    if str(named) != identity.user_id:
        raise PermanentError(
            "the identity token's sub is another user id", code="invalid_identity_token"
        )
    if stripped.get("type") == "identify" and identity.traits():
        traits = stripped.get("traits")
        stripped["traits"] = {**(traits if isinstance(traits, dict) else {}), **identity.traits()}
    return Proven(stripped, identity)


def setup(app: web.Application) -> None:
    app[JWKS] = JwksCache(allow_http_loopback=app[SETTINGS].jwks_allow_http_loopback)
