"""The typed keys a service's app and requests carry, in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from shared.bus import Bus
from shared.settings import Settings

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

    from shared.dialect import Dialect
    from shared.workspaces import WorkspaceRegistry

ReadinessCheck = Callable[[], Awaitable[bool]]

SERVICE_NAME = web.AppKey("service_name", str)
SETTINGS = web.AppKey("settings", Settings)
BUS = web.AppKey("bus", Bus)
READINESS = web.AppKey[dict[str, ReadinessCheck]]("readiness")
METRICS_PORT = web.AppKey("metrics_port", int)
WATCHED_CONSUMERS = web.AppKey("watched_consumers", list)
REQUEST_ID = web.RequestKey("request_id", str)

# typed for mypy only: importing motor or the registry here would load them in every service
WORKSPACES: web.AppKey[WorkspaceRegistry] = web.AppKey("workspaces")
MONGO: web.AppKey[AsyncIOMotorClient[dict[str, Any]]] = web.AppKey("mongo")
DB: web.AppKey[AsyncIOMotorDatabase[dict[str, Any]]] = web.AppKey("db")
DIALECT: web.AppKey[Dialect] = web.AppKey("mongo_dialect")
