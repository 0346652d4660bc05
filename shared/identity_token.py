"""Short-lived identity tokens: a JWT the product backend signs instead of a `user_hash`.

A workspace accepts HS256 tokens signed with its identity secret (current or in its
grace), and RS256/ES256 tokens verified with the public key (PEM) or the JWKS URL the
admin set (Dashboard → Settings → Identity verification). The algorithm is pinned by the
key that verifies, never taken from the token: the identity secret verifies HS256 only,
an RSA key RS256 only, a P-256 key ES256 only, so `none` and an HS256 token "signed"
with the public key are refused. `sub`, `exp` and `iat` are required, `exp - iat` may
not exceed the workspace's maximum lifetime, and clocks may differ by `LEEWAY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from shared.workspaces import Workspace

LEEWAY_SECONDS = 60
MAX_TOKEN_CHARS = 4096
MAX_PEM_CHARS = 8192
JWKS_MAX_BYTES = 64 * 1024
JWKS_TIMEOUT_SECONDS = 3.0
JWKS_TTL_SECONDS = 300.0
# a JWKS that failed is not asked again for this long (a token flood must not become
# a request flood to the admin's key server)
JWKS_RETRY_SECONDS = 10.0
MAX_ID_CHARS = 255


class TokenRefused(Exception):
    """Why a token is not accepted: `reason` is shown in the widget and the API."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedIdentity:
    user_id: str
    email: str | None = None
    name: str | None = None
    # the token's exp (None: a user_hash, which does not expire): a proof lasts this long
    expires_at: float | None = None

    def traits(self) -> dict[str, str]:
        return {k: v for k, v in (("email", self.email), ("name", self.name)) if v}


