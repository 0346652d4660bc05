"""Tokens, identity verification and password hashing."""

from __future__ import annotations

import hashlib
import hmac
import time

from shared.security import (
    check_password,
    hash_password,
    sign_token,
    user_hash,
    verify_token,
    verify_user_hash,
)


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
