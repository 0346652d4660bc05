"""The aiohttp base every service builds on, in parts: typed keys (`keys`), middlewares
(`middlewares`), health and metrics (`health`), consumer metrics (`consumers`) and the app
factory (`app`). The names services import are re-exported here."""

from __future__ import annotations

from shared.web.app import add_mongo, add_workspaces, create_base_app, run, service_main
from shared.web.consumers import read_consumer_stats, watch_consumers
from shared.web.keys import (
    BUS,
    DB,
    DIALECT,
    METRICS_PORT,
    MONGO,
    READINESS,
    REQUEST_ID,
    SERVICE_NAME,
    SETTINGS,
    WATCHED_CONSUMERS,
    WORKSPACES,
    ReadinessCheck,
)
from shared.web.middlewares import API_PREFIX, REQUEST_ID_HEADER, json_error

__all__ = [
    "API_PREFIX",
    "BUS",
    "DB",
    "DIALECT",
    "METRICS_PORT",
    "MONGO",
    "READINESS",
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "SERVICE_NAME",
    "SETTINGS",
    "WATCHED_CONSUMERS",
    "WORKSPACES",
    "ReadinessCheck",
    "add_mongo",
    "add_workspaces",
    "create_base_app",
    "json_error",
    "read_consumer_stats",
    "run",
    "service_main",
    "watch_consumers",
]
