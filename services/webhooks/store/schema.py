"""The webhooks collections and their indexes.

endpoints: one per endpoint (`_id` = `we_<hex>`): workspace, URL, topics, enabled, the
  signing secrets (the newest first; an older one kept until its `expires_at` after a
  rotation), `failing_since` (the first failure since the last success) and, once the
  worker gave up on it, `disabled_reason` / `disabled_at`.
deliveries: the outbox, one per (event, endpoint) (`_id` = `<event id>:<endpoint id>`),
  written from the JetStream fact before it is acked: the exact body sent (so every retry
  signs the same bytes under the same `webhook-id`), `status` (`pending`, `delivered`,
  `failed`), `attempts`, `next_at`, `first_at`, a worker's `lease_until`, the last result.
attempts: the delivery log, one per HTTP attempt: status code or error, latency, a
  bounded excerpt of the answer; newest first per endpoint.

Deliveries and attempts are kept KEEP_DAYS (TTL indexes on `first_at` and `at`); the
retry window is shorter (shared/settings.py refuses a longer one), so a pending
delivery never expires.
"""

from __future__ import annotations

from pymongo import ASCENDING as ASC
from pymongo import DESCENDING as DESC
from pymongo import IndexModel

KEEP_DAYS = 30
_KEEP_S = KEEP_DAYS * 86400

INDEXES: dict[str, list[IndexModel]] = {
    "endpoints": [IndexModel([("workspace_id", ASC), ("created_at", ASC)])],
    "deliveries": [
        IndexModel([("status", ASC), ("next_at", ASC)]),
        IndexModel([("endpoint_id", ASC), ("first_at", DESC)]),
        IndexModel([("first_at", ASC)], expireAfterSeconds=_KEEP_S),
    ],
    "attempts": [
        IndexModel([("endpoint_id", ASC), ("at", DESC)]),
        IndexModel([("at", ASC)], expireAfterSeconds=_KEEP_S),
    ],
}
