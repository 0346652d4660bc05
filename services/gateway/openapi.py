"""The OpenAPI 3.1 document of the gateway's HTTP API, served at /v1/openapi.json.

The ingest, profiles and health endpoints are described in full; any other route
the gateway serves (widget assets, the visitor socket) is listed from the router,
so the document always covers the whole API.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway.events_out import TYPES
from shared.profile_fields import VISITOR_FIELDS

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(ERROR, "Bad JSON, missing ids, illegal ids, or over the size limits"),
    "401": _json(ERROR, "Unknown or missing key"),
    "403": _json(ERROR, "Origin not allowed, or identity verification required"),
    "429": {
        "description": "Over the workspace's ingest rate",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": ERROR}},
    },
    "503": _json(ERROR, "Not stored (JetStream did not ack): retry with the same messageId"),
}

MESSAGE = {
    "type": "object",
    "description": "A Segment message; explicit nulls are accepted.",
    "properties": {
        "type": {"type": "string", "enum": list(TYPES)},
        "userId": {"type": ["string", "number", "null"]},
        "anonymousId": {"type": ["string", "number", "null"]},
        "previousId": {"type": ["string", "null"], "description": "alias only"},
        "event": {"type": ["string", "null"], "description": "track only (required there)"},
        "name": {"type": ["string", "null"]},
        "category": {"type": ["string", "null"]},
        "groupId": {"type": ["string", "null"]},
        "traits": {"type": ["object", "null"]},
        "properties": {"type": ["object", "null"]},
        "context": {"type": ["object", "null"]},
        "integrations": {"type": ["object", "null"]},
        "messageId": {"type": "string", "maxLength": 200},
        "timestamp": {"type": ["string", "null"], "format": "date-time"},
    },
    "anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}],
}

VISITOR = {
    "type": "object",
    "properties": {k: {"type": ["string", "null"]} for k in ("id", *VISITOR_FIELDS)}
    | {"distinct_ids": {"type": "array", "items": {"type": "string"}}},
}

PROFILE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "stage": {"type": "string", "enum": ["visitor", "contact", "member"]},
        "user_id": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "emails": {"type": "array", "items": {"type": "string"}},
        "name": {"type": ["string", "null"]},
        "age": {"type": ["integer", "null"]},
        "gender": {"type": ["string", "null"]},
        "distinct_ids": {"type": "array", "items": {"type": "string"}},
        "last_visit": {"type": ["string", "null"], "format": "date-time"},
        "country_code": {"type": ["string", "null"]},
        "region": {"type": ["string", "null"]},
        "city": {"type": ["string", "null"]},
        "referring_domain": {"type": ["string", "null"]},
        "visitors": {"type": "array", "items": {"$ref": "#/components/schemas/Visitor"}},
        "first_seen": {"type": ["string", "null"], "format": "date-time"},
        "last_seen": {"type": ["string", "null"], "format": "date-time"},
        "traits": {"type": "object"},
        "engagement_score": {"type": "integer", "minimum": 0, "maximum": 100},
        "merged_from": {"type": "array", "items": {"type": "string"}},
    },
}

EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": ["string", "null"]},
        "type": {"type": "string"},
        "properties": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
        "distinct_id": {"type": "string"},
        "message_id": {"type": "string"},
    },
}

OK = _json(
    {"type": "object", "properties": {"success": {"type": "boolean"}}},
    "Every message is durably stored (exactly 200)",
)


def _ingest_op(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "tags": ["ingest"],
            "security": [{"writeKey": []}, {"secretKey": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema}},
                "description": "May be gzip-compressed (Content-Encoding: gzip); 500 KB at most "
                "inflated, 32 KB per message.",
            },
            "responses": {"200": OK, **ERRORS},
        }
    }


def _get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": ["profiles"],
            "security": [{"secretKey": []}],
            "parameters": params,
            "responses": {
                "200": _json(schema, "Found"),
                "401": ERRORS["401"],
                "404": _json(ERROR, "No such profile"),
                "503": _json(ERROR, "Identity did not answer"),
            },
        }
    }


def _q(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }


PROFILE_ID = {"name": "profile_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _health(summary: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": ["operations"],
            "responses": {"200": {"description": "OK"}, "503": {"description": "Not ready"}},
        }
    }


def _paths() -> dict[str, Any]:
    batch_schema = {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {
                "type": "array",
                "maxItems": 2500,
                "items": {"$ref": "#/components/schemas/Message"},
            },
            "sentAt": {"type": "string", "format": "date-time"},
            "context": {"type": "object"},
            "writeKey": {"type": "string"},
        },
    }
    paths: dict[str, Any] = {
        "/v1/batch": _ingest_op("Send a batch of Segment messages", batch_schema),
        "/v1/import": _ingest_op("Legacy alias of /v1/batch", batch_schema),
    }
    for kind in TYPES:
        paths[f"/v1/{kind}"] = _ingest_op(
            f"Send one {kind} message", {"$ref": "#/components/schemas/Message"}
        )
    profiles = {
        "type": "object",
        "properties": {
            "profiles": {"type": "array", "items": {"$ref": "#/components/schemas/Profile"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    }
    paths["/v1/profiles"] = _get(
        "Find profiles by user id, email or distinct id; or list and search them",
        profiles,
        [
            _q("user_id", "exact user id"),
            _q("email", "email (any the profile has given; normalised)"),
            _q("distinct_id", "any distinct id (anonymous id or user id)"),
            _q("q", "prefix of name, email or user id (listing)"),
            _q("stage", "visitor, contact or member (listing)"),
            _q("cursor", "next_cursor of the previous page"),
            _q("limit", "page size, at most 200", "integer"),
        ],
    )
    paths["/v1/profiles/{profile_id}"] = _get(
        "One profile; a merged-away id answers with the survivor",
        {"$ref": "#/components/schemas/Profile"},
        [PROFILE_ID],
    )
    paths["/v1/profiles/{profile_id}/events"] = _get(
        "The profile's events, newest first",
        {
            "type": "object",
            "properties": {
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}
            },
        },
        [
            PROFILE_ID,
            _q("limit", "at most 200", "integer"),
            _q("before", "only events before this ISO-8601 time"),
        ],
    )
    paths["/v1/"] = {
        "get": {
            "summary": "What the API offers and where this document is",
            "tags": ["operations"],
            "responses": {"200": {"description": "A short JSON index"}},
        }
    }
    paths["/v1/openapi.json"] = {
        "get": {
            "summary": "This document",
            "tags": ["operations"],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    }
    paths["/healthz"] = _health("Liveness: the process answers")
    paths["/readyz"] = _health("Readiness: NATS (and every backing service) reachable")
    # /metrics is served on the metrics port (PARLEY_METRICS_PORT), not on this API
    return paths


def document(app: web.Application) -> dict[str, Any]:
    paths = _paths()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        method = route.method.lower()
        if not path or method in ("head", "options", "*"):
            continue
        entry = paths.setdefault(path, {})
        entry.setdefault(
            method,
            {
                "summary": f"{route.method} {path}",
                "tags": ["widget"],
                "responses": {"200": {"description": "OK"}},
            },
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Parley gateway",
            "version": "1",
            "description": "Segment-compatible ingest, profiles, widget and health endpoints.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "writeKey": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The write key as username, empty password (or "
                    "`writeKey` in the body)",
                },
                "secretKey": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The secret key as username: trusted server calls",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "request_id": {"type": "string", "description": "as in X-Request-Id"},
                    },
                },
                "Message": MESSAGE,
                "Profile": PROFILE,
                "Visitor": VISITOR,
                "Event": EVENT,
            },
        },
    }
