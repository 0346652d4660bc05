"""Continue links: a signed, expiring grant to one conversation, carried by an email.

The email a visitor gets when they missed an agent's answer holds a link
`<PARLEY_PUBLIC_URL>/c/<token>`. The token names one workspace and one
conversation and nothing else: the gateway that opens it grants that
conversation's history and the right to post in it, no profile data, no
other conversation, and it never merges the opening device's person.

Signed with the visitor-token secret (`PARLEY_TOKEN_SECRET`), so a rotation
keeps links already mailed valid through `PARLEY_TOKEN_SECRET_PREVIOUS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.security import sign_token, verify_token_any

# the claim that tells a continue link from a visitor token signed with the same secret
CONTINUE_LINK_TYPE = "continue"
DEFAULT_CONTINUE_LINK_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class ContinueGrant:
    """What a valid continue link grants: one conversation of one workspace."""

    workspace_id: str
    conversation_id: str


def continue_link_token(
    secret: str, grant: ContinueGrant, ttl_s: int = DEFAULT_CONTINUE_LINK_TTL_S
) -> str:
    claims = {
        "typ": CONTINUE_LINK_TYPE,
        "ws": grant.workspace_id,
        "conv": grant.conversation_id,
    }
    return sign_token(secret, claims, ttl_seconds=ttl_s)


def read_continue_link_token(keyring: Sequence[str], token: str | None) -> ContinueGrant | None:
    """The grant if the token is a continue link signed by a secret of the keyring and unexpired."""
    verified = verify_token_any(keyring, token)
    if verified is None:
        return None
    claims, _ = verified
    workspace_id, conversation_id = claims.get("ws"), claims.get("conv")
    if claims.get("typ") != CONTINUE_LINK_TYPE:
        return None
    if not isinstance(workspace_id, str) or not isinstance(conversation_id, str):
        return None
    if not workspace_id or not conversation_id:
        return None
    return ContinueGrant(workspace_id=workspace_id, conversation_id=conversation_id)


def continue_link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"
