"""Both dialects' paths against the real SecantusDB, which answers the natural ones too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.chat.store import ChatStore, indexes, new_conversation
from shared import db
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
