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

AUDIT_REFUSALS = Counter(
    "parley_audit_refusals_total",
    "Calls refused at the edge and reported to the audit trail (before aggregation)",
    ["reason"],
    registry=REGISTRY,
)
AUDIT_RECORDS = Counter(
    "parley_audit_records_published_total",
    "Aggregated audit records of refusals published on the bus",
    ["outcome"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)
