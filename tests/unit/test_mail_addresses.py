"""The reply address and the unsubscribe token: short, lower-case safe, unforgeable."""

from __future__ import annotations

from services.mail.addresses import (
    read_unsubscribe_token,
    reply_address,
    thread_of_address,
    unsubscribe_token,
)
from services.mail.store.threads import new_thread_id

SECRET, OLD = "s3cret-current", "s3cret-previous"
DOMAIN = "reply.example.com"


def test_a_reply_address_fits_a_local_part_and_survives_lower_casing() -> None:
    thread = new_thread_id()
    address = reply_address(SECRET, thread, DOMAIN)
    local = address.split("@")[0]
    assert len(local) <= 64 and local == local.lower()
    assert thread_of_address([SECRET], address.upper(), DOMAIN) == thread
    assert thread_of_address([SECRET], f"<{address}>", DOMAIN) == thread


def test_a_rotated_secret_still_reads_addresses_already_mailed() -> None:
    thread = new_thread_id()
    assert thread_of_address([SECRET, OLD], reply_address(OLD, thread, DOMAIN), DOMAIN) == thread
    assert thread_of_address([SECRET], reply_address(OLD, thread, DOMAIN), DOMAIN) is None


def test_forged_altered_and_foreign_addresses_are_refused() -> None:
    thread = new_thread_id()
    address = reply_address(SECRET, thread, DOMAIN)
    local, _ = address.split("@")
    other = new_thread_id()
    forged = [
        f"reply+{other}-{local.split('-')[1]}@{DOMAIN}",  # another thread, same signature
        local[:-1] + ("a" if local[-1] != "a" else "b") + f"@{DOMAIN}",
        f"{local}@elsewhere.example",
        f"sales@{DOMAIN}",
        f"reply+{thread}@{DOMAIN}",
        "",
        "@",
    ]
    for candidate in forged:
        assert thread_of_address([SECRET], candidate, DOMAIN) is None, candidate


def test_the_unsubscribe_token_names_one_workspace_and_address() -> None:
    token = unsubscribe_token(SECRET, "default", "sally@example.com")
    grant = read_unsubscribe_token([SECRET], token)
    assert grant is not None and (grant.workspace_id, grant.email) == (
        "default",
        "sally@example.com",
    )
    assert read_unsubscribe_token(["another"], token) is None
    assert read_unsubscribe_token([SECRET], token[:-2] + "xx") is None
