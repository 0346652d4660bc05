"""How soon identity's work is readable: the lag from a 200 to the profile, and a merge.

1. Lag: the gateway (`python -m services.gateway`, its own process) takes Segment
   batches of page views and tracks at half the rate one identity worker saturates at
   (measured first, on the bus, in the same run); every 0.2 s a probe track sets a
   trait on a known device, and from its 200 the profiles API
   (`GET /v1/profiles?distinct_id=`, secret key) is read every 5 ms until the trait
   shows. Baseline: the same read of an unchanged profile under the same load (no one
   sees a change sooner than one read).
2. Merge: a profile with 1,000 events and 20 conversations (chat's own, one visitor
   each) is merged by an identify into an older profile holding the user id; the
   figure is the time from publishing the identify until every read shows the survivor:
   the profiles API's look-up by the merged device's id, and chat's conversations of
   the survivor (all 20). Baseline: an identify that merges nothing, until its profile
   shows the user id. Reads are the bus requests the gateway and dashboard make.

    python -m bench.identity_paths [--seconds 8] [--reps 3]
    python -m bench.identity_paths --seconds 3 --reps 1 --merge-events 300   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import (
    BenchServers,
    Record,
    bench_bus,
    bench_settings,
    finish,
    interleaved,
    percentile,
    servers,
)
from bench.identity_throughput import CONTEXT, Workload, make_event, phase, publish_all
from bench.ingest import Gateway
from services.chat.app import create_app as chat_app
from services.identity.app import create_app as identity_app
from shared.bus import Bus
from shared.settings import Settings

BENCH = "identity_paths"
WS = "default"
PROBE_EVERY = 0.2
POLL = 0.005
DEVICES = 300


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> float:
    """Seconds until `check` holds, asked every POLL."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("never became readable")
        await asyncio.sleep(POLL)
    return time.perf_counter() - started


def _segment(event: dict[str, Any]) -> dict[str, Any]:
    """An analytics.js message for the event the bench would publish."""
    return {
        "type": event["kind"],
        "messageId": event["message_id"],
        "anonymousId": event["anonymous_id"],
        "timestamp": event["timestamp"],
        **({"event": event["event"]} if event.get("event") else {}),
        "properties": event.get("properties") or {},
        "context": CONTEXT,
    }


class Lag:
    """Background load through the gateway at a fixed rate, probes timed to readable."""

    def __init__(self, gateway: Gateway, settings: Settings, devices: list[str]) -> None:
        self.gateway, self.devices = gateway, devices
        token = base64.b64encode(f"{settings.secret_key}:".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}  # the secret key as username
        self.http: aiohttp.ClientSession | None = None
        self.n = 0

    async def _post(self, events: list[dict]) -> None:
        assert self.http is not None
        batch = {"batch": [_segment(e) for e in events]}
        async with self.http.post(self.gateway.url + "/v1/batch", json=batch) as resp:
            if resp.status != 200:
                raise RuntimeError(f"/v1/batch answered {resp.status}: {await resp.text()}")

    async def _profile(self, distinct_id: str) -> dict[str, Any] | None:
        assert self.http is not None
        url = f"{self.gateway.url}/v1/profiles"
        async with self.http.get(url, params={"distinct_id": distinct_id}) as resp:
            found = (await resp.json())["profiles"]
        return found[0] if found else None

    async def _load(self, per_second: float, seconds: float) -> None:
        """Batches of 10 page views and tracks on the known devices, evenly paced."""
        work = Workload(0, 10)
        work.anons = self.devices
        started = time.perf_counter()
        sent = 0
        while time.perf_counter() - started < seconds:
            await self._post(work.steady())
            sent += 10
            ahead = sent / per_second - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def _probe(self, device: str) -> float:
        self.n += 1
        value = f"{self.n}-{uuid.uuid4().hex[:6]}"
        props = {"$set": {"probe": value}}
        await self._post(
            [make_event("track", self.n, anonymous_id=device, event="P", properties=props)]
        )
        started = time.perf_counter()

        async def shows() -> bool:
            found = await self._profile(device)
            return found is not None and found["traits"].get("probe") == value

        await _until(shows)
        return time.perf_counter() - started

    async def _read(self, device: str) -> float:
        started = time.perf_counter()
        await self._profile(device)
        return time.perf_counter() - started

    async def window(self, per_second: float, seconds: float, probing: bool) -> list[float]:
        """Probe lags (or, not probing, plain read times) under the background load."""
        self.http = aiohttp.ClientSession(headers=self.headers)
        load = asyncio.create_task(self._load(per_second, seconds))
        samples: list[float] = []
        try:
            while not load.done():
                device = self.devices[len(samples) % len(self.devices)]
                took = await (self._probe(device) if probing else self._read(device))
                samples.append(took)
                await asyncio.sleep(max(0.0, PROBE_EVERY - took))
            await load
        finally:
            await self.http.close()
        return samples


