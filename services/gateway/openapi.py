"""The OpenAPI 3.1 document of the gateway's HTTP API, served at /v1/openapi.json.

Generated from the Structs the gateway checks requests with and identity answers
with (shared/schema), so the document says what the code does. The demo site, the
widget's script and socket (docs/widget-protocol.md) and the health checks are
served by the gateway but are not part of this API; `NOT_API` lists them, and the
test of this document fails on any other route it does not describe.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from shared.schema import history, profiles, segment, webhooks
from shared.settings import Settings

# routes the gateway serves outside the API: (method, path) as aiohttp names them
NOT_API = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/widget.js"),
    ("GET", "/widget/lang/{lang}.json"),
    ("GET", "/v1/widget/ws"),
    ("GET", "/demo"),
    ("GET", "/demo/"),
    ("GET", "/demo/pricing"),
    ("GET", "/demo/{kind}"),
    ("POST", "/demo/{kind}"),
    ("GET", "/demo/account"),
    ("GET", "/demo/logout"),
    # the continue link's page (services/gateway/continue_link/views.py)
    ("GET", "/c/{token}"),
    # the unsubscribe link of the visitor's emails (services/gateway/unsubscribe.py)
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
}
SCHEMAS = (
    segment.Batch,
    segment.Message,
    segment.Success,
    segment.Error,
    segment.Refusals,
    profiles.Profile,
    profiles.ProfileList,
    profiles.EventList,
    profiles.Company,
    profiles.ApiIndex,
    webhooks.WebhookCreate,
    webhooks.Webhook,
    webhooks.WebhookList,
    webhooks.WebhookDeleted,
    history.MergeHistory,
    history.TraitHistory,
)
REF = "#/components/schemas/{name}"


def _ref(shape: type) -> dict[str, str]:
    return {"$ref": REF.format(name=shape.__name__)}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


ERROR = _ref(segment.Error)
# a refused message answers Refusals (which messages and why), anything else Error
REFUSAL = {"anyOf": [_ref(segment.Refusals), ERROR]}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}


def _ingest_responses() -> dict[str, Any]:
    return {
        "200": _json(
            {"anyOf": [_ref(segment.Success), _ref(segment.Refusals)]},
            "Every message is durably stored; or, for a batch, the valid ones are and "
            "`rejected` lists the others",
        ),
        "400": _json(
            REFUSAL, "Bad JSON or encoding, refused messages (the rest stored), over a limit"
        ),
        "401": _json(ERROR, "Unknown or missing key"),
        "403": _json(REFUSAL, "Origin not allowed, or identity verification required"),
        "413": _json(ERROR, "The body is over 512 KB as sent"),
        "429": _json(ERROR, "Over the workspace's ingest rate", headers=RETRY_AFTER),
        "500": _json(ERROR, "A bug: the request_id is in the gateway's log"),
        "503": _json(
            ERROR,
            "Not stored (the bus did not ack): retry with the same messageId",
            headers=RETRY_AFTER,
        ),
    }


def _ingest(operation_id: str, summary: str, body: type) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["ingest"],
            "security": [{"writeKey": []}, {"secretKey": []}],
            "requestBody": {
                "required": True,
                "description": "May be gzip-compressed (Content-Encoding: gzip); 500 KB at most "
                "inflated, 32 KB per message.",
                "content": {"application/json": {"schema": _ref(body)}},
            },
            "responses": _ingest_responses(),
        }
    }


def _get(
    operation_id: str,
    summary: str,
    reply: type,
    params: list[dict[str, Any]],
    missing: str = "No such profile",
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["profiles"],
            "security": [{"secretKey": []}],
            "parameters": params,
            "responses": {
                "200": _json(_ref(reply), "Found"),
                "400": _json(ERROR, "A parameter is malformed"),
                "401": _json(ERROR, "Unknown or missing secret key"),
                "404": _json(ERROR, missing),
                "503": _json(ERROR, "Identity did not answer"),
            },
        }
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string", "maxLength": 300},
    }


PROFILE_ID = {
    "name": "profile_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 300},
}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 200}


def _ingest_paths() -> dict[str, Any]:
    paths = {
        "/v1/batch": _ingest("batch", "Send a batch of Segment messages", segment.Batch),
        "/v1/import": _ingest("import", "Legacy alias of /v1/batch", segment.Batch),
    }
    for kind in segment.TYPES:
        paths[f"/v1/{kind}"] = _ingest(
            kind, f"Send one {kind} message (its type is the path's)", segment.Message
        )
        paths[f"/v1/{kind[0]}"] = _ingest(
            f"{kind}Short", f"analytics.js's short route for /v1/{kind}", segment.Message
        )
    paths["/v1/b"] = _ingest(
        "batchShort", "analytics.js's batching route: /v1/batch", segment.Batch
    )
    beacon = _ingest(
        "beacon", "RudderStack's beacon batches, the write key in the query", segment.Batch
    )
    beacon["post"]["parameters"] = [_query("writeKey", "the write key (a beacon sends no headers)")]
    paths["/beacon/v1/batch"] = beacon
    return paths


def _sdk_paths() -> dict[str, Any]:
    """What analytics.js and RudderStack's SDK fetch to boot (services/gateway/sdk_compat.py)."""
    key = {"name": "write_key", "in": "path", "required": True, "schema": {"type": "string"}}
    config = {
        "200": _json({"type": "object"}, "The document the SDK boots from"),
        "401": _json(ERROR, "Unknown write key (or a secret key)"),
        "403": _json(ERROR, "Origin not allowed"),
    }
    source_config = {
        "get": {
            "operationId": "rudderstackSourceConfig",
            "summary": "RudderStack's source config: no destinations, stats off",
            "tags": ["sdk"],
            "security": [{"writeKey": []}],
            "parameters": [_query("writeKey", "the write key (or as the Basic username)")],
            "responses": config,
        }
    }
    return {
        "/v1/projects/{write_key}/settings": {
            "get": {
                "operationId": "analyticsJsSettings",
                "summary": "analytics.js's settings: events to this gateway, metrics off",
                "tags": ["sdk"],
                "parameters": [key],
                "responses": config,
            }
        },
        "/sourceConfig/": source_config,
        "/sourceConfig": {"get": {**source_config["get"], "operationId": "rudderstackConfig"}},
        "/v1/m": {
            "post": {
                "operationId": "analyticsJsMetrics",
                "summary": "analytics.js's metrics: accepted and dropped",
                "tags": ["sdk"],
                "responses": {"200": _json(_ref(segment.Success), "Dropped")},
            }
        },
    }


