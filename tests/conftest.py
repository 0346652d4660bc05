"""Fixtures: a real nats-server and a real MongoDB-wire server (SecantusDB) per session.

Every test gets its own subject prefix and database prefix, so tests never see each
other's streams, consumers, workspaces or documents.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.embedded import EmbeddedServer, start_mongo, start_nats
from shared.settings import Settings
from tests.integration.dashboard_support import Client
from tests.support import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Servers:
    nats: EmbeddedServer
    mongo: EmbeddedServer
    data_dir: Path


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    data = tmp_path_factory.mktemp("servers")
    nats = start_nats(data)
    mongo = start_mongo(data)
    yield Servers(nats, mongo, data)
    nats.stop()
    mongo.stop()


def make_env(servers: Servers, data_dir: Path, **extra: str) -> dict[str, str]:
    prefix = "t" + uuid.uuid4().hex[:10]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PARLEY_DATA_DIR": str(data_dir),
        "NATS_URL": servers.nats.url,
        "MONGO_URL": servers.mongo.url,
        "PARLEY_SUBJECT_PREFIX": prefix,
        "PARLEY_DB_PREFIX": prefix,
        "PARLEY_WRITE_KEY": "wk_test_" + prefix,
        "PARLEY_SECRET_KEY": "sk_test_" + prefix,
        "PARLEY_IDENTITY_SECRET": "is_test_" + prefix,
        "PARLEY_ADMIN_EMAIL": "admin@example.com",
        "PARLEY_ADMIN_PASSWORD": "correct horse battery staple",
        "PARLEY_LOG_LEVEL": "WARNING",
        "PARLEY_DEMO": "true",  # the e2e tests walk through the demo site
        "PARLEY_METRICS_PORT": "0",  # any free port: tests run many services at once
    }
    env.update(extra)
    return env


@pytest.fixture
def env(servers: Servers, tmp_path: Path) -> dict[str, str]:
    """Environment of one isolated deployment on the session's servers."""
    return make_env(servers, tmp_path / "data")


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


@pytest.fixture
def aiohttp_client_cls() -> type[Client]:
    """pytest-aiohttp's `aiohttp_client` builds this TestClient (it can carry a CSRF token)."""
    return Client


StartService = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def start_service(aiohttp_server, settings: Settings) -> StartService:
    """Run a service's real app in-process on a free port: `await start_service("gateway")`."""

    async def start(
        name: str, settings: Settings = settings, port: int | None = None
    ) -> TestServer:
        module = importlib.import_module(f"services.{name}.app")
        app: web.Application = module.create_app(settings)
        return await aiohttp_server(app, port=port)

    return start


@pytest.fixture
async def chat(start_service: StartService) -> TestServer:
    """The chat service of the test's deployment (a test module may define its own)."""
    return await start_service("chat")


@pytest.fixture
async def gateway(start_service: StartService) -> TestServer:
    """The gateway of the test's deployment (a test module may define its own)."""
    return await start_service("gateway")


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator:
    """A bus client of the test's own deployment (its prefix), with the standard streams."""
    from shared.bus import Bus
    from shared.subjects import Subjects

    client = Bus(settings.nats_url, Subjects(settings.subject_prefix), "test")
    await client.connect()
    await client.ensure_standard_streams()
    yield client
    await client.close()


@pytest.fixture
async def browser() -> AsyncIterator:
    """A real headless Chromium (Debian's), driven by Playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        await instance.close()
