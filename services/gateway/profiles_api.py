"""Profiles API for the product backend: the secret key as Basic username, answers from identity.

GET /v1/profiles?user_id=… | ?email=… | ?distinct_id=…   -> {"profiles": [...]}
GET /v1/profiles?q=…&stage=…&cursor=…&limit=…           -> {"profiles", "next_cursor"}
GET /v1/profiles/{id}                                    -> the profile (merged id: survivor)
GET /v1/profiles/{id}/events?limit=&before=              -> {"events": [...]} newest first
GET /v1/profiles/{id}/merges                             -> its merges and refused links, why
POST /v1/profiles/{id}/merges/{merge_id}/undo            -> the merge undone: the re-created profile
GET /v1/profiles/{id}/traits/{name}/history              -> the trait's recent values
GET /v1/companies/{id}?cursor=&limit=                   -> a company (group id) and its people
GET /v1/profiles/{id}/export?format=json|zip            -> one JSON document: all Parley keeps
                                                            (zip: it and an HTML transcript)
DELETE /v1/profiles/{id}?suppress=true                   -> the person erased everywhere
                                                            (suppress: their ids' later
                                                            events dropped, /v1/suppressions)
GET /v1/openapi.json                                     -> this whole HTTP API described
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway import openapi
from services.gateway.api_auth import ApiError, caller_for
from shared import data_export, export_zip
from shared.errors import BusError
from shared.web import BUS, SETTINGS

LOOKUPS = ("user_id", "email", "distinct_id")
MAX_PARAM = 300
UNDO_TIMEOUT = 30.0  # an undo replays both sides' events


async def _ask(
    request: web.Request,
    verb: str,
    payload: dict[str, Any],
    missing: str = "no such profile",
    timeout: float = 5.0,
) -> Any:
    bus = request.app[BUS]
    try:
        return await bus.request(bus.subjects.request("identity", verb), payload, timeout)
    except BusError as exc:
        if exc.code == "not_found":
            raise ApiError(404, "not_found", missing) from exc
        if exc.code == "invalid":
            raise ApiError(400, "invalid", str(exc)) from exc
        if exc.code == "conflict":
            raise ApiError(409, "conflict", str(exc)) from exc
        raise ApiError(503, "unavailable", f"identity did not answer: {exc.code}") from exc


def _params(request: web.Request, names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in names:
        value = request.query.get(name)
        if value is None or value == "":
            continue
        if len(value) > MAX_PARAM:
            raise ApiError(400, "invalid", f"{name} is too long")
        out[name] = value
    return out


def _guarded(handler):
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            caller = caller_for(request, None, secret_only=True)
            return web.json_response(await handler(request, caller.workspace.id))
        except ApiError as exc:
            return exc.response()

    return run


async def list_profiles(request: web.Request, ws: str) -> Any:
    lookups = _params(request, LOOKUPS)
    if lookups:
        return await _ask(request, "profile.find", {"workspace_id": ws, **lookups})
    search: dict[str, Any] = {"workspace_id": ws, **_params(request, ("q", "stage", "cursor"))}
    if limit := request.query.get("limit"):
        if not limit.isdigit():
            raise ApiError(400, "invalid", "limit must be a positive integer")
        search["limit"] = int(limit)
    return await _ask(request, "profile.search", search)


async def get_profile(request: web.Request, ws: str) -> Any:
    profile_id = request.match_info["profile_id"][:MAX_PARAM]
    return await _ask(request, "profile.get", {"workspace_id": ws, "profile_id": profile_id})


async def profile_events(request: web.Request, ws: str) -> Any:
    payload: dict[str, Any] = {
        "workspace_id": ws,
        "profile_id": request.match_info["profile_id"][:MAX_PARAM],
        **_params(request, ("before",)),
    }
    limit = request.query.get("limit")
    if limit:
        if not limit.isdigit() or int(limit) < 1:
            raise ApiError(400, "invalid", "limit must be a positive integer")
        payload["limit"] = int(limit)
    return await _ask(request, "profile.events", payload)


async def profile_merges(request: web.Request, ws: str) -> Any:
    profile_id = request.match_info["profile_id"][:MAX_PARAM]
    return await _ask(request, "profile.merges", {"workspace_id": ws, "profile_id": profile_id})


async def undo_merge(request: web.Request, ws: str) -> Any:
    """Split the merge's merged-away profile back out (docs/identity.md, "Undoing a merge")."""
    payload = {
        "workspace_id": ws,
        "profile_id": request.match_info["profile_id"][:MAX_PARAM],
        "merge_id": request.match_info["merge_id"][:MAX_PARAM],
        "actor_kind": "api",
    }
    return await _ask(
        request, "profile.unmerge", payload, "no such merge of this profile", UNDO_TIMEOUT
    )


