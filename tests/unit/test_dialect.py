"""The dialect seam: how it is chosen, and the query shapes each dialect builds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pymongo import ASCENDING, DESCENDING

from services.chat.store import indexes
from services.chat.store.inbox import encode_cursor, natural_query
from shared.dialect import MONGOD, SECANTUS, Dialect, from_build_info, named
from shared.settings import Settings


def test_secantus_is_known_by_its_build_info() -> None:
    assert from_build_info({"version": "8.2.11", "secantusVersion": "0.7.0b3"}) is SECANTUS
    assert from_build_info({"version": "7.0.14", "gitVersion": "ce59cfc"}) is MONGOD


def test_the_setting_names_a_dialect_or_asks_the_server(tmp_path: Path) -> None:
    assert named("mongod") is MONGOD and named("secantus") is SECANTUS and named("auto") is None
    env = {"PARLEY_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).mongo_dialect == "auto"
    assert Settings.from_env({**env, "PARLEY_MONGO_DIALECT": "MongoD"}).mongo_dialect == "mongod"
    with pytest.raises(ValueError, match="PARLEY_MONGO_DIALECT"):
        Settings.from_env({**env, "PARLEY_MONGO_DIALECT": "postgres"})


def test_newest_first_index_keys_are_descending_only_on_mongod() -> None:
    def recent_keys(dialect: Dialect) -> list[tuple[str, int]]:
        model = indexes(dialect)["conversations"][1]
        return list(model.document["key"].items())

    assert recent_keys(SECANTUS) == [
        ("workspace_id", ASCENDING),
        ("last_activity_at", ASCENDING),
        ("_id", ASCENDING),
    ]
    assert recent_keys(MONGOD) == [
        ("workspace_id", ASCENDING),
        ("last_activity_at", DESCENDING),
        ("_id", DESCENDING),
    ]


def test_the_natural_page_query_continues_after_the_cursor_row() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    base = {"workspace_id": "w", "status": "open"}
    assert natural_query(base, None) == base
    cursor = encode_cursor(at, "c9", timedelta(hours=1))
    assert natural_query(base, cursor) == {
        **base,
        "$or": [
            {"last_activity_at": {"$lt": at}},
            {"last_activity_at": at, "_id": {"$lt": "c9"}},
        ],
    }
