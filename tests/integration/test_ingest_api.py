"""The Segment-compatible ingest API with the official client and with raw HTTP."""

from __future__ import annotations

import base64
import gzip
import json
import uuid

import aiohttp
import pytest

from shared.bus import Bus, decode
from shared.security import user_hash
from shared.settings import DEFAULT_INGEST_RATE
from shared.web import WORKSPACES
from tests.integration.identity_support import Stack, call, segment_client
from tests.support import basic_auth, eventually


@pytest.fixture
async def stack(start_service, settings) -> Stack:
    gateway = await start_service("gateway")
    return Stack(gateway, settings)


@pytest.fixture
async def stream(bus: Bus):
    """What reached the durable events stream."""
    js = bus.js
    assert js is not None
    sub = await js.pull_subscribe(
        bus.subjects.events_all, durable="t-ingest", stream=bus.subjects.events_stream
    )

    async def read(count: int) -> list[dict]:
        got: list[dict] = []
        while len(got) < count:
            msgs = await sub.fetch(count - len(got), timeout=5)
            for msg in msgs:
                await msg.ack()
                got.append(decode(msg.data))
        return got

    return read


async def test_official_client_sync_mode_with_basic_auth(stack: Stack, stream) -> None:
    client = segment_client(stack.gateway, stack.settings.write_key)
    ok, _ = await call(
        client.identify, "u-1", {"email": "A@x.com", "name": None}, anonymous_id="anon-1"
    )
    assert ok
    await call(client.track, "u-1", "Signed Up", {"plan": "pro"})
    await call(client.page, anonymous_id="anon-1", name="Home", category=None)
    await call(client.group, "u-1", "g-1", {"name": "Acme"})
    await call(client.alias, "anon-1", "u-1")
    await call(client.screen, anonymous_id="anon-1", name="Dash")
    events = await stream(6)
    kinds = sorted(e["kind"] for e in events)
    assert kinds == ["alias", "group", "identify", "page", "screen", "track"]
    identify = next(e for e in events if e["kind"] == "identify")
    assert identify["trusted"] is True and identify["source"] == "api"
    assert identify["traits"] == {"email": "A@x.com", "name": None}  # explicit nulls accepted
    page = next(e for e in events if e["kind"] == "page")
    assert page["event"] == "Home"


async def test_batching_mode_with_gzip_delivers_every_message(stack: Stack, stream) -> None:
    errors: list = []
    client = segment_client(
        stack.gateway,
        stack.settings.write_key,
        sync_mode=False,
        gzip=True,
        on_error=lambda e, batch: errors.append(e),
    )
    for n in range(150):
        client.track(anonymous_id=f"anon-{n % 7}", event="Viewed", properties={"n": n})
    await call(client.flush)
    await call(client.join)
    assert not errors
    events = await stream(150)
    assert sorted(e["properties"]["n"] for e in events) == list(range(150))


async def test_write_key_in_body_only_like_client_2_3(stack: Stack, stream) -> None:
    body = {
        "batch": [{"type": "track", "userId": 42, "event": "Paid", "messageId": "m-1"}],
        "writeKey": stack.settings.write_key,
        "sentAt": "2026-01-01T00:00:00Z",
    }
    status, answer, _ = await stack.post("/v1/batch", body)
    assert status == 200 and answer == {"success": True}
    (event,) = await stream(1)
    assert event["user_id"] == "42"  # numbers are stringified as the clients do


async def test_per_type_endpoints_and_secret_key(stack: Stack, stream) -> None:
    status, _, _ = await stack.post(
        "/v1/identify", {"userId": "u-9", "traits": {"plan": "x"}}, key=stack.settings.secret_key
    )
    assert status == 200
    status, _, _ = await stack.post(
        "/v1/track", {"anonymousId": "a-9", "event": "Opened"}, key=stack.settings.write_key
    )
    assert status == 200
    events = await stream(2)
    assert {e["kind"] for e in events} == {"identify", "track"}


