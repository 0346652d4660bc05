"""Helpers for the identity tests: a gateway + identity stack, the official Segment client,
the profiles API, and a small GeoIP database built with mmdb-writer."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from shared import clock
from shared.bus import Bus
from shared.events import EventKind, IngestEvent
from shared.settings import Settings
from tests.support import basic_auth, eventually

LONDON_NET = "81.2.69.0/24"
LONDON_IP = "81.2.69.142"
PARIS_NET = "90.84.0.0/16"
PARIS_IP = "90.84.10.20"


def build_geoip(path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"]
    )
    writer.insert_network(
        IPSet([LONDON_NET]),
        {
            "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
            "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
            "city": {"names": {"en": "London"}},
        },
    )
    writer.insert_network(
        IPSet([PARIS_NET]),
        {
            "country": {"iso_code": "FR", "names": {"en": "France"}},
            "subdivisions": [{"iso_code": "IDF", "names": {"en": "Ile-de-France"}}],
            "city": {"names": {"en": "Paris"}},
        },
    )
    writer.to_db_file(str(path))
    return path


def segment_client(gateway: TestServer, key: str, **options: Any):
    from segment.analytics import Client

    options.setdefault("sync_mode", True)
    return Client(key, host=f"http://127.0.0.1:{gateway.port}", max_retries=0, **options)


@dataclass
class Stack:
    gateway: TestServer
    settings: Settings
    identities: list[TestServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    async def api(self, path: str, key: str | None = None, **params: Any) -> tuple[int, Any]:
        auth = basic_auth(key if key is not None else self.settings.secret_key)
        async with aiohttp.ClientSession() as session:
            async with session.get(self.url + path, params=params, headers=auth) as resp:
                return resp.status, await resp.json()

    async def post(
        self, path: str, body: Any, key: str | None = None, headers: dict | None = None
    ) -> tuple[int, Any, Any]:
        auth = basic_auth(key) if key else {}
        async with aiohttp.ClientSession() as session:
            async with session.post(
                self.url + path, json=body, headers={**auth, **(headers or {})}
            ) as resp:
                return resp.status, await resp.json(), resp.headers

    async def profiles(self, **params: Any) -> list[dict]:
        status, body = await self.api("/v1/profiles", **params)
        assert status == 200, body
        return body["profiles"]

    async def profile_by(self, **params: Any) -> dict | None:
        found = await self.profiles(**params)
        return found[0] if found else None

    async def wait_profile(self, check, timeout: float = 10, **params: Any) -> dict:
        """Poll the profiles API until `check(profile)` holds for the first match."""
        seen: dict[str, Any] = {}

        async def ready() -> bool:
            profile = await self.profile_by(**params)
            seen["p"] = profile
            return profile is not None and bool(check(profile))

        try:
            await eventually(ready, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"profile never matched; last seen: {seen.get('p')}") from exc
        return seen["p"]


async def call(fn, *args: Any, **kwargs: Any) -> Any:
    """The Segment client blocks: run it off the event loop the servers live on."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def event(ws: str, kind: EventKind, **fields: Any) -> IngestEvent:
    fields.setdefault("message_id", uuid.uuid4().hex)
    fields.setdefault("timestamp", clock.iso_now())
    fields.setdefault("received_at", clock.iso_now())
    fields.setdefault("trusted", True)
    return IngestEvent(workspace_id=ws, kind=kind, **fields)


async def publish(bus: Bus, *events: IngestEvent) -> None:
    await bus.publish_durable_many(
        [
            (
                bus.subjects.events(e.workspace_id, e.kind),
                e.to_dict(),
                f"{e.workspace_id}:{e.message_id}",
            )
            for e in events
        ]
    )


async def drained(bus: Bus, timeout: float = 15) -> None:
    """Wait until the identity consumer has acked everything on the events stream."""
    js = bus.js
    assert js is not None

    async def done() -> bool:
        try:
            info = await js.consumer_info(bus.subjects.events_stream, "identity")
        except Exception:  # noqa: BLE001 - not created yet
            return False
        stream = await js.stream_info(bus.subjects.events_stream)
        return (
            info.num_pending == 0
            and info.num_ack_pending == 0
            and info.delivered.stream_seq >= stream.state.last_seq
        )

    await eventually(done, timeout=timeout)