def _profile_paths() -> dict[str, Any]:
    return {
        "/v1/profiles": _get(
            "listProfiles",
            "Find profiles by user id, email or distinct id; or list and search them",
            profiles.ProfileList,
            [
                _query("user_id", "exact user id"),
                _query("email", "email (any the profile has given; normalised)"),
                _query("distinct_id", "any distinct id (anonymous id or user id)"),
                _query("q", "prefix of name, email or user id (listing)"),
                _query(
                    "stage",
                    "listing: only this stage",
                    {"type": "string", "enum": ["visitor", "contact", "member"]},
                ),
                _query("cursor", "next_cursor of the previous page"),
                _query("limit", "page size", LIMIT),
            ],
        ),
        "/v1/profiles/{profile_id}": {
            **_get(
                "getProfile",
                "One profile; a merged-away id answers with the survivor",
                profiles.Profile,
                [PROFILE_ID],
            ),
            **_delete(),
        },
        "/v1/profiles/{profile_id}/events": _get(
            "listProfileEvents",
            "The profile's events, newest first",
            profiles.EventList,
            [
                PROFILE_ID,
                _query("limit", "at most this many", LIMIT),
                _query("before", "only events before this ISO-8601 time"),
            ],
        ),
        "/v1/profiles/{profile_id}/merges": _get(
            "listProfileMerges",
            "Why the profile is what it is: each merge that built it and each link refused "
            "it, with the event, the rule and both sides as they were, newest first",
            history.MergeHistory,
            [PROFILE_ID],
        ),
        "/v1/profiles/{profile_id}/merges/{merge_id}/undo": _undo(),
        "/v1/profiles/{profile_id}/traits/{name}/history": _get(
            "getTraitHistory",
            "A trait's recent values (at most 10: value, event time, message id, source), "
            "newest first; none for a trait never set",
            history.TraitHistory,
            [PROFILE_ID, {**PROFILE_ID, "name": "name"}],
        ),
        "/v1/companies/{company_id}": _get(
            "getCompany",
            "A company (the groupId of Segment's group call) with its traits and one page "
            "of its people, by profile id (at most 100 a page)",
            profiles.Company,
            [
                {**PROFILE_ID, "name": "company_id"},
                _query("cursor", "next_cursor of the previous page"),
                _query("limit", "page size", LIMIT),
            ],
            "No such company",
        ),
        "/v1/profiles/{profile_id}/export": _export(),
    }


