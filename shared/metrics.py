"""Prometheus metrics shared by every service (one process, one service, one registry)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
# memory, CPU, open files, GC and the Python version of this process
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

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

# Read from JetStream's consumer info by each consuming service (shared.web.watch_consumers).
CONSUMER_PENDING = Gauge(
    "parley_consumer_pending",
    "Messages of a durable consumer not yet delivered (its lag)",
    ["service", "consumer"],
    registry=REGISTRY,
)
CONSUMER_ACK_PENDING = Gauge(
    "parley_consumer_ack_pending",
    "Messages of a durable consumer delivered but not yet acknowledged",
    ["service", "consumer"],
    registry=REGISTRY,
)
CONSUMER_REDELIVERED = Gauge(
    "parley_consumer_redelivered",
    "Messages of a durable consumer delivered more than once and not yet acknowledged",
    ["service", "consumer"],
    registry=REGISTRY,
)
DEAD_LETTERS = Gauge(
    "parley_dead_letters",
    "Messages in the dead-letter stream for a consumer",
    ["service", "consumer"],
    registry=REGISTRY,
)
INGEST_REFUSED = Counter(
    "parley_ingest_refused_total",
    "Ingest API requests or messages refused, by reason (the error code)",
    ["reason"],
    registry=REGISTRY,
)
INGEST_SUPPRESSED = Counter(
    "parley_ingest_suppressed_total",
    "Messages dropped at the gateway: they named an id of a person deleted with suppression",
    registry=REGISTRY,
)
RETENTION_REMOVED = Counter(
    "parley_retention_removed_total",
    "Records removed by the workspace's retention sweep (events, conversations, messages)",
    ["service", "kind"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "parley_rate_limited_total",
    "Requests, connections or frames refused by a rate limit",
    ["service", "limit"],
    registry=REGISTRY,
)
MAIL_SENT = Counter(
    "parley_mail_visitor_emails_total",
    "Emails to visitors about unseen answers: sent, deferred (4xx, retried) or bounced (5xx)",
    ["outcome"],
    registry=REGISTRY,
)
MAIL_SEND_SECONDS = Histogram(
    "parley_mail_unseen_to_sent_seconds",
    "From the first unseen agent message to its email accepted by the relay",
    buckets=(0.1, 0.5, 1, 5, 30, 60, 180, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
MAIL_INBOUND = Counter(
    "parley_mail_inbound_total",
    "Mail to the inbound listener: accepted replies, refused recipients, refused messages",
    ["outcome"],
    registry=REGISTRY,
)
CHAT_MESSAGES = Counter(
    "parley_chat_messages_total",
    "Chat messages stored: in = from visitors, out = agents' replies (not notes)",
    ["direction"],
    registry=REGISTRY,
)
CONSUMER_LOOP_ERRORS = Counter(
    "parley_consumer_loop_errors_total",
    "Failures of a durable consumer's own loop (it logs, backs off and goes on)",
    ["service", "consumer"],
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

# Read when scraped (set_function in shared.web): a count that only grows is a task leak.
ASYNCIO_TASKS = Gauge(
    "parley_asyncio_tasks",
    "asyncio tasks not yet done in the service's event loop",
    ["service"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)


WEBHOOK_ATTEMPTS = Counter(
    "parley_webhook_attempts_total",
    "Webhook delivery attempts: delivered, retry (timeout, 408, 429, 5xx), failed (final)",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_SECONDS = Histogram(
    "parley_webhook_attempt_seconds",
    "How long an endpoint took to answer a webhook delivery",
    registry=REGISTRY,
)
WEBHOOKS_DISABLED = Counter(
    "parley_webhook_endpoints_disabled_total",
    "Endpoints disabled after failing for the whole retry window",
    registry=REGISTRY,
)
