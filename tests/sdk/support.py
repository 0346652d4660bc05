"""The deployment the SDK tests send to: a gateway at its published URL, and identity."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

from shared.settings import Settings
from tests.conftest import Servers, StartService, make_env
from tests.integration.identity_support import Stack
from tests.support import eventually


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def sdk_stack(start_service: StartService, servers: Servers, data_dir: Path) -> Stack:
    """Gateway and identity; the gateway listens where PARLEY_PUBLIC_URL says, because
    the settings analytics.js boots from point it back there (`Segment.io.apiHost`)."""
    port = free_port()
    env = make_env(servers, data_dir, PARLEY_PUBLIC_URL=f"http://127.0.0.1:{port}")
    settings = Settings.from_env(env)
    gateway = await start_service("gateway", settings, port=port)
    identity = await start_service("identity", settings)
    return Stack(gateway, settings, [identity])


def run_id() -> str:
    return uuid.uuid4().hex[:10]


async def landed(stack: Stack, user: str, traits: dict[str, object], events: set[str]) -> dict:
    """The profile of `user` once it holds `traits` and `events`, read through the profiles
    API (what a product backend would see); fails with what it last saw."""

    def has_traits(profile: dict) -> bool:
        seen = {**profile["traits"], "name": profile.get("name"), "email": profile.get("email")}
        return all(seen.get(k) == v for k, v in traits.items())

    profile = await stack.wait_profile(has_traits, timeout=20, user_id=user)
    seen: set[str] = set()

    async def all_events() -> bool:
        status, listing = await stack.api(f"/v1/profiles/{profile['id']}/events")
        assert status == 200, listing
        seen.update(e["type"] for e in listing["events"])
        seen.update(e["event"] for e in listing["events"] if e["type"] == "track")
        return events <= seen

    try:
        await eventually(all_events, timeout=20)
    except AssertionError as exc:
        raise AssertionError(f"events of {user}: saw {seen}, wanted {events}") from exc
    return profile