async def test_clock_skew_is_corrected_with_sent_at(stack: Stack, stream) -> None:
    body = {
        "batch": [
            {
                "type": "track",
                "anonymousId": "a",
                "event": "E",
                "timestamp": "2020-01-01T00:00:00.000+00:00",
            }
        ],
        "sentAt": "2020-01-01T00:00:10.000000+00:00",
    }
    status, _, _ = await stack.post("/v1/batch", body, key=stack.settings.write_key)
    assert status == 200
    (event,) = await stream(1)
    received = event["received_at"]
    from shared.events import parse_time

    arrived, sent = parse_time(received), parse_time(event["timestamp"])
    assert arrived is not None and sent is not None
    skew = arrived - sent
    assert 9 <= skew.total_seconds() <= 12  # ten seconds before arrival, not in 2020


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"batch": [{"type": "track", "event": "x"}]}, "no_user_anon_id"),
        ({"batch": [{"type": "track", "userId": "undefined", "event": "x"}]}, "illegal_id"),
        ({"batch": [{"type": "identify", "anonymousId": "[object Object]"}]}, "illegal_id"),
        ({"batch": [{"type": "identify", "userId": "0"}]}, "illegal_id"),
        ({"batch": [{"type": "track", "userId": "u"}]}, "missing_event"),
        (
            {
                "batch": [
                    {
                        "type": "track",
                        "userId": "u",
                        "event": "x",
                        "properties": {"blob": "x" * 33_000},
                    }
                ]
            },
            "too_large",
        ),
    ],
)
async def test_bad_messages_are_refused_with_a_reason(stack: Stack, body, code) -> None:
    status, answer, _ = await stack.post("/v1/batch", body, key=stack.settings.write_key)
    assert status == 400
    assert answer["code"] == "invalid_messages" and answer["rejected"][0]["code"] == code
    assert answer["message"]


async def test_valid_messages_of_a_partly_bad_batch_are_stored(stack: Stack, stream) -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "null", "event": "x"},
            {"type": "track", "userId": "u-ok", "event": "Kept"},
        ]
    }
    status, answer, _ = await stack.post("/v1/batch", body, key=stack.settings.write_key)
    # 200 as Segment's API answers: the client neither retries nor drops the batch
    assert status == 200 and answer["success"] is True and answer["accepted"] == 1
    assert answer["code"] == "invalid_messages"
    assert [r["index"] for r in answer["rejected"]] == [0]
    (event,) = await stream(1)
    assert event["event"] == "Kept"


