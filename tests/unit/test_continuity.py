import time

from shared.continuity import (
    ContinueGrant,
    continue_link_token,
    continue_link_url,
    read_continue_link_token,
)
from shared.security import sign_token

GRANT = ContinueGrant(workspace_id="ws_1", conversation_id="c_42")


def test_a_continue_link_grants_its_one_conversation():
    token = continue_link_token("s1", GRANT)
    assert read_continue_link_token(["s1"], token) == GRANT


def test_a_link_signed_before_a_rotation_still_opens():
    token = continue_link_token("old", GRANT)
    assert read_continue_link_token(["new", "old"], token) == GRANT


def test_a_forged_or_tampered_link_is_refused():
    token = continue_link_token("s1", GRANT)
    assert read_continue_link_token(["other"], token) is None
    body, sig = token.split(".")
    assert read_continue_link_token(["s1"], body + "." + sig[:-2] + "xx") is None
    assert read_continue_link_token(["s1"], "") is None
    assert read_continue_link_token(["s1"], None) is None


def test_an_expired_link_is_refused(monkeypatch):
    token = continue_link_token("s1", GRANT, ttl_s=60)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    assert read_continue_link_token(["s1"], token) is None


def test_a_visitor_token_signed_with_the_same_secret_is_not_a_continue_link():
    visitor_token = sign_token("s1", {"ws": "ws_1", "vid": "v_1", "conv": "c_42"})
    assert read_continue_link_token(["s1"], visitor_token) is None


def test_the_link_is_under_the_public_url():
    assert continue_link_url("https://chat.example.com/", "abc.def") == (
        "https://chat.example.com/c/abc.def"
    )