def _delete() -> dict[str, Any]:
    suppress = _query(
        "suppress",
        "true: also suppress the person's ids (later events naming them are dropped and "
        "counted until the suppression is lifted, /v1/suppressions)",
        {"type": "string", "enum": ["true", "false", "1", "0"]},
    )
    operation = _get("deleteProfile", "", profiles.Profile, [PROFILE_ID, suppress])["get"]
    operation["summary"] = (
        "Delete the person (a merged-away id: its survivor) with every id merged into it: "
        "profile, visitors, distinct ids, aliases, events, conversations and messages, in "
        "every service; a person.deleted webhook goes out. Answers the ids erased and the "
        "suppression_id (null without suppress)"
    )
    operation["responses"]["200"] = {
        "description": "Deleted",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    return {"delete": operation}


def _undo() -> dict[str, Any]:
    """Undoing a merge (docs/identity.md, "Undoing a merge"): a POST answering a profile."""
    merge_id = {**PROFILE_ID, "name": "merge_id", "description": "a merge's id (its `id`)"}
    operation = _get(
        "undoMerge",
        "Undo one merge of the profile's timeline: the merged-away profile is re-created "
        "under its own id with its visitors, distinct ids, events and conversations, traits "
        "recomputed from each side's events; the two are recorded do_not_merge and a "
        "person.unmerged webhook goes out. Answers the re-created profile. 409 when a later "
        "merge stands on it: undo that one first (the message names it)",
        profiles.Profile,
        [PROFILE_ID, merge_id],
        "No such merge of this profile",
    )["get"]
    operation["responses"]["200"]["description"] = "Undone: the re-created profile"
    operation["responses"]["409"] = _json(ERROR, "A later merge stands on this one")
    return {"post": operation}


def _export() -> dict[str, Any]:
    """The export is a stream of one JSON object, described here rather than by a Struct."""
    form = _query(
        "format",
        "json (the default) or zip: person.json plus transcript.html, every conversation "
        "readable in a browser",
        {"type": "string", "enum": ["json", "zip"]},
    )
    operation = _get("exportProfile", "", profiles.Profile, [PROFILE_ID, form])
    operation["get"]["summary"] = (
        "Everything Parley keeps about the person, as one JSON document (a download): "
        "profile, trait_history, distinct_ids, aliases, merged_ids, user_ids, events "
        "(oldest first) and conversations, each with every message. Streamed: a document "
        "that does not parse was cut off by a service failing midway"
    )
    operation["get"]["responses"]["200"] = {
        "description": "The export",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
        },
    }
    return operation


WEBHOOK_ID = {
    "name": "webhook_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}


def _webhook_op(
    operation_id: str, summary: str, ok: str, reply: type, **extra: Any
) -> dict[str, Any]:
    responses = {
        ok: _json(_ref(reply), "Done"),
        "401": _json(ERROR, "Unknown or missing secret key"),
        "503": _json(ERROR, "The webhooks service did not answer"),
    }
    if "requestBody" in extra:
        responses["400"] = _json(ERROR, "Malformed body, a refused URL, or too many webhooks")
        responses["413"] = _json(ERROR, "The body is over 16 KB")
    if "parameters" in extra:
        responses["404"] = _json(ERROR, "No such webhook")
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["webhooks"],
        "security": [{"secretKey": []}],
        "responses": responses,
        **extra,
    }


