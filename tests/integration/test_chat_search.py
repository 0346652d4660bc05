"""Conversation search (`conversations.search`) on a seeded data set with known answers:
message words, substrings of the person's fields (an email's domain), the inbox's
"Visitor 6ecaf0" label, labels, dates, paging; and terms kept by the write paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.chat import search_terms as st
from services.chat.store import new_conversation
from shared.bus import Bus
from shared.errors import BusError
from shared.settings import Settings
from shared.web import DB, DIALECT
from tests.conftest import StartService
from tests.integration.chat_support import WS, ask, conversation_of, visitor_says
from tests.support import eventually

BASE = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=["secantus", "mongod"])
async def chat(
    start_service: StartService, settings: Settings, request: pytest.FixtureRequest
) -> TestServer:
    """Both dialects' page reads (windowed and natural) on the same data."""
    server = await start_service("chat", settings.with_changes(mongo_dialect=request.param))
    assert server.app[DIALECT].name == request.param
    return server


def _seeded(
    n: int,
    words: list[str],
    email: str | None = None,
    name: str | None = None,
    labels: list[str] | None = None,
    visitor: str | None = None,
) -> dict[str, Any]:
    doc = new_conversation(WS, visitor or f"visitor-{n:04d}-abcdef{n:02d}", f"d-{n}", BASE)
    person = st.person_terms(name=name, email=email, visitor=st.short_id(doc["visitor_id"]))
    found = st.message_words(words)
    doc.update(
        last_activity_at=BASE + timedelta(hours=n),
        email=email,
        labels=labels or [],
        search_words=found,
        search_person=person,
        search_terms=sorted(set(found) | set(person)),
        last_message={
            "text": words[-1],
            "author_kind": "visitor",
            "seq": 1,
            "internal": False,
            "created_at": BASE,
        },
    )
    return doc


def _data() -> list[dict[str, Any]]:
    docs = [
        _seeded(0, ["my invoice is wrong"], email="sally@example.com", labels=["billing"]),
        _seeded(1, ["refund please"], email="bob@example.com.au"),
        _seeded(2, ["Invoice copy?"], email="carol@other.org", labels=["billing", "vip"]),
        _seeded(3, ["hello there"], name="Dana Example-Smith"),
        _seeded(4, ["nothing to see"], visitor="visitor-zz-6ecaf0"),
    ]
    docs += [_seeded(10 + n, [f"filler text number{n}"], labels=["bulk"]) for n in range(23)]
    return docs


async def _search(bus: Bus, **payload: Any) -> list[str]:
    """Every hit's visitor id, walking all pages newest first."""
    seen: list[str] = []
    cursor = None
    while True:
        page = await ask(bus, "conversations.search", limit=5, cursor=cursor, **payload)
        assert len(page["hits"]) <= 5
        seen += [h["conversation"]["visitor_id"] for h in page["hits"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_search_finds_known_answers(chat, bus: Bus) -> None:
    docs = _data()
    await chat.app[DB]["conversations"].insert_many(docs)
    vid = [d["visitor_id"] for d in docs]
    # the domain: every address there (and a name holding the word), newest first
    assert await _search(bus, q="example.com") == [vid[1], vid[0]]
    assert await _search(bus, q="example") == [vid[3], vid[1], vid[0]]
    assert await _search(bus, q="INVOICE") == [vid[2], vid[0]]
    assert await _search(bus, q="invoice sally") == [vid[0]]
    assert await _search(bus, q="invoice", label="vip") == [vid[2]]
    assert await _search(bus, q="", label="billing") == [vid[2], vid[0]]
    assert await _search(bus, q="dana smi") == [vid[3]]
    assert await _search(bus, q="Visitor 6ecaf0") == [vid[4]]
    assert await _search(bus, q="nowhere") == []
    # (not on an edge: SecantusDB reads `$gte` as `$gt` on the mongod dialect's descending
    # keys, shared/dialect.py, which a real mongod does not)
    window = {
        "since": (BASE + timedelta(minutes=30)).isoformat(),
        "until": (BASE + timedelta(hours=3)).isoformat(),
    }
    assert await _search(bus, q="example", **window) == [vid[1]]
    # paging: 23 in a label, five a page, each once, newest first
    bulk = await _search(bus, label="bulk", q="filler")
    assert bulk == [d["visitor_id"] for d in reversed(docs[5:])]


async def test_hits_carry_a_highlighted_snippet(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-snip", "Where is my <script>alert(1)</script> invoice?")
    await conversation_of(bus, "v-snip")
    page = await ask(bus, "conversations.search", q="invoice")
    (hit,) = page["hits"]
    assert hit["message_seq"] == 1
    marked = [text for text, match in hit["snippet"] if match]
    assert marked == ["invoice"]
    assert "".join(text for text, _ in hit["snippet"]).startswith("Where is my <script>")


async def test_messages_and_a_learned_profile_become_searchable(chat, bus: Bus) -> None:
    await visitor_says(bus, "v-late", "my parcel never arrived", distinct_id="d-late")
    history = await conversation_of(bus, "v-late")
    cid = history["conversation_id"]

    async def found(q: str) -> bool:
        page = await ask(bus, "conversations.search", q=q)
        return [h["conversation"]["id"] for h in page["hits"]] == [cid]

    await eventually(lambda: found("parcel arrived"))
    assert not await found("rosalind")

    async def resolve(p: dict[str, Any]) -> dict[str, Any] | None:
        if p["distinct_id"] != "d-late":
            return None
        return {
            "id": "p-late",
            "stage": "member",
            "name": "Rosalind Franklin",
            "email": "rosalind@lab.example.org",
            "user_id": "user-98765",
        }

    # identity answers only now: the next message asks again, and learns the name
    await bus.serve(bus.subjects.request("identity", "profile.resolve"), resolve, queue="identity")
    await visitor_says(bus, "v-late", "any news?", distinct_id="d-late")
    await eventually(lambda: found("rosalind"), timeout=15)
    assert await found("lab.example")
    assert await found("8765")
    assert await found("parcel")
    assert await found("news")


async def test_a_bad_search_is_refused(chat, bus: Bus) -> None:
    for bad, field in (
        ({"since": "yesterday"}, "since"),
        ({"q": "x" * 500}, "q"),
        ({"label": 5}, "label"),
    ):
        with pytest.raises(BusError) as raised:
            await ask(bus, "conversations.search", **bad)
        assert field in str(raised.value)
