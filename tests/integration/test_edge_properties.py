"""Property tests through real sockets: whatever a client sends, the ingest API answers 2xx or
4xx and the widget socket an answer or an error frame; never a 5xx, a dropped or stuck socket,
or an error in the gateway's log. Hypothesis runs in a worker thread and drives the servers on
the test's event loop, so it shrinks a failure to the smallest input that still breaks."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import bson
import pytest
from bson.errors import InvalidDocument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.app import create_app
from services.gateway.visitor.frames import HANDLERS
from services.gateway.visitor.limits import LIMITS, Limits
from shared.web import WORKSPACES
from tests import strategies
from tests.integration.visitor_ws_client import Visitor
from tests.support import basic_auth, eventually

EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PATHS = ["/v1/batch", "/v1/identify", "/v1/track", "/v1/page", "/v1/alias", "/v1/group"]


class LogErrors(logging.Handler):
    """Every ERROR record (a traceback) any logger writes while the property runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_errors():
    handler = LogErrors()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


async def run_property(check: Callable[..., Coroutine[Any, Any, None]], *strats: Any) -> None:
    """Run `check` (a coroutine on this loop) for each example Hypothesis draws."""
    loop = asyncio.get_running_loop()

    @EXAMPLES
    @given(st.tuples(*strats))
    def each(example: tuple) -> None:
        asyncio.run_coroutine_threadsafe(check(*example), loop).result(timeout=60)

    await asyncio.to_thread(each)


def _encode(body: Any) -> bytes:
    return json.dumps(body).encode(errors="surrogatepass")  # NaN and lone surrogates stay in


bodies = (
    st.builds(
        lambda batch, ctx: {"batch": batch, "context": ctx, "sentAt": "2026-01-01T00:00:00Z"},
        st.lists(strategies.segment_messages(), max_size=4),
        strategies.any_value,
    ).map(_encode)
    | strategies.segment_messages().map(_encode)
    | strategies.any_value.map(_encode)
    | st.binary(max_size=64)
    | st.integers(1000, 3000).map(lambda n: b"[" * n + b"]" * n)
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Origin": st.sampled_from(["https://shop.example", "https://evil.example", "null"]),
        "Content-Encoding": st.sampled_from(["gzip", "deflate", "br", "nonsense"]),
        "Authorization": st.sampled_from(["Basic !!!", "Bearer x", "Basic Og==", "Basic w6k="]),
    },
)


async def test_any_http_body_gets_a_2xx_or_4xx_never_a_5xx(
    start_service, settings, log_errors
) -> None:
    gateway = await start_service("gateway")
    registry = gateway.app[WORKSPACES]
    workspace = registry.get("default")
    workspace.ingest_rate_per_second = 100_000
    workspace.enforce_identity_verification = True
    await registry.put(workspace)
    url = f"http://127.0.0.1:{gateway.port}"
    keys = st.sampled_from([settings.write_key, settings.secret_key, "wk_unknown"])

    async with aiohttp.ClientSession() as session:

        async def check(path: str, body: bytes, extra: dict, key: str, gzipped: bool) -> None:
            log_errors.records.clear()
            data = gzip.compress(body) if gzipped else body
            if gzipped:
                extra = {**extra, "Content-Encoding": "gzip"}
            auth = {} if "Authorization" in extra else basic_auth(key)
            sent = {"Content-Type": "application/json", **auth, **extra}
            async with session.post(url + path, data=data, headers=sent) as resp:
                answer = await resp.json()
                assert resp.status < 500, (resp.status, answer)
                assert isinstance(answer.get("code", ""), str)
            assert not log_errors.records, log_errors.records[0].getMessage()

        await run_property(check, st.sampled_from(PATHS), bodies, headers, keys, st.booleans())


frame_types = st.sampled_from([*HANDLERS, "hello", "nope"])


@st.composite
def frames(draw: st.DrawFn) -> str:
    """A widget frame: a real type with fields right or of any JSON type, or not JSON at all."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=40))
    if kind == 1:
        return json.dumps(draw(strategies.any_value))
    if kind == 2:  # past the JSON parser's recursion, in one byte a level
        levels = draw(st.integers(900, 5000))
        return '{"type": "track", "properties": ' + "[" * levels + "]" * levels + "}"
    frame = {"type": draw(frame_types)}
    for name, good in [
        ("client_msg_id", st.from_regex(r"\Ac[a-z0-9]{10}\Z")),
        ("message_id", st.from_regex(r"\Am[a-z0-9]{10}\Z")),
        ("text", st.text(min_size=1, max_size=50)),
        ("email", st.sampled_from(["sally@example.com", "nope"])),
        ("user_id", st.sampled_from(["u-1", "null", ""])),
        ("user_hash", st.text(max_size=64)),
        ("traits", st.dictionaries(strategies.nasty_text, strategies.any_value, max_size=3)),
        ("properties", st.dictionaries(strategies.nasty_text, strategies.any_value, max_size=3)),
        ("event", st.sampled_from(["Clicked", ""])),
        ("url", st.sampled_from(["https://shop.example/a", ""])),
        ("seq", st.integers(-1, 2**63 - 1)),
        ("after_seq", st.integers(-1, 100) | st.none()),
        ("typing", st.booleans()),
        ("token", st.text(max_size=20)),
    ]:
        roll = draw(st.integers(0, 9))
        if roll < 5:
            continue
        frame[name] = draw(good if roll < 9 else strategies.any_value)
    return json.dumps(frame)


async def test_any_widget_frame_gets_an_answer_or_an_error_frame(
    aiohttp_server, settings, log_errors
) -> None:
    app = create_app(settings)
    app[LIMITS] = Limits(
        frames_per_second=10_000,
        frames_burst=10_000,
        ip_frames_per_second=10_000,
        ip_frames_burst=10_000,
        messages_per_second=10_000,
        messages_burst=10_000,
        strikes_burst=10_000,
    )
    gateway = await aiohttp_server(app)
    visitor = await Visitor.connect(gateway, settings.write_key)
    pongs = 0

    async def check(text: str, binary: bool) -> None:
        nonlocal pongs
        log_errors.records.clear()
        seen = len(visitor.frames)
        if binary:
            await visitor.ws.send_bytes(text.encode(errors="surrogatepass"))
        else:
            await visitor.ws.send_str(text)
        await visitor.send({"type": "ping"})
        pongs += 1
        await eventually(lambda: _async(_count_pongs(visitor) >= pongs or visitor.ws.closed))
        assert not visitor.ws.closed, visitor.ws.close_code
        answers = visitor.frames[seen:]
        assert all(f.get("code") != "internal" for f in answers), answers
        if any(f["type"] in ("accepted", "ok") for f in answers):
            assert _storable(text), f"accepted a frame the database refuses: {text!r}"
        assert not log_errors.records, log_errors.records[0].getMessage()

    await run_property(check, frames(), st.integers(0, 9).map(lambda roll: roll == 0))
    await visitor.close()


async def _async(value: bool) -> bool:
    return value


def _storable(text: str) -> bool:
    """What BSON encodes and strict JSON carries (NaN, lone surrogates, > int64 do not)."""
    try:
        value = json.loads(text)
        bson.encode({"v": value})
        json.dumps(value, allow_nan=False)
    except (OverflowError, UnicodeEncodeError, InvalidDocument, ValueError):
        return False
    return True


def _count_pongs(visitor: Visitor) -> int:
    return sum(1 for f in visitor.frames if f["type"] == "pong")
