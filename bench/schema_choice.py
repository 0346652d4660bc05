"""Which typed-schema library for the edges: pydantic v2 or msgspec, against the hand-written code.

`python -m bench.schema_choice` times the ingest path of one Segment message, from the
parsed JSON object to the bytes published on the bus: check, normalise, build the event,
encode it. Every variant runs the same storable-JSON walk and size limit (they are not
schema checks: surrogates, int64 range, depth), so the difference is the schema part.

- `shipped`: the gateway's own path (`events_out.normalise` + `shared.bus.encode`); run on
  a checkout from before the choice it measures the hand-written code (a dataclass
  `IngestEvent` re-checking `normalise`, `dataclasses.asdict` + `json.dumps`);
- `pydantic`: a `BaseModel` with `AliasChoices` for the camelCase/snake_case names and
  `field_validator`s for the ids, `model_dump_json`;
- `msgspec`: a `Struct` read with `msgspec.convert` after renaming the snake_case keys,
  ids checked after, `msgspec.json.encode`.

Figures: µs per message (median of 7 runs over realistic mixed batches), printed as a table.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import pydantic
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from services.gateway.events_out import event_time, normalise
from shared.bus import encode
from shared.errors import PermanentError
from shared.events import IngestEvent
from shared.identifiers import illegal_id_reason
from shared.storable import check_storable
from shared.workspaces import Workspace

WS = Workspace("w1", "W", "wk", "sk", "idsecret")
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
MESSAGES = 2000
RUNS = 7


def realistic_batch(count: int, seed: int = 3) -> list[dict[str, Any]]:
    """What analytics.js and the server SDKs send: mostly track and page, some identify."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(count):
        kind = rng.choices(["track", "page", "identify", "group", "alias"], [55, 30, 10, 3, 2])[0]
        msg: dict[str, Any] = {
            "type": kind,
            "messageId": f"ajs-next-{n:08d}-{rng.randrange(10**9)}",
            "anonymousId": f"7c0e{rng.randrange(10**12):012d}",
            "timestamp": "2026-05-01T11:59:58.123Z",
            "context": {
                "library": {"name": "analytics.js", "version": "next-1.70.0"},
                "page": {
                    "path": "/pricing",
                    "referrer": "https://www.google.com/",
                    "title": "Pricing",
                    "url": "https://shop.example/pricing?utm_source=ads",
                },
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124",
                "locale": "en-GB",
            },
            "integrations": {},
        }
        if rng.random() < 0.4 or kind in ("identify", "alias", "group"):
            msg["userId"] = f"user-{rng.randrange(10**6)}"
        if kind == "track":
            msg["event"] = rng.choice(["Product Viewed", "Added To Cart", "Signed Up"])
            msg["properties"] = {"sku": "SKU-1", "price": 19.99, "quantity": 2, "tags": ["a"]}
        elif kind == "page":
            msg["name"] = "Pricing"
            msg["properties"] = {"path": "/pricing", "title": "Pricing"}
        elif kind == "identify":
            msg["traits"] = {"email": "a@b.io", "name": "Ann", "plan": "pro", "age": 31}
        elif kind == "group":
            msg["groupId"] = rng.randrange(10**6)
            msg["traits"] = {"name": "Acme"}
        else:
            msg["previousId"] = msg["anonymousId"]
        out.append(msg)
    return out


# ---------------------------------------------------------------- shared by both libraries


def _checked_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PermanentError("id must be a string", code="illegal_id")
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):
        value = str(int(value)) if value.is_integer() else str(value)
    if reason := illegal_id_reason(value):
        raise PermanentError(f"id {reason}", code="illegal_id")
    return value


def _shape(raw: dict[str, Any]) -> None:
    check_storable(raw)
    if len(json.dumps(raw, separators=(",", ":")).encode()) > 32 * 1024:
        raise PermanentError("too large", code="too_large")


# The event both libraries build has the shipped event's fields (one list, so the
# variants cannot drift from it or each other); each reads the message its own way.
_EVENT_FIELDS = msgspec.structs.fields(IngestEvent)


def _event_fields(msg: Any, checked_id: Callable[[Any], str | None]) -> dict[str, Any]:
    """The event's fields from a message read by either library (`PMessage`, `MMessage`);
    `checked_id` is what the variant still has to do to an id (pydantic: nothing more)."""
    properties = dict(msg.properties or {})
    if msg.type == "group":
        properties["group_id"] = checked_id(msg.group_id)
    return {
        "workspace_id": WS.id,
        "kind": msg.type,
        "message_id": msg.message_id or "gen",
        "timestamp": event_time(msg.timestamp, None, NOW),
        "received_at": "2026-05-01T12:00:00.000Z",
        "anonymous_id": checked_id(msg.anonymous_id),
        "user_id": checked_id(msg.user_id),
        "previous_id": checked_id(msg.previous_id),
        "event": msg.event or msg.name,
        "traits": msg.traits or {},
        "properties": properties,
        "context": msg.context or {},
    }