async def test_body_errors_and_keys(stack: Stack) -> None:
    url = stack.url + "/v1/batch"
    auth = basic_auth(stack.settings.write_key)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, data=b"{not json", headers={**auth, "Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == "bad_json"
        big = json.dumps(
            {
                "batch": [
                    {
                        "type": "track",
                        "userId": "u",
                        "event": "e",
                        "properties": {"p": "x" * 30_000},
                    }
                ]
                * 20
            }
        ).encode()
        async with session.post(
            url,
            data=gzip.compress(big),
            headers={**auth, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == "too_large"
        async with session.post(url, json={"batch": []}, headers=basic_auth("wk_nope")) as resp:
            body = await resp.json()
            assert resp.status == 401 and set(body) == {"code", "message", "request_id"}
        async with session.post(url, json={"batch": []}) as resp:
            assert resp.status == 401


async def test_rate_limit_answers_429_with_retry_after(stack: Stack) -> None:
    registry = stack.gateway.app[WORKSPACES]
    workspace = registry.get("default")
    assert workspace is not None
    workspace.ingest_rate_per_second = 5
    await registry.put(workspace)
    batch = {"batch": [{"type": "track", "anonymousId": "a", "event": "e"}] * 10}
    status, _, _ = await stack.post("/v1/batch", batch, key=stack.settings.write_key)
    assert status == 200  # the burst allows two seconds' worth
    status, answer, headers = await stack.post("/v1/batch", batch, key=stack.settings.write_key)
    assert status == 429 and answer["code"] == "rate_limited"
    assert int(headers["Retry-After"]) >= 1


async def test_a_raised_rate_limit_takes_a_backlog_flush_without_429(stack: Stack) -> None:
    registry = stack.gateway.app[WORKSPACES]
    workspace = registry.get("default")
    assert workspace is not None
    assert workspace.ingest_rate_per_second == DEFAULT_INGEST_RATE
    batch = {"batch": [{"type": "track", "anonymousId": "a", "event": "e"}] * 100}
    # what a Segment backend flushing its queue sends: well over the old fixed 200/s
    for _ in range(DEFAULT_INGEST_RATE * 2 // 100):
        status, answer, _ = await stack.post("/v1/batch", batch, key=stack.settings.write_key)
        assert status == 200, answer
    workspace.ingest_rate_per_second = 5
    await registry.put(workspace)
    statuses = [(await stack.post("/v1/batch", batch, key=stack.settings.write_key)) for _ in "ab"]
    (status, _, headers) = statuses[-1]  # the first takes the new limit's burst
    assert status == 429 and int(headers["Retry-After"]) >= 1


async def enforce_verification(stack: Stack):
    registry = stack.gateway.app[WORKSPACES]
    workspace = registry.get("default")
    assert workspace is not None
    workspace.enforce_identity_verification = True
    workspace.allowed_origins = ["https://shop.example"]
    await registry.put(workspace)
    return workspace


BROWSER = {"Origin": "https://shop.example"}
VICTIM = {"userId": "u-victim", "anonymousId": "a-mine", "traits": {"email": "v@x.io"}}


async def test_browser_identify_needs_a_user_hash_where_verification_is_enforced(
    stack: Stack, stream
) -> None:
    workspace = await enforce_verification(stack)
    key = stack.settings.write_key
    message = {"userId": "u-7", "anonymousId": "a-7", "traits": {"name": "Eve"}}
    status, answer, _ = await stack.post("/v1/identify", message, key=key, headers=BROWSER)
    assert status == 403 and answer["code"] == "verification_required"
    forged = {**message, "context": {"user_hash": "0" * 64}}
    status, _, _ = await stack.post("/v1/identify", forged, key=key, headers=BROWSER)
    assert status == 403
    signed = {**message, "context": {"user_hash": user_hash(workspace.identity_secret, "u-7")}}
    status, _, _ = await stack.post("/v1/identify", signed, key=key, headers=BROWSER)
    assert status == 200
    # a track naming a user id without a hash goes on, untrusted (its anonymous id only)
    status, _, _ = await stack.post(
        "/v1/track",
        {"userId": "u-8", "anonymousId": "a-8", "event": "e"},
        key=key,
        headers=BROWSER,
    )
    assert status == 200
    # an origin not on the allow-list may not use the write key at all
    status, answer, _ = await stack.post(
        "/v1/track",
        {"anonymousId": "a", "event": "e"},
        key=key,
        headers={"Origin": "https://evil.example"},
    )
    assert status == 403 and answer["code"] == "origin_not_allowed"
    events = await stream(2)
    trust = {(e["kind"], e["user_id"]): e["trusted"] for e in events}
    assert trust[("identify", "u-7")] is True and trust[("track", "u-8")] is False
    browser_event = next(e for e in events if e["kind"] == "track")
    assert browser_event["context"]["ip"] == "127.0.0.1"  # what the edge saw


def _write_key_calls(key: str) -> list[tuple[str, dict, str | None, dict]]:
    """(path, body, Basic key, headers): the write key on every HTTP channel."""
    return [
        ("/v1/identify", VICTIM, key, {}),  # no Origin: what curl sends
        ("/v1/identify", VICTIM, key, BROWSER),
        ("/v1/identify", {**VICTIM, "writeKey": key}, None, {}),  # 2.3.x: key in the body
        ("/v1/batch", {"batch": [{**VICTIM, "type": "identify"}]}, key, {}),
        ("/v1/batch", {"batch": [{**VICTIM, "type": "identify"}], "writeKey": key}, None, {}),
        ("/v1/batch", {"batch": [{**VICTIM, "type": "identify"}]}, key, BROWSER),
        ("/v1/alias", {"userId": "u-victim", "previousId": "a-mine"}, key, {}),
    ]


@pytest.mark.parametrize("channel", range(7))
async def test_the_write_key_never_makes_a_call_trusted_whatever_its_headers(
    stack: Stack, bus: Bus, channel: int
) -> None:
    """The write key is public: without a user_hash it cannot name a member's user id."""
    await enforce_verification(stack)
    path, body, key, headers = _write_key_calls(stack.settings.write_key)[channel]
    status, answer, _ = await stack.post(path, body, key=key, headers=headers)
    if path == "/v1/batch":
        assert status == 400 and answer["rejected"][0]["code"] == "verification_required"
    else:
        assert status == 403 and answer["code"] == "verification_required"
    js = bus.js
    assert js is not None
    info = await js.stream_info(bus.subjects.events_stream)
    assert info.state.messages == 0  # the victim's profile never hears of this device


async def test_a_write_key_track_without_origin_is_untrusted(stack: Stack, stream) -> None:
    await enforce_verification(stack)
    status, _, _ = await stack.post(
        "/v1/track",
        {"userId": "u-victim", "anonymousId": "a-mine", "event": "e"},
        key=stack.settings.write_key,
    )
    assert status == 200
    (event,) = await stream(1)
    assert event["trusted"] is False  # identity files it under a-mine only


@pytest.mark.parametrize("where", ["basic", "body", "batch-basic", "batch-body"])
async def test_the_secret_key_is_a_server_sdks_write_key_and_is_trusted(
    stack: Stack, stream, where: str
) -> None:
    await enforce_verification(stack)
    secret = stack.settings.secret_key
    message = {"userId": "u-42", "anonymousId": "a-42", "traits": {"plan": "pro"}}
    if where == "basic":
        status, _, _ = await stack.post("/v1/identify", message, key=secret)
    elif where == "body":
        status, _, _ = await stack.post("/v1/identify", {**message, "writeKey": secret})
    else:
        batch = {"batch": [{**message, "type": "identify"}]}
        if where == "batch-body":
            status, _, _ = await stack.post("/v1/batch", {**batch, "writeKey": secret})
        else:
            status, _, _ = await stack.post("/v1/batch", batch, key=secret)
    assert status == 200
    (event,) = await stream(1)
    assert (event["user_id"], event["trusted"]) == ("u-42", True)


async def test_the_official_client_with_the_secret_key_is_trusted(stack: Stack, stream) -> None:
    await enforce_verification(stack)
    client = segment_client(stack.gateway, stack.settings.secret_key)
    ok, _ = await call(client.identify, "u-5", {"name": "Sam"}, anonymous_id="a-5")
    assert ok
    (event,) = await stream(1)
    assert event["trusted"] is True


async def test_client_ip_and_cdn_geo_only_from_trusted_proxies(
    start_service, settings, stream
) -> None:
    gateway = await start_service(
        "gateway", settings=settings.with_changes(trusted_proxies=("127.0.0.0/8",))
    )
    stack = Stack(gateway, settings)
    headers = {
        "Origin": "https://shop.example",
        "X-Forwarded-For": "203.0.113.9, 81.2.69.1",
        "CF-IPCountry": "GB",
    }
    status, _, _ = await stack.post(
        "/v1/track", {"anonymousId": "a", "event": "e"}, key=settings.write_key, headers=headers
    )
    assert status == 200
    (event,) = await stream(1)
    assert event["context"]["ip"] == "81.2.69.1"
    assert event["context"]["geo"] == {"country_code": "GB"}


async def test_untrusted_peer_cannot_spoof_ip_or_geo(stack: Stack, stream) -> None:
    headers = {
        "Origin": "https://shop.example",
        "X-Forwarded-For": "81.2.69.1",
        "CF-IPCountry": "GB",
    }
    status, _, _ = await stack.post(
        "/v1/track",
        {"anonymousId": "a", "event": "e"},
        key=stack.settings.write_key,
        headers=headers,
    )
    assert status == 200
    (event,) = await stream(1)
    assert event["context"]["ip"] == "127.0.0.1" and "geo" not in event["context"]


async def test_a_retried_message_is_stored_once(stack: Stack, bus: Bus) -> None:
    message = {"type": "track", "anonymousId": "a", "event": "e", "messageId": uuid.uuid4().hex}
    for _ in range(3):
        status, _, _ = await stack.post(
            "/v1/batch", {"batch": [message]}, key=stack.settings.write_key
        )
        assert status == 200
    js = bus.js
    assert js is not None

    async def stored_once() -> bool:
        info = await js.stream_info(bus.subjects.events_stream)
        return info.state.messages == 1

    await eventually(stored_once)


async def test_basic_header_must_be_well_formed(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            stack.url + "/v1/batch", json={"batch": []}, headers={"Authorization": "Basic !!!"}
        ) as resp:
            assert resp.status == 401
        token = base64.b64encode(f"{stack.settings.write_key}:".encode()).decode()
        async with session.post(
            stack.url + "/v1/batch", json={"batch": []}, headers={"Authorization": f"Basic {token}"}
        ) as resp:
            assert resp.status == 200


async def test_only_a_bus_failure_answers_503_with_retry_after(stack: Stack, bus: Bus) -> None:
    js = bus.js
    assert js is not None
    await js.delete_stream(bus.subjects.events_stream)  # JetStream: no stream answers
    message = {"anonymousId": "a", "event": "e"}
    status, answer, headers = await stack.post("/v1/track", message, key=stack.settings.write_key)
    assert status == 503 and answer["code"] == "unavailable"
    assert int(headers["Retry-After"]) >= 1


async def test_a_bug_is_a_logged_500_with_a_request_id_not_a_retry(
    stack: Stack, monkeypatch, caplog
) -> None:
    from services.gateway import ingest

    async def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug, not an outage")

    monkeypatch.setattr(ingest, "publish_events", broken)
    body = {"batch": [{"type": "track", "anonymousId": "a", "event": "e"}]}
    with caplog.at_level("ERROR", logger="parley.gateway.ingest"):
        status, answer, headers = await stack.post("/v1/batch", body, key=stack.settings.write_key)
    assert status == 500 and answer["code"] == "internal"
    assert "Retry-After" not in headers
    (record,) = [r for r in caplog.records if r.name == "parley.gateway.ingest"]
    assert record.request_id == answer["request_id"] and len(answer["request_id"]) >= 16


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"n": value}
    return value


KEPT = {"type": "track", "anonymousId": "a-good", "event": "Kept"}
ANON = {"anonymousId": "a-bad"}


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ({**ANON, "type": "identify", "userId": int("9" * 400)}, "bad_number"),
        ({**ANON, "type": "identify", "traits": {"n": 2**70}}, "bad_number"),
        ({**ANON, "type": "identify", "traits": {"n": -(2**63) - 1}}, "bad_number"),
        ({**ANON, "type": "identify", "traits": {"n": float("nan")}}, "bad_number"),
        (
            {**ANON, "type": "track", "event": "e", "properties": {"x": [float("inf")]}},
            "bad_number",
        ),
        ({**ANON, "type": "track", "event": "hi \ud800"}, "bad_text"),
        ({**ANON, "type": "identify", "traits": {"\udc00key": 1}}, "bad_text"),
        ({**ANON, "type": "identify", "traits": {"a\x00b": 1}}, "bad_text"),
        ({**ANON, "type": "track", "event": "e", "properties": _nested(40)}, "too_deep"),
        (
            {**ANON, "type": "track", "event": "e", "timestamp": "0001-01-01T00:00:00Z"},
            "timestamp_out_of_range",
        ),
        (
            {**ANON, "type": "track", "event": "e", "timestamp": "1999-12-31T23:59:59Z"},
            "timestamp_out_of_range",
        ),
        (
            {**ANON, "type": "track", "event": "e", "timestamp": "0001-01-01T00:00:00+01:00"},
            "bad_timestamp",
        ),
    ],
)
async def test_a_message_the_store_cannot_hold_is_refused_and_the_rest_stored(
    stack: Stack, stream, bad: dict, code: str
) -> None:
    body = {"batch": [bad, KEPT]}
    status, answer, _ = await stack.post("/v1/batch", body, key=stack.settings.write_key)
    assert status == 200 and answer["code"] == "invalid_messages", answer
    assert answer["accepted"] == 1
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(0, code)]
    assert answer["rejected"][0]["message"]
    (event,) = await stream(1)
    assert event["event"] == "Kept"


