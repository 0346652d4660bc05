"""Dead letters: messages a consumer could never apply, kept on `P.deadletter.<consumer>`.

A record carries the original subject and data, so it can be inspected and replayed:
`replay` republishes the data to the original subject (the owning consumer then
applies it like any new message; every consumer is idempotent) and removes the
record. Used by `python -m services.deadletters` and the dashboard's admin list.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

if TYPE_CHECKING:
    from shared.bus import Bus

SCAN_LIMIT = 5000  # records looked at per listing, newest first


@dataclass(frozen=True)
class DeadLetter:
    seq: int  # sequence in the dead-letter stream: what replay takes
    consumer: str
    subject: str
    code: str
    reason: str
    data: str
    at: float
    workspace_id: str | None
    attempts: int | None


def record_of(consumer: str, msg: Msg, code: str, reason: str) -> dict[str, Any]:
    """What is published for a message that can never apply."""
    data = msg.data.decode(errors="replace")
    return {
        "consumer": consumer,
        "subject": msg.subject,
        "code": code,
        "reason": reason,
        "data": data,
        "at": time.time(),
        "stream_seq": msg.metadata.sequence.stream if msg.metadata else None,
        "attempts": msg.metadata.num_delivered if msg.metadata else None,
        "workspace_id": _workspace_of(data),
    }


def _workspace_of(data: str) -> str | None:
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    ws = payload.get("workspace_id") if isinstance(payload, dict) else None
    return ws if isinstance(ws, str) else None


def _parse(seq: int, raw: bytes | None) -> DeadLetter | None:
    try:
        record = json.loads(raw or b"")
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("subject"), str):
        return None
    return DeadLetter(
        seq=seq,
        consumer=str(record.get("consumer", "")),
        subject=record["subject"],
        code=str(record.get("code", "")),
        reason=str(record.get("reason", "")),
        data=str(record.get("data", "")),
        at=float(record.get("at") or 0),
        workspace_id=record.get("workspace_id") or _workspace_of(str(record.get("data", ""))),
        attempts=record.get("attempts"),
    )


async def get(bus: Bus, seq: int) -> DeadLetter | None:
    assert bus.js is not None
    try:
        raw = await bus.js.get_msg(bus.subjects.deadletter_stream, seq)
    except NotFoundError:
        return None
    return _parse(seq, raw.data)


async def listing(
    bus: Bus,
    consumer: str | None = None,
    workspace_id: str | None = None,
    limit: int = 100,
) -> list[DeadLetter]:
    """The newest dead letters (of one consumer / one workspace when given)."""
    assert bus.js is not None
    state = (await bus.js.stream_info(bus.subjects.deadletter_stream)).state
    found: list[DeadLetter] = []
    seq = state.last_seq
    while (
        seq >= max(state.first_seq, 1) and len(found) < limit and state.last_seq - seq < SCAN_LIMIT
    ):
        letter = await get(bus, seq)
        seq -= 1
        if letter is None:
            continue  # replayed (deleted) meanwhile
        if consumer and letter.consumer != consumer:
            continue
        if workspace_id and letter.workspace_id != workspace_id:
            continue
        found.append(letter)
    return found


async def replay(bus: Bus, letter: DeadLetter) -> None:
    """Put the original data back on its subject, then drop the dead letter."""
    assert bus.js is not None
    await bus.js.publish(
        letter.subject,
        letter.data.encode(),
        timeout=5,
        headers={"Nats-Msg-Id": f"replay:{letter.consumer}:{letter.seq}"},
    )
    await bus.js.delete_msg(bus.subjects.deadletter_stream, letter.seq)


async def counts(bus: Bus) -> dict[str, int]:
    """Dead letters waiting, by consumer."""
    assert bus.js is not None
    prefix = bus.subjects.deadletter("")
    info = await bus.js.stream_info(
        bus.subjects.deadletter_stream, subjects_filter=bus.subjects.deadletter_all
    )
    return {s.removeprefix(prefix): n for s, n in (info.state.subjects or {}).items()}
