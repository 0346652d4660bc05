"""Prometheus metrics shared by every service (one process, one service, one registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "parley_http_requests_total",
    "HTTP requests served",
    ["service", "route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "parley_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    registry=REGISTRY,
)
WS_CONNECTIONS = Gauge(
    "parley_websocket_connections",
    "Open websocket connections",
    ["service", "kind"],
    registry=REGISTRY,
)
EVENTS_CONSUMED = Counter(
    "parley_events_consumed_total",
    "Bus messages handled",
    ["service", "consumer", "outcome"],
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "parley_handler_errors_total",
    "Handler errors",
    ["service", "handler"],
    registry=REGISTRY,
)
HANDLER_LATENCY = Histogram(
    "parley_handler_seconds",
    "Bus handler latency",
    ["service", "handler"],
    registry=REGISTRY,
)

CONSUMER_LOOP_ERRORS = Counter(
    "parley_consumer_loop_errors_total",
    "Failures of a durable consumer's own loop (it logs, backs off and goes on)",
    ["service", "consumer"],
    registry=REGISTRY,
)
DEADLETTERS = Gauge(
    "parley_deadletters",
    "Messages waiting in the dead-letter stream, by consumer (refreshed every minute)",
    ["consumer"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)
