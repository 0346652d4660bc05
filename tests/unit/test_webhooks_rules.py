"""The webhooks service's pure parts: signatures (and the docs' receiver snippets, run
as written), the SSRF guard's address checks, URL shapes, the retry schedule."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.webhooks import signing
from services.webhooks.deliver import retry_delay
from services.webhooks.targets import (
    GuardedResolver,
    RefusedTarget,
    check_literal,
    check_url,
    is_public,
)
from services.webhooks.topics import from_chat, from_identity
from shared.settings import WebhookSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "webhooks.md").read_text()


def _block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert found is not None, language
    return found.group(1)


def _signed(secrets: list[str]) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"id": "evt_1", "type": "person.promoted", "data": {"a": "é"}}).encode()
    return signing.headers(secrets, "evt_1", int(time.time()), body), body


def test_the_docs_python_snippet_verifies_what_is_signed() -> None:
    scope: dict[str, Any] = {}
    exec(_block("python"), scope)  # noqa: S102 - the documented snippet, as written
    verify = scope["verify"]
    old, new = signing.new_secret(), signing.new_secret()
    headers, body = _signed([new, old])
    assert verify(new, headers, body) and verify(old, headers, body)
    assert not verify(signing.new_secret(), headers, body)
    assert not verify(new, headers, body + b" ")
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 600)}
    assert not verify(new, stale, body)


def test_the_docs_node_snippet_verifies_what_is_signed() -> None:
    secret = signing.new_secret()
    headers, body = _signed([secret])
    script = _block("js") + (
        "\nconst [secret, headers, body] = JSON.parse(process.argv[1]);"
        "\nconst raw = Buffer.from(body, 'base64');"
        "\nconsole.log(JSON.stringify([verify(secret, headers, raw),"
        " verify(secret, headers, Buffer.concat([raw, Buffer.from(' ')]))]));"
    )
    import base64

    arg = json.dumps([secret, headers, base64.b64encode(body).decode()])
    out = subprocess.run(
        ["node", "-e", script, arg], capture_output=True, text=True, check=True, timeout=30
    )
    assert json.loads(out.stdout) == [True, False]


def test_secrets_are_whsec_and_32_bytes() -> None:
    import base64

    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "100.64.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(address)


def test_ip_literals_are_checked_unless_private_is_allowed() -> None:
    with pytest.raises(RefusedTarget):
        check_literal("169.254.169.254", allow_private=False)
    with pytest.raises(RefusedTarget):
        check_literal("[::1]", allow_private=False)
    check_literal("169.254.169.254", allow_private=True)
    check_literal("example.com", allow_private=False)  # a name: the resolver checks it


def test_the_resolver_refuses_a_name_with_any_private_address() -> None:
    async def resolve(allow: bool) -> list[Any]:
        return await GuardedResolver(allow).resolve("localhost", 80)

    with pytest.raises(RefusedTarget):
        asyncio.run(resolve(False))
    assert all(r["hostname"] == "localhost" for r in asyncio.run(resolve(True)))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "javascript:alert(1)",
        "https://",
        "https://u:p@example.com/",
        "https://example.com/" + "a" * 2000,
        "https://exa mple.com/",
        "https://example.com:99999/",
        None,
        42,
    ],
)
def test_bad_urls_are_refused(url: Any) -> None:
    with pytest.raises(RefusedTarget):
        check_url(url)


def test_retry_delays_double_with_jitter_and_a_cap() -> None:
    hooks = WebhookSettings(retry_window_s=72 * 3600, base_delay_s=5)
    ctx: Any = SimpleNamespace(hooks=hooks)
    for attempts, full in ((1, 5), (2, 10), (3, 20), (10, 2560)):
        for _ in range(20):
            assert full / 2 <= retry_delay(ctx, attempts) <= full
    cap = 72 * 3600 / 12
    assert cap / 2 <= retry_delay(ctx, 40) <= cap
    assert retry_delay(ctx, 1, retry_after=120) >= 120
    assert retry_delay(ctx, 1, retry_after=10**9) <= cap


def test_a_fact_seen_twice_is_one_event() -> None:
    fact: dict[str, Any] = {
        "kind": "agent_message",
        "workspace_id": "w",
        "conversation_id": "c",
        "visitor_id": "v",
        "message": {"id": "m1", "seq": 2, "text": "hi", "author": {"id": "a"}, "via": None},
    }
    one, two = from_chat(fact), from_chat(dict(fact))
    assert one is not None and two is not None and one.id == two.id
    assert one.type == "message.created" and one.data["sender"] == "agent"
    email = from_chat(
        {**fact, "kind": "visitor_message", "message": {**fact["message"], "via": "email"}}
    )
    assert email is not None and email.data["sender"] == "email" and email.id == one.id
    assert from_chat({**fact, "kind": "seen", "seq": 2}) is None
    rating = {"score": 4, "comment": "ok", "at": "2026-01-01T00:00:00.000Z"}
    rated = from_chat({**fact, "kind": "rated", "rating": rating})
    assert rated is not None and rated.type == "conversation.rated"
    assert rated.data == {"conversation": rated.data["conversation"], "rating": rating}
    assert rated.data["conversation"]["id"] == "c"
    again = from_chat(
        {
            **fact,
            "kind": "rated",
            "rating": {**rating, "score": 5, "at": "2026-01-01T01:00:00.000Z"},
        }
    )
    assert again is not None and again.id != rated.id  # a re-rating is its own event
    merged = from_identity({"workspace_id": "w", "survivor_id": "p1", "merged_id": "p2"})
    assert merged is not None and merged.type == "person.merged"
    fact = {
        "kind": "person_unmerged",
        "workspace_id": "w",
        "profile_id": "p2",
        "survivor_id": "p1",
        "merge_id": "m1",
        "distinct_ids": ["a2"],
        "unmerged_at": "2026-12-02T12:00:00.000Z",
        "actor": {"kind": "agent", "id": "ag1", "email": "lead@example.com"},
    }
    unmerged = from_identity(fact)
    assert unmerged is not None and unmerged.type == "person.unmerged"
    assert unmerged.data["profile_id"] == "p2" and unmerged.data["survivor_id"] == "p1"
    assert unmerged.data["actor"]["email"] == "lead@example.com"
    again = from_identity({**fact, "unmerged_at": "later"})  # a redelivery: one id per undo
    assert again is not None and again.id == unmerged.id
    assert unmerged.id != merged.id


def test_webhook_settings_from_the_environment() -> None:
    read = WebhookSettings.from_env(
        {
            "PARLEY_WEBHOOKS_RETRY_WINDOW_S": "3.5",
            "PARLEY_WEBHOOKS_BASE_DELAY_S": "0.1",
            "PARLEY_WEBHOOKS_IN_FLIGHT": "7",
            "PARLEY_WEBHOOKS_TIMEOUT_S": "2",
            "PARLEY_WEBHOOKS_ALLOW_PRIVATE": "true",
        }
    )
    assert read == WebhookSettings(3.5, 0.1, 7, 2.0, True)
    assert WebhookSettings.from_env({}) == WebhookSettings(72 * 3600, 5.0, 4, 10.0, False)
    for name, value in (
        ("PARLEY_WEBHOOKS_RETRY_WINDOW_S", "0"),
        ("PARLEY_WEBHOOKS_RETRY_WINDOW_S", str(15 * 86400)),
        ("PARLEY_WEBHOOKS_BASE_DELAY_S", "soon"),
        ("PARLEY_WEBHOOKS_IN_FLIGHT", "0"),
        ("PARLEY_WEBHOOKS_ALLOW_PRIVATE", "maybe"),
    ):
        with pytest.raises(ValueError, match=name):
            WebhookSettings.from_env({name: value})
