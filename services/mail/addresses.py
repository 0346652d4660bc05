"""The per-conversation reply address and the unsubscribe token.

`reply+<thread id>-<signature>@<PARLEY_REPLY_DOMAIN>`: the thread id is 16 characters of
lower-case base32 naming the conversation's thread in mail's database; the signature is
an HMAC of it with the token secret, 20 characters of lower-case base32. The local part
is 43 characters (RFC 5321 allows 64) and survives a mail system that lower-cases it. A
forged or altered address fails the signature before any lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.identifiers import normalize_email
from shared.security import sign_token, verify_token_any

REPLY_LOCAL = re.compile(r"^reply\+([a-z2-7]{16})-([a-z2-7]{20})$")
UNSUBSCRIBE_TYPE = "unsubscribe"
UNSUBSCRIBE_TTL_S = 400 * 86400


def _signature(secret: str, thread_id: str) -> str:
    digest = hmac.new(secret.encode(), f"reply:{thread_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:20]


def reply_address(secret: str, thread_id: str, domain: str) -> str:
    return f"reply+{thread_id}-{_signature(secret, thread_id)}@{domain}"


def thread_of_address(keyring: Sequence[str], address: str, domain: str) -> str | None:
    """The thread id a reply address names, if one of the keyring's secrets signed it."""
    local, sep, host = address.strip().strip("<>").lower().rpartition("@")
    if not sep or host != domain.lower():
        return None
    match = REPLY_LOCAL.match(local)
    if match is None:
        return None
    thread_id, given = match.groups()
    for secret in keyring:
        if secret and hmac.compare_digest(_signature(secret, thread_id), given):
            return thread_id
    return None


@dataclass(frozen=True)
class Unsubscribe:
    workspace_id: str
    email: str


def unsubscribe_token(secret: str, workspace_id: str, email: str) -> str:
    claims = {"typ": UNSUBSCRIBE_TYPE, "ws": workspace_id, "em": email}
    return sign_token(secret, claims, ttl_seconds=UNSUBSCRIBE_TTL_S)


def read_unsubscribe_token(keyring: Sequence[str], token: str | None) -> Unsubscribe | None:
    verified = verify_token_any(keyring, token)
    if verified is None:
        return None
    claims, _ = verified
    if claims.get("typ") != UNSUBSCRIBE_TYPE or not isinstance(claims.get("ws"), str):
        return None
    email = normalize_email(claims.get("em"))
    if email is None or not claims["ws"]:
        return None
    return Unsubscribe(claims["ws"], email)
