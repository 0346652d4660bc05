"""Which Mongo-wire server the stores talk to, and the query shapes that differ on it.

Each SecantusDB behaviour Parley works around is one flag of `Dialect`; a store asks
the flag and runs either the workaround or the natural MongoDB query, so on a real
mongod the natural query is used. Measured on SecantusDB 0.7.0b3 (10,000 documents,
2-core machine):

- `windowed_recent_pages`: a sorted `find().sort().limit()` sorts the whole match in
  memory before the limit (~230 ms for a 26-row page, against ~5 ms for a bounded time
  window of the same index), so newest-first pages are read through time windows;
- `ascending_keys_only`: on a descending index key after an equality prefix `$gte` is
  treated as `$gt` (a window lost the row on its edge), so such keys are ascending
  (MongoDB walks an ascending index backwards for a newest-first sort just as well);
- `find_and_modify`: `find_one_and_update` scans the collection even for an `_id`
  filter (~90 ms against ~5 ms for `update_one` then `find_one`), so it is not used
  where an update then a read gives the same answer;
- `commit_per_statement`: every statement of a bulk write is a transaction of its own,
  each committed (and, journaled or with `--sync-on-commit`, flushed) alone: 200
  versioned replaces of person documents cost 200 commits, and ~2 of SecantusDB's 3
  commits per chat message were the per-conversation updates of a batch. A store
  answers it in one of two ways: identity wraps a bulk write in one multi-document
  transaction (one commit); chat sends per-document updates as a few multi-document
  updates choosing each document's values by `_id`. On mongod a bulk write's journal
  flushes are grouped already (and transactions need a replica set), so there the
  plain per-document bulk write is kept.

Not gated, because they cost nothing on mongod: SecantusDB's planner picks its index
from the filter's *first* key (so an `_id` filter lists `_id` first, before the
workspace id), and it scans for `$or` and regexes (so queries use one equality per
key and prefix ranges).

The dialect comes from `PARLEY_MONGO_DIALECT` (`mongod`, `secantus`), or with `auto`
(the default) from the server's `buildInfo`: SecantusDB adds `secantusVersion`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING

CHOICES = ("auto", "mongod", "secantus")


@dataclass(frozen=True)
class Dialect:
    name: str
    windowed_recent_pages: bool
    ascending_keys_only: bool
    find_and_modify: bool
    commit_per_statement: bool = False

    @property
    def newest_first(self) -> int:
        """The direction of an index key read newest first."""
        return ASCENDING if self.ascending_keys_only else DESCENDING


MONGOD = Dialect(
    "mongod", windowed_recent_pages=False, ascending_keys_only=False, find_and_modify=True
)
SECANTUS = Dialect(
    "secantus",
    windowed_recent_pages=True,
    ascending_keys_only=True,
    find_and_modify=False,
    commit_per_statement=True,
)
BY_NAME = {d.name: d for d in (MONGOD, SECANTUS)}


def from_build_info(info: Mapping[str, Any]) -> Dialect:
    return SECANTUS if "secantusVersion" in info else MONGOD


def named(choice: str) -> Dialect | None:
    """The dialect a setting names; None for `auto` (ask the server)."""
    if choice not in CHOICES:
        raise ValueError(
            f"PARLEY_MONGO_DIALECT must be one of {', '.join(CHOICES)}, got {choice!r}"
        )
    return BY_NAME.get(choice)


async def detect(client: Any, choice: str = "auto") -> Dialect:
    """The setting's dialect, or for `auto` the one the server's `buildInfo` shows."""
    chosen = named(choice)
    if chosen is not None:
        return chosen
    return from_build_info(await client.admin.command("buildInfo"))