# ---------------------------------------------------------------- pydantic v2

Id = str | int | float | None


class PMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["identify", "alias", "track", "page", "screen", "group"]
    user_id: Id = Field(None, validation_alias=AliasChoices("userId", "user_id"))
    anonymous_id: Id = Field(None, validation_alias=AliasChoices("anonymousId", "anonymous_id"))
    previous_id: Id = Field(None, validation_alias=AliasChoices("previousId", "previous_id"))
    group_id: Id = Field(None, validation_alias=AliasChoices("groupId", "group_id"))
    message_id: str | None = Field(
        None, max_length=200, validation_alias=AliasChoices("messageId", "message_id")
    )
    event: str | None = None
    name: str | None = None
    traits: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: str | None = None

    @field_validator("user_id", "anonymous_id", "previous_id", "group_id")
    @classmethod
    def _id(cls, value: Any) -> str | None:
        return _checked_id(value)


def _pydantic_default(f: msgspec.structs.FieldInfo) -> Any:
    if f.default_factory is not msgspec.NODEFAULT:
        return Field(default_factory=f.default_factory)
    return ... if f.default is msgspec.NODEFAULT else f.default


# the shipped event's fields (see `_EVENT_FIELDS` below), as a pydantic model
_PEVENT_FIELDS: dict[str, Any] = {f.name: (f.type, _pydantic_default(f)) for f in _EVENT_FIELDS}
PEvent = pydantic.create_model("PEvent", **_PEVENT_FIELDS)


def pydantic_path(raw: dict[str, Any]) -> bytes:
    _shape(raw)
    try:
        msg = PMessage.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise PermanentError(str(exc), code="bad_type") from exc
    ev = PEvent.model_construct(**_event_fields(msg, lambda value: value))
    return ev.__pydantic_serializer__.to_json(ev)


# ---------------------------------------------------------------- msgspec

SNAKE = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "previous_id": "previousId",
    "group_id": "groupId",
    "message_id": "messageId",
}


class MMessage(msgspec.Struct, rename="camel"):
    type: Literal["identify", "alias", "track", "page", "screen", "group"]
    user_id: Id = None
    anonymous_id: Id = None
    previous_id: Id = None
    group_id: Id = None
    message_id: str | None = None
    event: str | None = None
    name: str | None = None
    traits: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: str | None = None


def _msgspec_field(f: msgspec.structs.FieldInfo) -> tuple[str, Any, Any] | tuple[str, Any]:
    if f.default_factory is not msgspec.NODEFAULT:
        return (f.name, f.type, msgspec.field(default_factory=f.default_factory))
    return (f.name, f.type) if f.default is msgspec.NODEFAULT else (f.name, f.type, f.default)


# the shipped event's fields, without its checks (each variant checks the message itself)
MEvent = msgspec.defstruct("MEvent", [_msgspec_field(f) for f in _EVENT_FIELDS], kw_only=True)


_ENCODER = msgspec.json.Encoder()


def msgspec_path(raw: dict[str, Any]) -> bytes:
    _shape(raw)
    if any(k in raw for k in SNAKE):
        raw = {SNAKE.get(k, k): v for k, v in raw.items()}
    try:
        msg = msgspec.convert(raw, MMessage)
    except msgspec.ValidationError as exc:
        raise PermanentError(str(exc), code="bad_type") from exc
    return _ENCODER.encode(MEvent(**_event_fields(msg, _checked_id)))


# ---------------------------------------------------------------- today


def shipped_path(raw: dict[str, Any]) -> bytes:
    ev = normalise(raw, WS, received=NOW)
    return encode(ev if isinstance(ev, msgspec.Struct) else asdict(ev))


def _shape_only(raw: dict[str, Any]) -> bytes:
    """The size and storability checks alone, timed like a whole path."""
    _shape(raw)
    return b""


def per_message_us(path: Callable[[dict[str, Any]], bytes], batch: list[dict[str, Any]]) -> float:
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for raw in batch:
            path(raw)
        runs.append((time.perf_counter() - started) / len(batch) * 1e6)
    return statistics.median(runs)


def main() -> None:
    batch = realistic_batch(MESSAGES)
    for path in (shipped_path, pydantic_path, msgspec_path):
        path(batch[0])  # warm up
    print(f"pydantic {pydantic.VERSION}, msgspec {msgspec.__version__}; {MESSAGES} messages")
    print(f"{'variant':<14} {'µs/message':>11}")
    shape = per_message_us(_shape_only, batch)
    for label, path in (
        ("shipped", shipped_path),
        ("pydantic", pydantic_path),
        ("msgspec", msgspec_path),
    ):
        print(f"{label:<14} {per_message_us(path, batch):>11.1f}")
    print(f"{'(shared walk)':<14} {shape:>11.1f}  storable check + size, in every variant")


if __name__ == "__main__":
    main()
