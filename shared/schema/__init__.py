"""The typed shapes that cross Parley's edges, each defined once (msgspec Structs).

- `segment`: Segment messages and batches the ingest API takes, and its answers;
- `profiles`: the profiles API's answers (identity's replies to the gateway);
- `chat_inbound`: the visitor messages and email answers the gateway puts on `P.chat.inbound`;
- `live`: the core-NATS frames to visitor sockets and the visitor's signals to chat;
- `shared.events`: the durable facts on the bus (`IngestEvent`, `ProfileMerged`).

msgspec was chosen over pydantic v2 by measurement (bench/schema_choice.py,
bench/README.md). The gateway's OpenAPI document is generated from these types
(`services/gateway/openapi.py`), so what is documented is what is checked.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from shared.errors import BusError, PermanentError

T = TypeVar("T")


def field_of(error: msgspec.ValidationError) -> str:
    """The top-level field a msgspec error is about (`$.userId[0]` -> `userId`), else ``."""
    text = str(error)
    marker = "- at `$."
    if marker not in text:
        return ""
    path = text.split(marker, 1)[1].rstrip("`")
    for stop in ".[":
        path = path.split(stop, 1)[0]
    return path


def convert(raw: Any, shape: type[T], codes: dict[str, str], default: str = "bad_type") -> T:
    """`raw` read as `shape`; a mismatch is a PermanentError with the field's code."""
    try:
        return msgspec.convert(raw, shape)
    except msgspec.ValidationError as exc:
        raise PermanentError(str(exc), code=codes.get(field_of(exc), default)) from exc


def read_reply(result: Any, shape: type[T]) -> T:
    """A service's reply (what `Bus.request` returned) as its Struct, at the asking end;
    one that does not fit is a BusError `bad_reply` (a contract broken by one side)."""
    try:
        return msgspec.convert(result, shape)
    except msgspec.ValidationError as exc:
        raise BusError(f"reply is not a {shape.__name__}: {exc}", code="bad_reply") from exc


def from_database(value: Any) -> Any:
    """Values a document read from MongoDB may hold that msgspec does not know as such:
    BSON's `Int64` (an `int` subclass, for integers past int32) and `ObjectId`."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if type(value).__name__ == "ObjectId":
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def builtins(value: Any) -> Any:
    """A reply or record as JSON-ready builtins, database values included."""
    return msgspec.to_builtins(value, enc_hook=from_database)