def pinned_alg(key: Any) -> str:
    """The one algorithm a public key verifies; ValueError for any other kind of key."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError("an RSA key must have at least 2048 bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("the key must be an RSA (RS256) or P-256 EC (ES256) public key")


def read_public_key(pem: str) -> tuple[Any, str]:
    """A PEM public key and its algorithm; ValueError with the message to show."""
    if len(pem) > MAX_PEM_CHARS:
        raise ValueError(f"a public key is at most {MAX_PEM_CHARS} characters")
    try:
        key = load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from exc
    return key, pinned_alg(key)


def check_jwks_url(url: str, allow_http_loopback: bool) -> str:
    """An https URL (http only to a loopback address when the setting allows it)."""
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.hostname:
        return url.strip()
    if parts.scheme == "http" and allow_http_loopback and _loopback(parts.hostname or ""):
        return url.strip()
    raise ValueError("the JWKS URL must be https://")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JwksCache:
    """Key sets fetched with a timeout and a size limit, kept `JWKS_TTL_SECONDS`."""

    def __init__(self, allow_http_loopback: bool = False) -> None:
        self.allow_http_loopback = allow_http_loopback
        self._sets: dict[str, tuple[float, list[tuple[str | None, Any, str]]]] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def keys(self, url: str) -> list[tuple[str | None, Any, str]]:
        """(kid, key, alg) of each usable key at `url`; TokenRefused when unavailable."""
        now = time.monotonic()
        if (cached := self._sets.get(url)) and cached[0] > now:
            return cached[1]
        if (failed := self._failed.get(url)) and failed[0] > now:
            raise TokenRefused(failed[1])
        async with self._locks.setdefault(url, asyncio.Lock()):
            if (cached := self._sets.get(url)) and cached[0] > time.monotonic():
                return cached[1]
            try:
                found = _usable_keys(await self._fetch(url))
            except TokenRefused as exc:
                self._failed[url] = (time.monotonic() + JWKS_RETRY_SECONDS, exc.reason)
                raise
            self._sets[url] = (time.monotonic() + JWKS_TTL_SECONDS, found)
            self._failed.pop(url, None)
            return found

    async def _fetch(self, url: str) -> Any:
        try:
            check_jwks_url(url, self.allow_http_loopback)
        except ValueError as exc:
            raise TokenRefused(str(exc)) from exc
        timeout = aiohttp.ClientTimeout(total=JWKS_TIMEOUT_SECONDS)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with http.get(url, allow_redirects=False) as response:
                    if response.status != 200:
                        raise TokenRefused(f"the JWKS URL answered {response.status}")
                    body = await _bounded(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TokenRefused("the JWKS URL could not be fetched") from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise TokenRefused("the JWKS is not JSON") from exc


async def _bounded(response: aiohttp.ClientResponse) -> bytes:
    """The body, refused as soon as it passes JWKS_MAX_BYTES (whatever Content-Length says)."""
    too_big = TokenRefused(f"the JWKS is over {JWKS_MAX_BYTES // 1024} KB")
    if (response.content_length or 0) > JWKS_MAX_BYTES:
        raise too_big
    body = bytearray()
    async for chunk in response.content.iter_chunked(16384):
        body += chunk
        if len(body) > JWKS_MAX_BYTES:
            raise too_big
    return bytes(body)


def _usable_keys(document: Any) -> list[tuple[str | None, Any, str]]:
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise TokenRefused("the JWKS has no keys")
    found = []
    for entry in keys[:50]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry).key
            alg = pinned_alg(key)
        except (jwt.PyJWKError, ValueError, TypeError):
            continue  # a key of another kind (or private, or broken): not ours to use
        if entry.get("alg") not in (None, alg):
            continue
        kid = entry.get("kid")
        found.append((kid if isinstance(kid, str) else None, key, alg))
    return found


async def _candidates(
    workspace: Workspace, header_alg: str, kid: str | None, jwks: JwksCache
) -> list[tuple[Any, str]]:
    """The keys that may verify a token of `header_alg`, each with its pinned algorithm."""
    if header_alg == "HS256":
        return [(secret, "HS256") for secret in workspace.keys_of("identity_secret") if secret]
    found: list[tuple[Any, str]] = []
    if workspace.identity_public_key:
        try:
            found.append(read_public_key(workspace.identity_public_key))
        except ValueError:
            pass  # the dashboard checked it; a bad one verifies nothing
    found = [(key, alg) for key, alg in found if alg == header_alg]
    if workspace.identity_jwks_url:
        try:
            listed = await jwks.keys(workspace.identity_jwks_url)
        except TokenRefused:
            if found:  # the PEM may still verify it
                return found
            raise
        for key_id, key, alg in listed:
            if alg == header_alg and (kid is None or key_id is None or key_id == kid):
                found.append((key, alg))
    return found


def _header(token: str) -> tuple[str, str | None]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise TokenRefused("the identity token is not a JWT") from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ("HS256", "RS256", "ES256"):
        raise TokenRefused(f"the identity token's alg {str(alg)[:20]!r} is not accepted")
    return alg, kid if isinstance(kid, str) else None


def _decoded(token: str, candidates: list[tuple[Any, str]]) -> dict[str, Any]:
    expired = False
    for key, alg in candidates:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                leeway=LEEWAY_SECONDS,
                options={"require": ["sub", "exp", "iat"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            expired = True  # signed by this key, but too late
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused(f"the identity token has no {exc.claim!r} claim") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRefused("the identity token is issued in the future") from exc
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(f"the identity token is invalid: {str(exc)[:100]}") from exc
    if expired:
        raise TokenRefused("the identity token has expired")
    raise TokenRefused("the identity token's signature does not match this workspace's key")


def _identity(claims: dict[str, Any], max_lifetime: int) -> VerifiedIdentity:
    lifetime = float(claims["exp"]) - float(claims["iat"])
    if lifetime > max_lifetime:
        raise TokenRefused(
            f"the identity token lives {int(lifetime)} s, over this workspace's {max_lifetime} s"
        )
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_ID_CHARS:
        raise TokenRefused("the identity token's sub must be a user id")
    return VerifiedIdentity(
        user_id=sub,
        email=_text(claims, "email"),
        name=_text(claims, "name"),
        expires_at=float(claims["exp"]),
    )


def _text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value[:MAX_ID_CHARS] if isinstance(value, str) and value.strip() else None


async def verify_identity_token(
    workspace: Workspace, token: Any, jwks: JwksCache
) -> VerifiedIdentity:
    """Who a valid token names; TokenRefused with the reason to show otherwise."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused(f"an identity token is a JWT of at most {MAX_TOKEN_CHARS} characters")
    alg, kid = _header(token)
    candidates = await _candidates(workspace, alg, kid, jwks)
    if not candidates:
        raise TokenRefused(f"this workspace has no key that verifies {alg} identity tokens")
    claims = _decoded(token, candidates)
    return _identity(claims, workspace.identity_token_max_lifetime)
