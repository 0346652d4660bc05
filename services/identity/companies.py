"""Companies (Segment's group call): a company's traits as pure functions, like a person's.

A `group(groupId, traits)` writes the company's traits under the same order as a
person's (a `$set` beats an older one, `$set_once` keeps the earliest, `$unset`
removes; event time then message id decides), and the person it names joins the
company: the person holds the group ids (at most model.MAX_COMPANIES), the company does
not hold its people (they are found by the persons' index), so a merge that unions
the persons' ids keeps every company.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.identity.model import ONCE, SET, Change, Meta, _write_trait

SHOWN = ("name", "plan", "website")  # traits lifted to fields for the summaries


@dataclass(frozen=True)
class CompanyWrite:
    """What a group call asks of its company: the group id and the trait writes."""

    group_id: str
    change: Change


def new_company(company_id: str, workspace_id: str, group_id: str, now: datetime) -> dict[str, Any]:
    return {
        "_id": company_id,
        "workspace_id": workspace_id,
        "group_id": group_id,
        "version": 0,
        "created_at": now,
        "traits": {},
        "trait_meta": {},
        "first_seen": None,
        "last_seen": None,
        **{k: None for k in SHOWN},
    }


def apply_company(company: dict[str, Any], change: Change) -> dict[str, Any]:
    """A new company document with the group call's trait writes applied."""
    out = copy.deepcopy(company)
    set_meta: Meta = [SET, change.at, change.message_id]
    for key, value in change.set.items():
        _write_trait(out, key, value, set_meta)
    for key in change.unset:
        _write_trait(out, key, None, set_meta)
    once_meta: Meta = [ONCE, change.at, change.message_id]
    for key, value in change.set_once.items():
        _write_trait(out, key, value, once_meta)
    out["traits"] = {k: v for k, v in out["traits"].items() if k in out["trait_meta"]}
    first, last = out["first_seen"], out["last_seen"]
    out["first_seen"] = change.at if first is None else min(first, change.at)
    out["last_seen"] = change.at if last is None else max(last, change.at)
    for key in SHOWN:
        value = out["traits"].get(key)
        out[key] = value.strip()[:200] if isinstance(value, str) and value.strip() else None
    return out