async def trait_history(request: web.Request, ws: str) -> Any:
    payload = {
        "workspace_id": ws,
        "profile_id": request.match_info["profile_id"][:MAX_PARAM],
        "name": request.match_info["name"][:MAX_PARAM],
    }
    return await _ask(request, "profile.trait_history", payload)


async def get_company(request: web.Request, ws: str) -> Any:
    payload: dict[str, Any] = {
        "workspace_id": ws,
        "company_id": request.match_info["company_id"][:MAX_PARAM],
        **_params(request, ("cursor",)),
    }
    limit = request.query.get("limit")
    if limit:
        if not limit.isdigit() or int(limit) < 1:
            raise ApiError(400, "invalid", "limit must be a positive integer")
        payload["limit"] = int(limit)
    return await _ask(request, "company.get", payload, "no such company")


async def export_profile(request: web.Request) -> web.StreamResponse:
    """JSON streamed as it is assembled (shared/data_export.py): never whole in memory;
    `?format=zip`: that document and an HTML transcript (shared/export_zip.py)."""
    try:
        ws = caller_for(request, None, secret_only=True).workspace.id
        form = request.query.get("format", "json")
        if form not in ("json", "zip"):
            raise ApiError(400, "invalid", "format must be json or zip")
        profile_id = request.match_info["profile_id"][:MAX_PARAM]
        bus = request.app[BUS]
        try:
            found = await data_export.records(bus, ws, profile_id)
        except BusError as exc:
            code = exc.code
            if code == "not_found":
                raise ApiError(404, "not_found", "no such profile") from exc
            raise ApiError(503, "unavailable", f"identity did not answer: {code}") from exc
        if form == "zip":
            try:
                return await export_zip.respond(request, bus, ws, found)
            except BusError as exc:
                raise ApiError(503, "unavailable", f"a service did not answer: {exc.code}") from exc
    except ApiError as exc:
        return exc.response()
    return await data_export.respond(request, request.app[BUS], ws, found)


async def delete_profile(request: web.Request, ws: str) -> Any:
    """The person, every id merged into it, and all their data, in every service (the
    `person_deleted` fact); the answer names what identity erased."""
    payload = {
        "workspace_id": ws,
        "profile_id": request.match_info["profile_id"][:MAX_PARAM],
        "actor_kind": "api",
        "suppress": _flag(request, "suppress"),
    }
    answer = await _ask(request, "person.delete", payload)
    fact = answer["fact"]
    return {
        "deleted": True,
        "profile_id": fact["profile_id"],
        "person_ids": fact["person_ids"],
        "distinct_ids": fact["distinct_ids"],
        "erased": answer["erased"],
        "suppression_id": answer.get("suppression_id"),
    }


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "invalid", f"{name} must be true or false")
    return value in ("true", "1")


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi.document(request.app[SETTINGS]))


async def api_index(request: web.Request) -> web.Response:
    """`make run` prints /v1/ as the API's address: answer there with where to go next."""
    return web.json_response(
        {
            "name": "Parley gateway API",
            "ingest": "POST /v1/batch, /v1/identify, /v1/alias, /v1/track, /v1/page, "
            "/v1/screen, /v1/group (Segment-compatible; write key as the Basic username)",
            "profiles": "GET /v1/profiles?email=|user_id=|distinct_id= (secret key as the "
            "Basic username)",
            "openapi": "/v1/openapi.json",
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/v1/profiles", _guarded(list_profiles))
    app.router.add_get("/v1/profiles/{profile_id}", _guarded(get_profile))
    app.router.add_delete("/v1/profiles/{profile_id}", _guarded(delete_profile))
    app.router.add_get("/v1/profiles/{profile_id}/events", _guarded(profile_events))
    app.router.add_get("/v1/profiles/{profile_id}/merges", _guarded(profile_merges))
    app.router.add_post("/v1/profiles/{profile_id}/merges/{merge_id}/undo", _guarded(undo_merge))
    app.router.add_get("/v1/profiles/{profile_id}/traits/{name}/history", _guarded(trait_history))
    app.router.add_get("/v1/companies/{company_id}", _guarded(get_company))
    app.router.add_get("/v1/profiles/{profile_id}/export", export_profile)
    app.router.add_get("/v1/openapi.json", openapi_json)
    app.router.add_get("/v1/", api_index)
