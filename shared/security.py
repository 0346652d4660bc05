"""Signing, hashing and comparisons that every edge uses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    """The origin (`scheme://host[:port]`, lower case, as browsers send it) of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def user_hash(identity_secret: str, user_id: str) -> str:
    """Identity verification as Intercom/Chatwoot do it: hex HMAC-SHA256 of the user id."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_user_hash(identity_secret: str, user_id: str, given: str | None) -> bool:
    if not given or not isinstance(given, str):
        return False
    return constant_time_equals(user_hash(identity_secret, user_id), given.strip().lower())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(secret: str) -> str:
    """A short public name for a signing secret, so a token says which secret signed it."""
    return _b64(hashlib.sha256(b"parley-kid:" + secret.encode()).digest())[:8]


def sign_token(secret: str, claims: dict[str, Any], ttl_seconds: int | None = None) -> str:
    """A compact signed token `body.signature` (HMAC-SHA256); claims are visible, not secret.

    The claims carry `kid`, the signing secret's key id, for rotation (verify_token_any).
    """
    body = dict(claims)
    body.setdefault("iat", int(time.time()))
    body["kid"] = key_id(secret)
    if ttl_seconds is not None:
        body["exp"] = int(time.time()) + ttl_seconds
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def verify_token(secret: str, token: str | None) -> dict[str, Any] | None:
    """The claims if the signature holds and the token has not expired, else None."""
    if not token or not isinstance(token, str) or token.count(".") != 1 or len(token) > 2048:
        return None
    payload, sig = token.split(".")
    expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not constant_time_equals(expected, sig):
        return None
    try:
        claims = json.loads(_unb64(payload))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    if "exp" in claims and claims["exp"] < time.time():
        return None
    return claims


def _unverified_kid(token: str) -> str | None:
    try:
        claims = json.loads(_unb64(token.split(".")[0]))
    except (ValueError, IndexError):
        return None
    kid = claims.get("kid") if isinstance(claims, dict) else None
    return kid if isinstance(kid, str) else None


def verify_token_any(
    keyring: Sequence[str], token: str | None
) -> tuple[dict[str, Any], int] | None:
    """Verify against the current secret (index 0) and the previous ones of a rotation.

    Returns the claims and the index of the secret that signed them: above 0 means
    a previous secret, so the caller re-signs with the current one. A token naming
    a key id none of the secrets has is refused without trying them all; one without
    a key id (signed before key ids existed) is tried against each.
    """
    if not token or not isinstance(token, str) or token.count(".") != 1 or len(token) > 2048:
        return None
    kid = _unverified_kid(token)
    for index, secret in enumerate(keyring):
        if not secret or (kid is not None and key_id(secret) != kid):
            continue
        claims = verify_token(secret, token)
        if claims is not None:
            return claims, index
    return None


# scrypt parameters: n=2**14, r=8, p=1 is the interactive-login setting (~16 MiB, tens of ms).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(),
        salt=_unb64(salt),
        dklen=32,
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 1024**2,
    )
    return hmac.compare_digest(got, _unb64(digest))
