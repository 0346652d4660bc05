"""Identity tokens (JWTs) on the widget socket and the ingest API, against the real servers.

HS256 with the identity secret, RS256 with a PEM the admin set, ES256 from a JWKS served
by a real aiohttp server; expired, forged, `none`, HS/RS confusion, too long-lived and
another user's tokens are refused with their reason; a clock 30 s off is allowed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.bus import Bus
from shared.security import verify_token
from shared.settings import Settings
from shared.web import WORKSPACES
from shared.workspaces import Workspace
from tests.integration.identity_support import Stack
from tests.integration.visitor_ws_client import ORIGIN, Visitor
from tests.integration.widget_bus import stream_events

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def pem_of(key: Any) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


def claims(sub: str = "u-42", lifetime: int = 600, shift: int = 0, **extra: Any) -> dict:
    now = int(time.time()) + shift
    return {"sub": sub, "iat": now, "exp": now + lifetime, **extra}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict, body: dict, secret: bytes | None) -> str:
    """A JWT PyJWT would refuse to make: `none`, or HS256 keyed with a public key."""
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    if secret is None:
        return head + "."
    return head + "." + b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


@pytest.fixture
def loopback_settings(settings: Settings) -> Settings:
    return settings.with_changes(jwks_allow_http_loopback=True)


@pytest.fixture
async def gateway(start_service, loopback_settings: Settings):
    return await start_service("gateway", settings=loopback_settings)


@pytest.fixture
async def chat(start_service, loopback_settings: Settings):
    return await start_service("chat", settings=loopback_settings)


async def configure(gateway, **changes: Any) -> Workspace:
    registry = gateway.app[WORKSPACES]
    workspace = registry.get("default")
    assert workspace is not None
    changed = replace(workspace, **changes)
    await registry.put(changed)
    return changed


async def identify(
    visitor: Visitor, token: str, user_id: str = "u-42", mid: str = "ident-0001"
) -> dict:
    frame = {"type": "identify", "message_id": mid, "user_id": user_id, "identity_token": token}
    await visitor.send(frame)
    return await visitor.wait_for(lambda f: f.get("ref") == mid)


async def refused_reason(gateway, settings: Settings, token: str, user_id: str = "u-42") -> str:
    visitor = await Visitor.connect(gateway, settings.write_key)
    try:
        answer = await identify(visitor, token, user_id)
    finally:
        await visitor.close()
    assert (answer["type"], answer["code"]) == ("error", "token_refused"), answer
    return str(answer["message"])


async def test_an_hs256_token_signed_with_the_identity_secret_identifies_and_verifies(
    gateway, bus: Bus, loopback_settings: Settings
) -> None:
    workspace = await configure(gateway, enforce_identity_verification=True)
    body = claims(email="sally@example.com", name="Sally")
    token = jwt.encode(body, workspace.identity_secret, "HS256")
    visitor = await Visitor.connect(gateway, loopback_settings.write_key)
    ok = await identify(visitor, token)
    assert ok["type"] == "ok" and ok["verified"] is True, ok
    signed = verify_token(loopback_settings.token_secret, ok["token"])
    assert signed is not None and signed["uid"] == "u-42" and signed["vf"] == body["exp"]
    events = await stream_events(bus, "identify")
    assert events[0]["user_id"] == "u-42" and events[0]["trusted"] is True
    assert events[0]["traits"] == {"email": "sally@example.com", "name": "Sally"}
    await visitor.close()


async def test_an_rs256_token_verified_with_the_admins_pem_passes_the_api(
    gateway, bus: Bus, loopback_settings: Settings
) -> None:
    await configure(
        gateway, enforce_identity_verification=True, identity_public_key=pem_of(RSA_KEY)
    )
    stack = Stack(gateway, loopback_settings)
    token = jwt.encode(claims("u-7"), RSA_KEY, "RS256")
    message = {"userId": "u-7", "anonymousId": "a-7", "context": {"identity_token": token}}
    status, answer, _ = await stack.post(
        "/v1/identify", message, key=loopback_settings.write_key, headers={"Origin": ORIGIN}
    )
    assert status == 200, answer
    events = await stream_events(bus, "identify")
    assert events[0]["user_id"] == "u-7" and events[0]["trusted"] is True
    assert "identity_token" not in json.dumps(events[0])  # a credential is never stored

    forged = jwt.encode(claims("u-7"), rsa.generate_private_key(65537, 2048), "RS256")
    message["context"] = {"identity_token": forged}
    status, answer, _ = await stack.post(
        "/v1/identify", message, key=loopback_settings.write_key, headers={"Origin": ORIGIN}
    )
    assert status == 403 and answer["code"] == "invalid_identity_token"
    assert "signature" in answer["message"]


async def test_an_es256_token_verified_with_keys_from_a_jwks_url(
    gateway, aiohttp_server, loopback_settings: Settings
) -> None:
    fetched: list[int] = []
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key()))

    async def jwks(request: web.Request) -> web.Response:
        fetched.append(1)
        return web.json_response({"keys": [{**jwk, "kid": "k1", "use": "sig"}]})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    keys = await aiohttp_server(app)
    await configure(gateway, identity_jwks_url=str(keys.make_url("/.well-known/jwks.json")))
    visitor = await Visitor.connect(gateway, loopback_settings.write_key)
    for n in range(2):
        token = jwt.encode(claims(), EC_KEY, "ES256", headers={"kid": "k1"})
        ok = await identify(visitor, token, mid=f"es-ok-{n:04d}")
        assert ok["type"] == "ok" and ok["verified"] is True, ok
    assert len(fetched) == 1  # the key set is cached
    other = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), "ES256")
    assert "signature" in (await identify(visitor, other, mid="es-bad-0001"))["message"]
    await visitor.close()


async def test_a_jwks_too_large_or_not_https_verifies_nothing(
    gateway, aiohttp_server, loopback_settings: Settings
) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to refuse it by
        await response.prepare(request)
        await response.write(b'{"keys": [' + b" " * (100 * 1024))
        return response

    app = web.Application()
    app.router.add_get("/jwks.json", huge)
    keys = await aiohttp_server(app)
    await configure(gateway, identity_jwks_url=str(keys.make_url("/jwks.json")))
    token = jwt.encode(claims(), EC_KEY, "ES256")
    assert "over 64 KB" in await refused_reason(gateway, loopback_settings, token)
    # a JWKS URL over plain http to a routable host is never fetched
    await configure(gateway, identity_jwks_url="http://keys.example/jwks.json")
    assert "must be https://" in await refused_reason(gateway, loopback_settings, token)


async def test_bad_tokens_are_refused_with_their_reason(
    gateway, loopback_settings: Settings
) -> None:
    workspace = await configure(gateway, identity_public_key=pem_of(RSA_KEY))
    secret, s = workspace.identity_secret, loopback_settings
    expired = jwt.encode(claims(shift=-700), secret, "HS256")
    assert "expired" in await refused_reason(gateway, s, expired)
    forged = jwt.encode(claims(), "not-the-identity-secret", "HS256")
    assert "signature" in await refused_reason(gateway, s, forged)
    none = hand_signed({"alg": "none", "typ": "JWT"}, claims(), None)
    assert "'none' is not accepted" in await refused_reason(gateway, s, none)
    # HS256 keyed with the (public) RSA key: the pinned key for HS256 is the secret only
    confused = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(), pem_of(RSA_KEY).encode())
    assert "signature" in await refused_reason(gateway, s, confused)
    too_long = jwt.encode(claims(lifetime=2 * 86400), secret, "HS256")
    assert "over this workspace's 86400 s" in await refused_reason(gateway, s, too_long)
    no_exp = jwt.encode({"sub": "u-42", "iat": int(time.time())}, secret, "HS256")
    assert "'exp'" in await refused_reason(gateway, s, no_exp)
    another = jwt.encode(claims("u-other"), secret, "HS256")
    assert "another user id" in await refused_reason(gateway, s, another)
    assert "not a JWT" in await refused_reason(gateway, s, "x" * 40)


async def test_a_shorter_lifetime_set_by_the_admin_is_enforced(
    gateway, loopback_settings: Settings
) -> None:
    workspace = await configure(gateway, identity_token_max_lifetime=300)
    token = jwt.encode(claims(lifetime=600), workspace.identity_secret, "HS256")
    assert "over this workspace's 300 s" in await refused_reason(gateway, loopback_settings, token)


async def test_a_backend_clock_30_seconds_off_is_allowed(
    gateway, loopback_settings: Settings
) -> None:
    workspace = await configure(gateway)
    secret = workspace.identity_secret
    visitor = await Visitor.connect(gateway, loopback_settings.write_key)
    ahead = jwt.encode(claims(shift=30), secret, "HS256")  # issued "in the future"
    assert (await identify(visitor, ahead, mid="ahead-0001"))["type"] == "ok"
    behind = jwt.encode(claims(lifetime=60, shift=-90), secret, "HS256")  # expired 30 s ago
    assert (await identify(visitor, behind, mid="behind-0001"))["type"] == "ok"
    await visitor.close()