def _webhook_paths() -> dict[str, Any]:
    body = {
        "required": True,
        "content": {"application/json": {"schema": _ref(webhooks.WebhookCreate)}},
    }
    return {
        "/v1/webhooks": {
            "post": _webhook_op(
                "createWebhook",
                "Register an endpoint; the answer holds its signing secret (whsec_...)",
                "201",
                webhooks.Webhook,
                requestBody=body,
            ),
            "get": _webhook_op(
                "listWebhooks", "The workspace's endpoints", "200", webhooks.WebhookList
            ),
        },
        "/v1/webhooks/{webhook_id}": {
            "get": _webhook_op(
                "getWebhook", "One endpoint", "200", webhooks.Webhook, parameters=[WEBHOOK_ID]
            ),
            "delete": _webhook_op(
                "deleteWebhook",
                "Remove an endpoint and its delivery log",
                "200",
                webhooks.WebhookDeleted,
                parameters=[WEBHOOK_ID],
            ),
        },
    }


SUPPRESSION_ID = {
    "name": "sid",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
SUPPRESSION = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "profile_id": {"type": "string"},
        "ids": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string", "format": "date-time"},
        "actor": {"type": "object"},
        "dropped": {"type": "integer", "description": "events dropped so far (seconds late)"},
    },
}


def _suppression_op(
    operation_id: str, summary: str, reply: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    responses = {
        "200": _json(reply, "Done"),
        "401": _json(ERROR, "Unknown or missing secret key"),
    }
    if "parameters" in extra:
        responses["404"] = _json(ERROR, "No such suppression")
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["profiles"],
        "security": [{"secretKey": []}],
        "responses": responses,
        **extra,
    }


def _suppression_paths() -> dict[str, Any]:
    listing = {
        "type": "object",
        "properties": {"suppressions": {"type": "array", "items": SUPPRESSION}},
    }
    lifted = {"type": "object", "properties": {"lifted": {"const": True}}}
    return {
        "/v1/suppressions": {
            "get": _suppression_op(
                "listSuppressions",
                "Persons deleted with suppress: their ids and the events dropped since",
                listing,
            )
        },
        "/v1/suppressions/{sid}": {
            "get": _suppression_op(
                "getSuppression", "One suppression", SUPPRESSION, parameters=[SUPPRESSION_ID]
            ),
            "delete": _suppression_op(
                "liftSuppression",
                "Lift it: events naming its ids are accepted again",
                lifted,
                parameters=[SUPPRESSION_ID],
            ),
        },
    }


def _about_paths() -> dict[str, Any]:
    return {
        "/v1/": {
            "get": {
                "operationId": "apiIndex",
                "summary": "What the API offers and where this document is",
                "tags": ["about"],
                "responses": {"200": _json(_ref(profiles.ApiIndex), "A short index")},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapiDocument",
                "summary": "This document",
                "tags": ["about"],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "writeKey": {
            "type": "http",
            "scheme": "basic",
            "description": "The write key as username, empty password (or `writeKey` in the "
            "body): browsers",
        },
        "secretKey": {
            "type": "http",
            "scheme": "basic",
            "description": "The secret key as username: trusted server calls",
        },
    }


@cache
def _components() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(SCHEMAS, ref_template=REF)
    return schemas


def document(settings: Settings) -> dict[str, Any]:
    paths = {
        **_ingest_paths(),
        **_sdk_paths(),
        **_profile_paths(),
        **_webhook_paths(),
        **_suppression_paths(),
        **_about_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Parley gateway",
            "version": str(segment.API_VERSION),
            "description": "Segment-compatible ingest, the profiles API and webhook "
            "endpoints (docs/webhooks.md). The widget's socket is described in "
            "docs/widget-protocol.md.",
        },
        "servers": [{"url": settings.public_url, "description": "this deployment"}],
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": _security_schemes(), "schemas": _components()},
    }
