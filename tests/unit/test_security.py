"""Tokens, identity verification, password hashing, and key rotation with a grace period."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from shared.security import (
    check_password,
    hash_password,
    key_id,
    origin_of,
    sign_token,
    user_hash,
    verify_token,
    verify_token_any,
    verify_user_hash,
)
from shared.settings import Settings
from shared.workspaces import DEFAULT_GRACE_SECONDS, MAX_RETIRED_PER_KIND, Workspace


def test_user_hash_is_hex_hmac_sha256_of_the_user_id() -> None:
    expected = hmac.new(b"secret", b"user-42", hashlib.sha256).hexdigest()
    assert user_hash("secret", "user-42") == expected
    assert verify_user_hash("secret", "user-42", expected)
    assert verify_user_hash("secret", "user-42", expected.upper())
    assert not verify_user_hash("secret", "user-43", expected)
    assert not verify_user_hash("other", "user-42", expected)
    assert not verify_user_hash("secret", "user-42", None)


def test_tokens_verify_only_with_the_right_secret_and_before_expiry() -> None:
    token = sign_token("s3cret", {"ws": "default", "vid": "v1"})
    claims = verify_token("s3cret", token)
    assert claims is not None and claims["vid"] == "v1"
    assert verify_token("wrong", token) is None
    body, sig = token.split(".")
    assert verify_token("s3cret", body + "x." + sig) is None
    assert verify_token("s3cret", "garbage") is None
    expired = sign_token("s3cret", {"vid": "v1", "exp": int(time.time()) - 1})
    assert verify_token("s3cret", expired) is None


def test_passwords_are_salted_scrypt_hashes() -> None:
    stored = hash_password("hunter2 hunter2")
    assert stored.startswith("scrypt$") and "hunter2" not in stored
    assert stored != hash_password("hunter2 hunter2")
    assert check_password("hunter2 hunter2", stored)
    assert not check_password("hunter3 hunter3", stored)
    assert not check_password("x", "not-a-hash")


def _legacy_token(secret: str, claims: dict) -> str:
    """A token as signed before tokens carried a key id."""
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()  # noqa: E731
    payload = b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())}"


def test_tokens_carry_the_key_id_of_their_secret() -> None:
    token = sign_token("new", {"vid": "v1", "kid": "forged"})
    claims = verify_token("new", token)
    assert claims is not None and claims["kid"] == key_id("new")
    assert key_id("new") != key_id("old") and len(key_id("new")) == 8


def test_tokens_verify_against_the_current_and_previous_secrets() -> None:
    keyring = ("new", "old")
    current = verify_token_any(keyring, sign_token("new", {"vid": "v1"}))
    assert current is not None and current[0]["vid"] == "v1" and current[1] == 0
    previous = verify_token_any(keyring, sign_token("old", {"vid": "v2"}))
    assert previous is not None and previous[0]["vid"] == "v2" and previous[1] == 1
    assert verify_token_any(("new",), sign_token("old", {"vid": "v2"})) is None
    assert verify_token_any(keyring, sign_token("other", {"vid": "v3"})) is None
    assert verify_token_any(keyring, None) is None
    assert verify_token_any(keyring, "not.a-token") is None


def test_a_token_naming_a_known_key_id_must_be_signed_by_that_secret() -> None:
    body, sig = sign_token("old", {"vid": "v1"}).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["kid"] = key_id("new")  # relabelled: the signature no longer matches
    relabelled = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert verify_token_any(("new", "old"), f"{relabelled}.{sig}") is None


def test_tokens_signed_before_key_ids_verify_against_each_secret() -> None:
    legacy = _legacy_token("old", {"ws": "default", "vid": "v9"})
    found = verify_token_any(("new", "old"), legacy)
    assert found is not None and found[0]["vid"] == "v9" and found[1] == 1
    assert verify_token_any(("new",), legacy) is None


def test_previous_token_secrets_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "PARLEY_DATA_DIR": str(tmp_path),
        "PARLEY_TOKEN_SECRET": "now",
        "PARLEY_TOKEN_SECRET_PREVIOUS": "before, long-ago ,",
    }
    settings = Settings.from_env(env)
    assert settings.token_secrets == ("now", "before", "long-ago")
    assert Settings.from_env({**env, "PARLEY_TOKEN_SECRET_PREVIOUS": ""}).token_secrets == ("now",)
    assert "before" not in repr(settings)


def _workspace() -> Workspace:
    return Workspace("w", "W", write_key="wk_old", secret_key="sk_old", identity_secret="is_old")


def test_a_rotated_key_keeps_working_until_its_grace_ends() -> None:
    t0 = 1_000_000.0
    ws = _workspace().rotated("write_key", "wk_new", DEFAULT_GRACE_SECONDS, now=t0)
    assert ws.write_key == "wk_new"
    assert ws.accepts("write_key", "wk_new", t0) and ws.accepts("write_key", "wk_old", t0)
    assert ws.accepts("write_key", "wk_old", t0 + DEFAULT_GRACE_SECONDS - 1)
    assert not ws.accepts("write_key", "wk_old", t0 + DEFAULT_GRACE_SECONDS)
    assert ws.accepts("write_key", "wk_new", t0 + 10 * DEFAULT_GRACE_SECONDS)
    # a kind is never accepted for another kind
    assert not ws.accepts("secret_key", "wk_old", t0)
    assert [r.expires_at for r in ws.in_grace(t0)] == [t0 + DEFAULT_GRACE_SECONDS]
    assert ws.in_grace(t0 + DEFAULT_GRACE_SECONDS) == []


def test_rotating_with_no_grace_or_revoking_stops_the_old_key_now() -> None:
    t0 = 1_000_000.0
    now = _workspace().rotated("secret_key", "sk_new", 0, now=t0)
    assert not now.accepts("secret_key", "sk_old", t0) and now.retired_keys == []
    graced = _workspace().rotated("secret_key", "sk_new", 3600, now=t0)
    (retired,) = graced.in_grace(t0)
    assert "sk_old" not in retired.id  # the revoke form names it without revealing it
    revoked = graced.revoked(retired.id, now=t0 + 1)
    assert not revoked.accepts("secret_key", "sk_old", t0 + 1)
    assert revoked.accepts("secret_key", "sk_new", t0 + 1)
    assert graced.revoked("someone-else", now=t0 + 1).accepts("secret_key", "sk_old", t0 + 1)


def test_repeated_rotations_keep_a_bounded_number_of_previous_keys() -> None:
    ws = _workspace()
    for n in range(MAX_RETIRED_PER_KIND + 2):
        ws = ws.rotated("write_key", f"wk_{n}", 3600 + n, now=1000.0 + n)
    kept = [r.value for r in ws.in_grace(1100.0)]
    assert len(kept) == MAX_RETIRED_PER_KIND
    assert "wk_old" not in kept and f"wk_{MAX_RETIRED_PER_KIND}" in kept
    with pytest.raises(ValueError):
        ws.rotated("token_secret", "x", 0)


def test_user_hash_verifies_with_the_identity_secret_in_its_grace() -> None:
    ws = _workspace().rotated("identity_secret", "is_new", DEFAULT_GRACE_SECONDS)
    assert ws.verify_user_hash("u-1", user_hash("is_new", "u-1"))
    assert ws.verify_user_hash("u-1", user_hash("is_old", "u-1"))
    assert not ws.verify_user_hash("u-1", user_hash("is_other", "u-1"))
    assert not ws.verify_user_hash("u-2", user_hash("is_old", "u-1"))
    revoked = ws.revoked(ws.in_grace()[0].id)
    assert not revoked.verify_user_hash("u-1", user_hash("is_old", "u-1"))


def test_retired_keys_survive_the_workspace_bucket_round_trip() -> None:
    ws = _workspace().rotated("write_key", "wk_new", 3600, now=time.time())
    back = Workspace.from_json(ws.to_json())
    assert back == ws
    assert back.accepts("write_key", "wk_old")
    old_record = json.dumps(
        {k: v for k, v in json.loads(ws.to_json()).items() if k != "retired_keys"}
    )
    assert Workspace.from_json(old_record.encode()).retired_keys == []


def test_an_origin_is_scheme_host_and_port_in_lower_case() -> None:
    """Both edges (gateway widget socket, dashboard CSRF check) compare origins this way:
    a PUBLIC_URL written with capitals still matches the lower-case Origin browsers send."""
    assert origin_of("HTTPS://Shop.Example:8443/widget?x=1") == "https://shop.example:8443"
    assert origin_of("http://localhost:8080") == "http://localhost:8080"
