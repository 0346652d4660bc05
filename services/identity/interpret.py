"""From an IngestEvent to what it asks of identity: which ids, which trait writes, which visit.

Trust (docs/identity.md): only a trusted event may name a user id. An untrusted
event with a `userId` (a browser that did not pass identity verification) is
applied to its anonymous id as if no user id were given; without an anonymous
id it can never apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.identity.companies import CompanyWrite
from services.identity.enrich import GeoIP, geo_from_context, parse_user_agent, referring_domain
from services.identity.model import MAX_TRAITS, Change, Visit, clean_key
from shared import clock
from shared.errors import PermanentError
from shared.events import IngestEvent, parse_time
from shared.identifiers import illegal_id_reason, normalize_email

LABELS = {
    "identify": "Identify",
    "alias": "Alias",
    "group": "Group",
    "email": "Email given",
    "page": "Page viewed",
    "screen": "Screen viewed",
}


@dataclass(frozen=True)
class Cause:
    """The event behind a merge or a refused link, as its record names it (docs/identity.md,
    "Why two profiles became one")."""

    message_id: str
    type: str  # identify, alias, email, ...
    source: str  # api, widget, chat (email given in a chat)
    trusted: bool
    user_id: str | None  # the user id it named (trusted events only)
    anonymous_id: str | None  # the other id it named (anonymous id; alias: previous id)

    def doc(self, rule: str, **more: Any) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "type": self.type,
            "source": self.source,
            "trusted": self.trusted,
            "user_id": self.user_id,
            "anonymous_id": self.anonymous_id,
            "rule": rule,
            **more,
        }


@dataclass
class Plan:
    target: str  # the id the event is made under: its person gets the event
    target_is_user: bool
    other: str | None  # a second id the event names (anonymous id, alias previous id)
    device: str  # the id whose visitor (browser or device) saw the event
    may_merge: bool  # identify/alias from a trusted source
    change: Change
    visit: Visit
    label: str | None
    cause: Cause | None = None
    company: CompanyWrite | None = None  # a group call: its company's trait writes


def event_time(ev: IngestEvent) -> str:
    moment = parse_time(ev.timestamp)
    if moment is None:  # IngestEvent validated it: unreachable
        raise PermanentError("timestamp is not an ISO-8601 time", code="bad_timestamp")
    return clock.iso(moment, "microseconds")


def _clean(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = clean_key(key)
        if name and len(out) < MAX_TRAITS:
            out[name] = value
    return out


def _unset_keys(values: Any) -> list[str]:
    if isinstance(values, dict):
        values = list(values)
    if not isinstance(values, list):
        return []
    return [k for k in (clean_key(v) for v in values[:MAX_TRAITS]) if k]


def _trait_writes(source: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Plain keys and `$set` are set; `$set_once` keeps the first; `$unset` removes."""
    plain = {k: v for k, v in source.items() if not str(k).startswith("$")}
    sets = {**_clean(plain), **_clean(source.get("$set"))}
    return sets, _clean(source.get("$set_once")), _unset_keys(source.get("$unset"))


trait_writes = _trait_writes  # what an undo's replay reads back (services/identity/replay.py)


def plan_for(ev: IngestEvent, geoip: GeoIP, own_hosts: set[str]) -> Plan:
    at = event_time(ev)
    user_id = ev.user_id if ev.trusted else None
    anonymous_id = ev.anonymous_id
    if ev.kind == "alias":
        if not ev.trusted:
            raise PermanentError("alias from an unverified source", code="untrusted")
        target, other = ev.user_id, ev.previous_id
    else:
        target = user_id or anonymous_id
        other = anonymous_id if user_id and anonymous_id and anonymous_id != user_id else None
    if not target:
        raise PermanentError(
            "an unverified event names a userId without an anonymousId", code="untrusted"
        )
    if other == target:
        other = None
    change = Change(at=at, message_id=ev.message_id, user_id=user_id, source=ev.source)
    if ev.kind == "alias":
        change.user_id = ev.user_id
    if ev.kind == "identify":
        traits = dict(ev.traits)
        email = traits.pop("email", None)
        change.set, change.set_once, change.unset = _trait_writes(traits)
        if email is not None:
            change.email = normalize_email(email)
            change.email_trusted = ev.trusted and ev.source == "api"
    elif ev.kind == "email":
        change.email = normalize_email(ev.email)
        change.email_trusted = ev.trusted and ev.source == "api"
    elif ev.kind in ("track", "page", "screen"):
        props = ev.properties
        change.set = _clean(props.get("$set"))
        change.set_once = _clean(props.get("$set_once"))
        change.unset = _unset_keys(props.get("$unset"))
        if isinstance(change.set.get("email"), str):
            change.email = normalize_email(change.set.pop("email"))
        change.set.pop("email", None)
    change.set_once.pop("email", None)
    company = _company_write(ev, at) if ev.kind == "group" else None
    change.company_id = company.group_id if company else None
    return Plan(
        target=target,
        target_is_user=bool(user_id and target == user_id) or ev.kind == "alias",
        other=other,
        device=anonymous_id or target,
        may_merge=ev.trusted and ev.kind in ("identify", "alias"),
        change=change,
        visit=_visit(ev, at, geoip, own_hosts),
        label=(ev.event if ev.kind == "track" else (ev.event or LABELS.get(ev.kind))),
        company=company,
        cause=Cause(
            message_id=ev.message_id,
            type=ev.kind,
            source=ev.source,
            trusted=ev.trusted,
            user_id=ev.user_id if ev.trusted else None,
            anonymous_id=other if ev.kind == "alias" else anonymous_id,
        ),
    )


def _company_write(ev: IngestEvent, at: str) -> CompanyWrite | None:
    """A group call's company: the group id the gateway checked, the traits as given."""
    group_id = ev.properties.get("group_id")
    if not isinstance(group_id, str) or not group_id:
        raise PermanentError("group needs a groupId", code="missing_id")
    if reason := illegal_id_reason(group_id):
        raise PermanentError(f"groupId {reason}", code="illegal_id")
    change = Change(at=at, message_id=ev.message_id, source=ev.source)
    change.set, change.set_once, change.unset = _trait_writes(dict(ev.traits))
    return CompanyWrite(group_id, change)


def _visit(ev: IngestEvent, at: str, geoip: GeoIP, own_hosts: set[str]) -> Visit:
    context = ev.context
    raw_page = context.get("page")
    page: dict[str, Any] = raw_page if isinstance(raw_page, dict) else {}
    props = ev.properties
    referrer = page.get("referrer") or (props.get("referrer") if ev.kind == "page" else None)
    url = page.get("url") or (props.get("url") if ev.kind == "page" else None)
    agent = context.get("userAgent") or context.get("user_agent")
    agent = agent[:512] if isinstance(agent, str) and agent.strip() else None
    device_context = bool(context.get("ip") or agent or page or context.get("geo"))
    viewed = ev.kind in ("page", "screen")  # a page view is a visit, from a server too
    return Visit(
        at=at,
        message_id=ev.message_id,
        is_visit=ev.kind != "email" and (viewed or ev.source == "widget" or device_context),
        geo=geo_from_context(context, geoip),
        referring_domain=referring_domain(referrer, url, own_hosts),
        user_agent=agent,
        ua=parse_user_agent(agent),
    )
