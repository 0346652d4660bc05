"""The profile page's "why": a profile's merges and refused links as timeline sentences.

Each entry reads "merged from <profile> on <date> because <event> named user id X and
anonymous id Y"; the template links the profile and escapes every part (they are data
a browser or a backend sent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCES = {"api": "the API", "widget": "the widget", "chat": "a chat"}
REFUSALS = {
    "different_user_ids": "both profiles hold different user ids",
    "account_switch": "the device already belongs to another user id (a shared browser)",
    "email_matches_many_members": "the email is held by more than one member",
    "merge_race_user_ids": "a concurrent merge would have joined two user ids",
    "too_many_distinct_ids": "together they would hold more distinct ids than the limit: "
    "held for a review",
    "do_not_merge": "an admin undid a merge of the two (a do_not_merge pair)",
}
MAX_ENTRIES = 100
MAX_TRAITS_SHOWN = 100


@dataclass(frozen=True)
class Side:
    id: str
    stage: str
    user_id: str | None
    emails: list[str]


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: what happened, when, with whom, and why."""

    kind: str  # "merge", "refusal" or "unmerge"
    id: str
    at: str | None
    other: str  # the profile merged in, or kept apart
    rule: str
    event: str  # "an identify from the API (trusted, message m-1)"
    named: str  # "named user id X and anonymous id Y"
    reason: str = ""  # a refusal's: why the link was refused; an unmerge's: who undid it
    sides: list[Side] = field(default_factory=list)
    merged_at: str | None = None  # an unmerge's: when the undone merge was made


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def event_phrase(cause: dict[str, Any]) -> str:
    kind = _text(cause.get("type"))
    if not kind:
        return "an event before causes were recorded"
    source = SOURCES.get(str(cause.get("source")), str(cause.get("source") or "somewhere"))
    trust = "trusted" if cause.get("trusted") else "untrusted"
    article = "an" if kind[0] in "aeiou" else "a"
    message = _text(cause.get("message_id"))
    suffix = f", message {message}" if message else ""
    return f"{article} {kind} from {source} ({trust}{suffix})"


def named_phrase(cause: dict[str, Any], rule: str) -> str:
    parts = []
    if user := _text(cause.get("user_id")):
        parts.append(f"user id {user}")
    if other := _text(cause.get("anonymous_id")):
        parts.append(f"{'previous' if cause.get('type') == 'alias' else 'anonymous'} id {other}")
    named = "named " + " and ".join(parts) if parts else ""
    if rule in ("email", "email_matches_many_members") and (email := _text(cause.get("email"))):
        held = f"gave the email {email}, which both profiles held"
        return f"{named} and {held}" if named else held
    return named or "named no id"


def _sides(raw: Any) -> list[Side]:
    sides = []
    for doc in raw if isinstance(raw, list) else []:
        if isinstance(doc, dict) and _text(doc.get("id")):
            emails = [e for e in doc.get("emails") or [] if isinstance(e, str)]
            sides.append(
                Side(doc["id"], str(doc.get("stage") or "—"), _text(doc.get("user_id")), emails)
            )
    return sides


def _merge(doc: dict[str, Any]) -> Entry:
    cause = _dict(doc.get("cause"))
    rule = str(doc.get("rule") or "identify")
    return Entry(
        kind="merge",
        id=str(doc.get("id") or ""),
        at=_text(doc.get("at")),
        other=str(doc.get("merged_id") or ""),
        rule=rule,
        event=event_phrase(cause),
        named=named_phrase(cause, rule),
        sides=_sides([doc.get("merged"), doc.get("survivor")]),
    )


def _who(actor: Any) -> str:
    actor = _dict(actor)
    if actor.get("kind") == "agent":
        return _text(actor.get("email")) or "an agent"
    return "the API (secret key)"


def _unmerge(doc: dict[str, Any]) -> Entry:
    merge = _merge(_dict(doc.get("merge")))
    return Entry(
        kind="unmerge",
        id=merge.id,
        at=_text(doc.get("undone_at")),
        other=merge.other,
        rule="do_not_merge",
        event=merge.event,
        named=merge.named,
        reason=_who(doc.get("undone_by")),
        merged_at=merge.at,
    )


def refusal_entry(doc: dict[str, Any], profile_id: str = "") -> Entry:
    cause = _dict(doc.get("cause"))
    kind = str(doc.get("kind") or "conflict")
    others = [p for p in doc.get("persons") or [] if isinstance(p, str) and p != profile_id]
    return Entry(
        kind="refusal",
        id=str(doc.get("id") or ""),
        at=_text(doc.get("at")),
        other=others[0] if others else "",
        rule=kind,
        event=event_phrase(cause),
        named=named_phrase(cause, kind),
        reason=REFUSALS.get(kind, kind),
        sides=_sides(doc.get("sides")),
    )


def timeline(history: dict[str, Any] | None) -> list[Entry]:
    """Merges, refusals and undone merges together, newest first."""
    if not isinstance(history, dict):
        return []
    profile_id = str(history.get("profile_id") or "")
    merges = [_merge(d) for d in history.get("merges") or [] if isinstance(d, dict)]
    refusals = [
        refusal_entry(d, profile_id) for d in history.get("refusals") or [] if isinstance(d, dict)
    ]
    unmerges = [_unmerge(d) for d in history.get("unmerges") or [] if isinstance(d, dict)]
    entries = merges + refusals + unmerges
    entries.sort(key=lambda e: e.at or "", reverse=True)
    return entries[:MAX_ENTRIES]


@dataclass(frozen=True)
class TraitRow:
    """A trait with its value now and its recent values (the page opens them on click)."""

    name: str
    value: Any
    history: list[dict[str, Any]]


def trait_rows(profile: dict[str, Any] | None, answer: dict[str, Any] | None) -> list[TraitRow]:
    traits = _dict((profile or {}).get("traits"))
    stored = _dict(_dict(answer).get("traits"))
    rows = []
    for name in sorted(set(traits) | set(stored))[:MAX_TRAITS_SHOWN]:
        values = [v for v in stored.get(name) or [] if isinstance(v, dict)]
        rows.append(TraitRow(str(name), traits.get(name), values))
    return rows