async def test_a_sent_at_in_year_9999_refuses_the_timestamps_it_would_correct(
    stack: Stack, stream
) -> None:
    body = {
        "batch": [
            {**ANON, "type": "track", "event": "e", "timestamp": "2026-01-01T00:00:00Z"},
            KEPT,  # no timestamp: received now, sentAt plays no part
        ],
        "sentAt": "9999-12-31T23:59:59Z",
    }
    status, answer, _ = await stack.post("/v1/batch", body, key=stack.settings.write_key)
    assert status == 200 and answer["accepted"] == 1
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(0, "timestamp_out_of_range")]
    (event,) = await stream(1)
    assert event["event"] == "Kept"


async def test_a_clock_stuck_in_1970_is_still_corrected_by_sent_at(stack: Stack, stream) -> None:
    body = {
        "batch": [{**ANON, "type": "track", "event": "e", "timestamp": "1970-01-01T00:00:00Z"}],
        "sentAt": "1970-01-01T00:00:05Z",
    }
    status, _, _ = await stack.post("/v1/batch", body, key=stack.settings.write_key)
    assert status == 200
    (event,) = await stream(1)
    assert event["timestamp"] > "2025"  # five seconds before it arrived


async def test_a_body_nested_past_the_parser_is_a_400_not_a_retry(stack: Stack) -> None:
    deep = b'{"batch": [{"type": "track", "anonymousId": "a", "event": "e", "properties": '
    deep += b'{"n": ' * 5000 + b"1" + b"}" * 5000 + b"}]}"
    auth = basic_auth(stack.settings.write_key)
    async with aiohttp.ClientSession() as session:
        for body in (deep, b"[" * 5000 + b"]" * 5000):
            async with session.post(stack.url + "/v1/batch", data=body, headers=auth) as resp:
                assert resp.status == 400 and (await resp.json())["code"] == "too_deep"