async def lag_records(
    srv: BenchServers, settings: Settings, bus: Bus, app: web.Application, args: Any
) -> list[Record]:
    work = Workload(DEVICES, args.saturate_events)
    await phase(bus, bus.js, app, work.first_sight())
    saturation = await phase(bus, bus.js, app, work.steady())  # one worker, flat out
    half = saturation / 2
    gateway = Gateway(settings, srv.nats.url)
    try:
        await gateway.ready()
        lag = Lag(gateway, settings, work.anons)
        p99: list[float] = []
        base99: list[float] = []

        async def probes() -> float:
            samples = await lag.window(half, args.seconds, probing=True)
            p99.append(percentile(samples, 99) * 1000)
            return statistics.median(samples) * 1000

        async def reads() -> float:
            samples = await lag.window(half, args.seconds, probing=False)
            base99.append(percentile(samples, 99) * 1000)
            return statistics.median(samples) * 1000

        p50, base50 = await interleaved(BENCH, "lag p50", probes, reads, args.reps)
    finally:
        gateway.stop()
    common = {"saturation_per_s": saturation, "load_per_s": half, "probe_every_s": PROBE_EVERY}
    return [
        Record(
            BENCH,
            f"200 -> readable p{pct} at {half:,.0f}/s",
            "ms",
            ours,
            "one read",
            theirs,
            lower_is_better=True,
            settings=common,
        )
        for pct, ours, theirs in (("50", p50, base50), ("99", p99, base99))
    ]


class Merge:
    """A device with its events and conversations, merged into an older user's profile."""

    def __init__(self, bus: Bus, events: int) -> None:
        self.bus, self.events = bus, events
        self.rep = 0

    async def ask(self, service: str, verb: str, **payload: Any) -> Any:
        subject = self.bus.subjects.request(service, verb)
        return await self.bus.request(subject, {"workspace_id": WS, **payload})

    async def profile_of(self, distinct_id: str) -> dict[str, Any] | None:
        found = (await self.ask("identity", "profile.find", distinct_id=distinct_id))["profiles"]
        return found[0] if found else None

    async def conversations_of(self, profile_id: str) -> int:
        found = await self.ask("chat", "conversations.by_profile", profile_id=profile_id, limit=100)
        return len(found["conversations"])

    async def _identify(self, user: str, device: str) -> None:
        event = make_event("identify", self.rep, user_id=user, anonymous_id=device, traits={})
        await publish_all(self.bus, [event])

    async def _conversations(self, device: str, count: int) -> None:
        for n in range(count):
            payload = {
                "type": "visitor.message",
                "workspace_id": WS,
                "visitor_id": f"{device}-v{n}",
                "distinct_id": device,
                "client_msg_id": f"c-{device}-{n}",
                "text": "hello",
                "sent_at": "2026-01-01T00:00:00Z",
                "page_url": "https://shop.example/",
            }
            subject = self.bus.subjects.chat_inbound(WS)
            await self.bus.publish_durable(subject, payload, f"{WS}:{device}-v{n}:c-{n}")

    async def prepared(self) -> tuple[str, str, str]:
        """(user id, its profile, the device to merge) with the device's history in."""
        self.rep += 1
        user, old, device = (f"mu{self.rep}", f"mold{self.rep}", f"mnew{self.rep}")
        await self._identify(user, old)
        survivor = await self._wait_profile(old)
        work = Workload(0, self.events)
        work.anons = [device]
        await publish_all(self.bus, work.steady())
        await self._conversations(device, 20)
        merged = await self._wait_profile(device)
        await _until(lambda: self._has(merged, 20), timeout=120)
        return user, survivor, device

    async def _has(self, profile_id: str, count: int) -> bool:
        return await self.conversations_of(profile_id) >= count

    async def _wait_profile(self, distinct_id: str) -> str:
        async def known() -> bool:
            return await self.profile_of(distinct_id) is not None

        await _until(known, timeout=120)
        found = await self.profile_of(distinct_id)
        assert found is not None
        return str(found["id"])

    async def merged(self) -> float:
        user, survivor, device = await self.prepared()
        started = time.perf_counter()
        await self._identify(user, device)

        async def profile_shows() -> bool:
            found = await self.profile_of(device)
            return found is not None and found["id"] == survivor

        await _until(profile_shows)
        await _until(lambda: self._has(survivor, 20))
        return (time.perf_counter() - started) * 1000

    async def plain(self) -> float:
        """An identify that merges nothing: a new user on a new device."""
        self.rep += 1
        user, device = f"pu{self.rep}", f"pnew{self.rep}"
        started = time.perf_counter()
        await self._identify(user, device)

        async def shows() -> bool:
            found = await self.profile_of(device)
            return found is not None and found["user_id"] == user

        await _until(shows)
        return (time.perf_counter() - started) * 1000


async def merge_records(bus: Bus, args: Any) -> list[Record]:
    merge = Merge(bus, args.merge_events)
    ours, theirs = await interleaved(BENCH, "merge", merge.merged, merge.plain, args.reps)
    case = f"merge ({args.merge_events} events, 20 conversations) -> every read"
    settings = {"merge_events": args.merge_events, "conversations": 20}
    return [
        Record(
            BENCH,
            case,
            "ms",
            ours,
            "identify, no merge",
            theirs,
            lower_is_better=True,
            settings=settings,
        )
    ]


async def run(srv: BenchServers, args: argparse.Namespace) -> None:
    settings = bench_settings(srv)
    runners = []
    apps = {}
    for name, make in (("identity", identity_app), ("chat", chat_app)):
        apps[name] = make(settings)
        runner = web.AppRunner(apps[name])
        await runner.setup()
        runners.append(runner)
    bus = await bench_bus(settings)
    try:
        records = await lag_records(srv, settings, bus, apps["identity"], args)
        records += await merge_records(bus, args)
    finally:
        await bus.close()
        for runner in runners:
            await runner.cleanup()
    finish(BENCH, records, vars(args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8, help="each lag window")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--saturate-events", type=int, default=2000)
    parser.add_argument("--merge-events", type=int, default=1000)
    args = parser.parse_args()
    with servers() as s:
        asyncio.run(run(s, args))


if __name__ == "__main__":
    main()
