"""Both dialects' paths against the real SecantusDB, which answers the natural ones too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.chat.store import ChatStore, indexes, new_conversation
from services.identity.model import minute, new_person
from services.identity.store import INDEXES as IDENTITY_INDEXES
from services.identity.store import IdentityStore
from shared import clock, db
from shared.dialect import BY_NAME, MONGOD, SECANTUS, detect
from shared.settings import Settings


async def test_secantusdb_is_detected_from_build_info(settings: Settings) -> None:
    client = db.connect(settings.mongo_url)
    try:
        assert await detect(client) is SECANTUS
        assert await detect(client, "mongod") is MONGOD  # the setting wins
    finally:
        client.close()


@pytest.fixture(params=["secantus", "mongod"])
async def chat_store(
    settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[ChatStore]:
    dialect = BY_NAME[request.param]
    client = db.connect(settings.mongo_url)
    database = client[settings.database_name("chat")]
    await db.ensure_indexes(database, indexes(dialect))
    yield ChatStore(database, dialect)
    client.close()


async def test_a_guarded_update_answers_the_document_after_or_none(chat_store: ChatStore) -> None:
    doc = new_conversation("ws_a", "v1", "v1", datetime.now(UTC))
    await chat_store.create_conversations([doc])
    done = await chat_store.set_fields("ws_a", doc["_id"], {"status": "snoozed"})
    assert done is not None and done["status"] == "snoozed"
    refused = await chat_store.set_fields(
        "ws_a", doc["_id"], {"status": "open"}, guard={"status": "resolved"}
    )
    assert refused is None
    assert await chat_store.set_fields("ws_b", doc["_id"], {"status": "open"}) is None
    kept = await chat_store.conversation("ws_a", doc["_id"])
    assert kept is not None and kept["status"] == "snoozed"


async def test_a_cursor_made_by_one_dialect_continues_in_the_other(
    chat_store: ChatStore, settings: Settings
) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    docs = []
    for n in range(30):
        doc = new_conversation("ws_c", f"v{n:02d}", f"v{n:02d}", base)
        doc["last_activity_at"] = base + timedelta(minutes=n // 2)  # pairs share a time
        docs.append(doc)
    await chat_store.create_conversations(docs)
    expected = [d["_id"] for d in sorted(docs, key=lambda d: (d["last_activity_at"], d["_id"]))]
    other = BY_NAME["mongod" if chat_store.dialect is SECANTUS else "secantus"]
    # motor's stubs lack AsyncIOMotorCollection.database (read as a sub-collection)
    database = chat_store.conversations.database
    stores = [chat_store, ChatStore(database, other)]  # type: ignore[arg-type]
    seen, cursor, turn = [], None, 0
    while True:
        page, cursor = await stores[turn % 2].recent_page("ws_c", {}, 7, cursor)
        seen += [d["_id"] for d in page]
        turn += 1
        if cursor is None:
            break
    assert seen == expected[::-1]


async def test_a_thread_reads_the_same_newest_pages_in_both_dialects(
    chat_store: ChatStore,
) -> None:
    """The newest page of a long thread with gaps in its seqs (lost reservations) and
    internal notes, then older pages by `before_seq`: the same messages either way."""
    gaps = set(range(100, 161)) | set(range(240, 246))
    seqs = [n for n in range(1, 251) if n not in gaps]
    at = datetime(2026, 3, 1, tzinfo=UTC)
    await chat_store.messages.insert_many(
        [
            {
                "_id": f"m{n:03d}",
                "workspace_id": "ws_t",
                "conversation_id": "c1",
                "client_msg_id": f"c{n:03d}",
                "seq": n,
                "author": {"kind": "visitor", "id": "v1", "name": None, "avatar": None},
                "text": f"message {n}",
                "created_at": at + timedelta(seconds=n),
                "internal": n % 10 == 0,
            }
            for n in seqs
        ]
    )
    for include_internal in (True, False):
        shown = [n for n in seqs if include_internal or n % 10]
        read: list[int] = []
        before, more = None, True
        while more:
            page, more = await chat_store.page(
                "ws_t", "c1", 40, before_seq=before, include_internal=include_internal, last_seq=250
            )
            read = [m["seq"] for m in page] + read
            before = page[0]["seq"] if page else None
            assert page or not more
        assert read == shown
    newest, more = await chat_store.page("ws_t", "c1", 100, last_seq=250)
    assert [m["seq"] for m in newest] == seqs[-100:] and more
    assert await chat_store.page("ws_t", "c1", 10, before_seq=1, last_seq=250) == ([], False)
    assert await chat_store.page("ws_t", "c2", 10, last_seq=0) == ([], False)


@pytest.fixture(params=["secantus", "mongod"])
async def identity_store(
    settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[IdentityStore]:
    client = db.connect(settings.mongo_url)
    database = client[settings.database_name("identity")]
    await db.ensure_indexes(database, IDENTITY_INDEXES)
    yield IdentityStore(database, BY_NAME[request.param])
    client.close()


async def test_the_contacts_pages_list_everyone_newest_seen_first_in_both_dialects(
    identity_store: IdentityStore,
) -> None:
    """Seen-times spread over years, several persons in one minute, some never seen and
    some merged away: page by page, each live person once, in (last_seen, id) order."""
    now = datetime.now(UTC)
    persons = []
    for n in range(60):
        person = new_person(f"p{n:02d}", "ws_p", now)
        if n % 7 != 6:  # every seventh never seen
            seen = now - timedelta(minutes=(n // 3) ** 4)  # three a minute, ever further back
            person["last_seen"] = minute(clock.iso(seen))
        person["merged_into"] = "p00" if n % 11 == 10 else None
        person["stage"] = "contact" if n % 2 else "visitor"
        persons.append(person)
    await identity_store.persons.insert_many(persons)
    for stage in (None, "contact"):
        live = [p for p in persons if not p["merged_into"] and stage in (None, p["stage"])]
        ever_seen = [p for p in live if p["last_seen"]]
        expected = sorted(ever_seen, key=lambda p: (p["last_seen"], p["_id"]), reverse=True)
        expected += sorted((p for p in live if not p["last_seen"]), key=lambda p: p["_id"])[::-1]
        read: list[str] = []
        after = None
        while True:
            page = await identity_store.live_persons_page("ws_p", stage, after, 7)
            read += [p["_id"] for p in page]
            if len(page) < 7:
                break
            after = (page[-1]["last_seen"] or "", page[-1]["_id"])
        assert read == [p["_id"] for p in expected]


async def test_a_first_page_read_again_shows_what_came_meanwhile(chat_store: ChatStore) -> None:
    """The second first page of a filter starts from the span the first one needed: a
    conversation active since, and one far older than that span, are both where they belong."""
    now = datetime.now(UTC)
    docs = []
    for n in range(40):
        doc = new_conversation("ws_f", f"v{n:02d}", f"v{n:02d}", now - timedelta(hours=n + 1))
        docs.append(doc)
    await chat_store.create_conversations(docs)
    first, _ = await chat_store.recent_page("ws_f", {}, 10, None)
    assert [d["_id"] for d in first] == [d["_id"] for d in docs[:10]]
    newest = new_conversation("ws_f", "v-new", "v-new", datetime.now(UTC))
    await chat_store.create_conversations([newest])
    await chat_store.conversations.delete_many(
        {"workspace_id": "ws_f", "_id": {"$in": [d["_id"] for d in docs[:20]]}}
    )
    again, cursor = await chat_store.recent_page("ws_f", {}, 10, None)
    assert [d["_id"] for d in again] == [newest["_id"]] + [d["_id"] for d in docs[20:29]]
    assert cursor is not None