async def test_a_single_call_with_an_unstorable_trait_is_a_400(stack: Stack) -> None:
    status, answer, _ = await stack.post(
        "/v1/identify", {"userId": "u-1", "traits": {"n": 2**70}}, key=stack.settings.write_key
    )
    assert status == 400 and answer["code"] == "bad_number" and "traits.n" in answer["message"]


async def test_dollar_and_dotted_keys_are_stored_as_they_are(stack: Stack, stream) -> None:
    traits = {"address": {"a.b": 1, "$c": {"d": "e"}}, "": 0}
    status, _, _ = await stack.post(
        "/v1/identify", {"userId": "u-1", "traits": traits}, key=stack.settings.write_key
    )
    assert status == 200
    (event,) = await stream(1)
    assert event["traits"] == traits


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(b'{"batch": []}')[:-6]),  # cut short
        ("br", b"{}"),
        ("nonsense", b"{}"),
    ],
    ids=["corrupt-gzip", "truncated-gzip", "brotli", "unknown"],
)
async def test_a_corrupt_or_unknown_encoding_is_a_json_400_and_no_traceback(
    stack: Stack, caplog, encoding: str, body: bytes
) -> None:
    auth = basic_auth(stack.settings.write_key)
    headers = {**auth, "Content-Encoding": encoding, "Content-Type": "application/json"}
    with caplog.at_level("WARNING"):
        async with aiohttp.ClientSession() as session:
            async with session.post(stack.url + "/v1/batch", data=body, headers=headers) as resp:
                assert resp.status == 400
                assert (await resp.json())["code"] == "bad_body"
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
