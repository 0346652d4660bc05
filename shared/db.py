"""MongoDB through motor: one client per process, one database per service.

Every write is acknowledged only once it is durable on the server: journaled
(`j: true`), and on a replica set (`replicaSet=` in `MONGO_URL`) written to a majority.
An event is acked on JetStream after its writes are acknowledged, so a weaker write
concern would lose acked events when the database crashes. `journal=` or `w=` in
`MONGO_URL` replace these defaults (see README, "Durability"), as any driver option
written in the URL replaces Parley's default for it (e.g. `serverSelectionTimeoutMS`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import IndexModel

log = logging.getLogger("parley.db")


TIMEOUTS = {"serverSelectionTimeoutMS": 3000, "connectTimeoutMS": 3000}


def _url_options(url: str) -> dict[str, str]:
    return {key.lower(): value for key, value in parse_qsl(urlsplit(url).query)}


def durability_options(url: str) -> dict[str, Any]:
    """The write concern Parley asks for, unless the URL's own options say otherwise."""
    given = _url_options(url)
    options: dict[str, Any] = {}
    if "journal" not in given and given.get("w") != "0":
        options["journal"] = True
    if "w" not in given and "replicaset" in given:
        options["w"] = "majority"
    return options


def client_options(url: str) -> dict[str, Any]:
    """Parley's defaults for the driver; an option written in `MONGO_URL` wins."""
    given = _url_options(url)
    options: dict[str, Any] = {k: v for k, v in TIMEOUTS.items() if k.lower() not in given}
    options.update(durability_options(url))
    return options


def connect(url: str) -> AsyncIOMotorClient[dict[str, Any]]:
    return AsyncIOMotorClient(url, tz_aware=True, **client_options(url))


async def ping(client: AsyncIOMotorClient[dict[str, Any]]) -> bool:
    try:
        await client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - readiness only reports
        return False


async def ensure_indexes(
    db: AsyncIOMotorDatabase[dict[str, Any]], spec: Mapping[str, Iterable[IndexModel]]
) -> None:
    """Create the indexes a service declares; re-running is a no-op."""
    for collection, indexes in spec.items():
        models = list(indexes)
        if models:
            await db[collection].create_indexes(models)
    log.info("indexes ready", extra={"database": db.name, "collections": list(spec)})
