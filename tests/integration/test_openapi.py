"""The gateway's OpenAPI document: valid, complete, and true of the real gateway's answers.

Against a real gateway, identity and webhooks service (on the real nats-server and SecantusDB):
the document passes openapi-spec-validator, names every API route (and nothing that
is not the API), real answers match their schemas, and schemathesis, with bounded
deterministic examples for every operation, finds no 500 and no answer off its schema.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from services.gateway.openapi import NOT_API
from shared.settings import Settings
from tests.conftest import StartService
from tests.integration.identity_support import Stack

EXAMPLES = 25  # per operation: the whole run stays well under a minute


@pytest.fixture
async def stack(start_service: StartService, settings: Settings) -> Stack:
    gateway = await start_service("gateway")
    await start_service("webhooks")  # answers /v1/webhooks
    return Stack(gateway, settings, [await start_service("identity")])


async def _document(stack: Stack) -> dict[str, Any]:
    status, doc = await stack.api("/v1/openapi.json", key="")
    assert status == 200
    return doc


def _check(doc: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """`body` against the schema the document gives for this answer."""
    answer = doc["paths"][path][method]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": doc["components"]}).validate(body)


async def test_the_document_is_valid_openapi(stack: Stack) -> None:
    doc = await _document(stack)
    validate(doc)  # raises on an invalid document
    assert doc["servers"] == [{"url": stack.settings.public_url, "description": "this deployment"}]
    operations = [op for item in doc["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == len(operations)


async def test_it_names_every_api_route_and_nothing_else(stack: Stack) -> None:
    doc = await _document(stack)
    served = set()
    for route in stack.gateway.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method not in ("HEAD", "OPTIONS"):
            served.add((route.method, path))
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert served - NOT_API == documented
    assert not any(p.startswith(("/demo", "/healthz", "/readyz", "/metrics")) for p in doc["paths"])
    assert "/v1/widget/ws" not in doc["paths"]  # a socket is not an HTTP operation


async def test_numeric_and_snake_case_ids_are_documented_as_accepted(stack: Stack) -> None:
    message = (await _document(stack))["components"]["schemas"]["Message"]["properties"]
    for name in ("previousId", "previous_id", "groupId", "group_id", "userId", "anonymous_id"):
        types = {t.get("type") for t in message[name]["anyOf"]}
        assert {"string", "integer", "number", "null"} <= types, name
    assert "message_id" in message


async def test_real_answers_match_their_schemas(stack: Stack) -> None:
    doc = await _document(stack)
    user = f"u-{uuid.uuid4().hex[:8]}"
    identify = {"userId": user, "anonymousId": "a-" + user, "traits": {"name": "Ann", "age": 31}}
    status, body, _ = await stack.post("/v1/identify", identify, key=stack.settings.secret_key)
    assert status == 200
    _check(doc, "/v1/identify", "post", 200, body)
    group = {"type": "group", "userId": user, "groupId": "g-" + user, "traits": {"name": "Co"}}
    batch = {
        "batch": [{"type": "track", "userId": user, "event": "Paid"}, {"type": "track"}, group]
    }
    status, body, _ = await stack.post("/v1/batch", batch, key=stack.settings.secret_key)
    assert status == 200 and body["accepted"] == 2 and body["success"] is True
    _check(doc, "/v1/batch", "post", 200, body)

    profile = await stack.wait_profile(
        lambda p: p["name"] == "Ann" and p["companies"], user_id=user
    )
    status, found = await stack.api("/v1/profiles", user_id=user)
    _check(doc, "/v1/profiles", "get", status, found)
    status, listing = await stack.api("/v1/profiles", limit=1)
    _check(doc, "/v1/profiles", "get", status, listing)
    status, one = await stack.api(f"/v1/profiles/{profile['id']}")
    _check(doc, "/v1/profiles/{profile_id}", "get", status, one)
    assert one["age"] == 31 and one["visitors"] and one["companies"][0]["name"] == "Co"
    status, company = await stack.api(f"/v1/companies/g-{user}")
    _check(doc, "/v1/companies/{company_id}", "get", status, company)
    assert status == 200 and company["people"][0]["id"] == profile["id"]
    status, answer = await stack.api("/v1/companies/nobody")
    assert status == 404
    _check(doc, "/v1/companies/{company_id}", "get", status, answer)
    status, events = await stack.api(f"/v1/profiles/{profile['id']}/events")
    _check(doc, "/v1/profiles/{profile_id}/events", "get", status, events)
    assert status == 200 and events["events"]
    status, merges = await stack.api(f"/v1/profiles/{profile['id']}/merges")
    _check(doc, "/v1/profiles/{profile_id}/merges", "get", status, merges)
    assert status == 200 and merges["profile_id"] == profile["id"]
    for path, params, code in (
        ("/v1/profiles/nobody", {}, 404),
        ("/v1/profiles", {"email": "not-an-email"}, 400),
    ):
        status, answer = await stack.api(path, **params)
        assert status == code
        _check(doc, path if code != 404 else "/v1/profiles/{profile_id}", "get", status, answer)
    status, answer = await stack.api("/v1/profiles", key="wrong")
    _check(doc, "/v1/profiles", "get", status, answer)
    status, index = await stack.api("/v1/", key="")
    _check(doc, "/v1/", "get", status, index)


def _fuzz(doc: dict[str, Any], base_url: str, secret_key: str) -> list[str]:
    """Every operation with schemathesis; the labels of those it ran (it raises on a failure)."""
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.core.result import Ok

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    headers = {"Authorization": "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()}
    ran = []
    for result in schemathesis.openapi.from_dict(doc).get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()

        @hypothesis_settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(base_url=base_url, headers=headers, checks=checks)

        run()
        ran.append(operation.label)
    return ran


async def test_schemathesis_finds_no_server_error_and_no_answer_off_its_schema(
    stack: Stack,
) -> None:
    doc = await _document(stack)
    ran = await asyncio.to_thread(_fuzz, doc, stack.url, stack.settings.secret_key)
    assert len(ran) == sum(len(item) for item in doc["paths"].values())
