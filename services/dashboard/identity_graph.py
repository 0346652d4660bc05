"""The profile page's identity graph: one SVG drawn on the server, no script.

The person sits in the middle column with its user id above it and its emails below;
the profiles merged into it stand in the left column, each joined to the person's
trunk by an edge labelled with the merge's rule and event (a merge into a profile
that was itself merged later: a dashed bracket to that profile instead); its devices
(visitors) fill columns to the right, ROWS to a column, each hanging off its column's
trunk by an edge labelled with how it joined (the merge whose event named one of its
ids, else its own events). Every text is escaped; sizes are presentation attributes
(the dashboard's CSP allows no inline style).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

ROWS = 17  # devices to a column: 50 devices make three columns
ROW_H = 34
BOX_W, BOX_H = 200, 26
COL_W = 390  # a device column: the trunk, the stub with its label, then the box
STUB = 150  # a merged profile's stub to its trunk, with its label
LABEL = 24  # characters of an edge label
TOP = 20
MAX_DEVICES = 200
MAX_MERGED = 40
MAX_EMAILS = 3


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    title: str  # the full text, as a tooltip
    lines: tuple[str, ...]
    kind: str  # person, device, merged, user, email


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _cause(merge: dict[str, Any]) -> dict[str, Any]:
    cause = merge.get("cause")
    return cause if isinstance(cause, dict) else {}


def _label_of(merge: dict[str, Any]) -> str:
    cause = _cause(merge)
    rule = str(merge.get("rule") or cause.get("rule") or "merge")
    message = cause.get("message_id")
    return f"{rule} · {str(message)}" if message else rule


def _joins(merges: list[dict[str, Any]]) -> dict[str, str]:
    """Distinct id -> the label of the merge whose event named it."""
    named: dict[str, str] = {}
    for merge in merges:  # oldest first: a later one naming it again wins
        cause = _cause(merge)
        for key in ("anonymous_id", "user_id"):
            if isinstance(cause.get(key), str):
                named[cause[key]] = _label_of(merge)
    return named


def _text(x: int, y: int, text: str, size: int = 12) -> str:
    fill = "#101828" if size > 10 else "#475467"  # an edge's label is the quieter
    return f'<text x="{x}" y="{y}" font-size="{size}" fill="{fill}">{escape(text)}</text>'


def _box(box: Box) -> str:
    fills = {"person": "#eef4ff", "merged": "#fff6ed", "user": "#ecfdf3", "email": "#f9f5ff"}
    fill = fills.get(box.kind, "#ffffff")
    height = BOX_H + 14 * (len(box.lines) - 1)
    parts = [
        f'<g class="node node-{box.kind}"><title>{escape(box.title)}</title>',
        f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{height}" rx="6" '
        f'fill="{fill}" stroke="#98a2b3"/>',
    ]
    for i, line in enumerate(box.lines):
        parts.append(_text(box.x + 8, box.y + 17 + 14 * i, line, 12 if i == 0 else 11))
    parts.append("</g>")
    return "".join(parts)


def _edge(x1: int, y1: int, x2: int, y2: int) -> str:
    return f'<line class="edge" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#667085"/>'


def _device_lines(visitor: dict[str, Any]) -> tuple[str, ...]:
    ids = [d for d in visitor.get("distinct_ids") or [] if isinstance(d, str)]
    first = _cut(ids[0], 26) if ids else _cut(str(visitor.get("id") or "device"), 26)
    more = f" +{len(ids) - 1} ids" if len(ids) > 1 else ""
    return (first + more,)


def graph(profile: dict[str, Any] | None, history: dict[str, Any] | None) -> Markup:
    """The person's identity graph as an SVG element (empty without a profile)."""
    if not isinstance(profile, dict) or not profile.get("id"):
        return Markup("")
    every = [m for m in (history or {}).get("merges") or [] if isinstance(m, dict)]
    merges = sorted(every[:MAX_MERGED], key=lambda m: str(m.get("at") or ""))
    visitors = [v for v in profile.get("visitors") or [] if isinstance(v, dict)][:MAX_DEVICES]
    pid = str(profile["id"])
    left = 24
    person_x = left + (BOX_W + STUB + 30 if merges else 0)
    rows = max(3, min(ROWS, len(visitors)), min(ROWS, len(merges)))
    person_y = TOP + (rows * ROW_H) // 2 - BOX_H
    name = str(profile.get("name") or profile.get("email") or profile.get("user_id") or pid)
    person = Box(person_x, person_y, pid, (_cut(name, 26), _cut(pid, 28)), "person")
    parts: list[str] = []
    parts += _ids(profile, person)
    parts += _merged(merges, pid, left, person)
    if len(every) > ROWS:
        more = f"+{len(every) - ROWS} more merges: the timeline lists them all"
        parts.append(_text(left, TOP + ROWS * ROW_H + 12, more, 11))
    columns = _devices(visitors, _joins(merges), person, parts)
    parts.append(_box(person))
    width = person_x + BOX_W + 20 + columns * COL_W
    height = max(TOP + rows * ROW_H, person_y + 60 + 34 * (MAX_EMAILS + 1)) + 24
    body = "".join(parts)
    # every text in `parts` went through escape(); numbers are ours
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" class="identity-graph" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="system-ui, sans-serif" data-devices="{len(visitors)}" '
        f'data-merged="{len(merges)}"><title>Identity graph of {escape(pid)}</title>'
        f"{body}</svg>"
    )


def _ids(profile: dict[str, Any], person: Box) -> list[str]:
    """The user id above the person, the emails below, each joined to it."""
    parts: list[str] = []
    centre = person.x + BOX_W // 2
    if isinstance(profile.get("user_id"), str):
        y = person.y - 2 * ROW_H
        parts.append(_edge(centre, y + BOX_H, centre, person.y))
        text = profile["user_id"]
        parts.append(_box(Box(person.x, y, text, (f"user id: {_cut(text, 20)}",), "user")))
    emails = [e for e in profile.get("emails") or [] if isinstance(e, str)]
    shown = emails[:MAX_EMAILS]
    if len(emails) > MAX_EMAILS:
        shown.append(f"+{len(emails) - MAX_EMAILS} more")
    bottom = person.y + BOX_H + 14
    for i, email in enumerate(shown):
        y = bottom + 20 + i * ROW_H
        if i == 0:
            parts.append(_edge(centre, bottom, centre, y))
        else:
            parts.append(_edge(centre, y - ROW_H + BOX_H, centre, y))
        parts.append(_box(Box(person.x, y, email, (f"email: {_cut(email, 22)}",), "email")))
    return parts


def _merged(merges: list[dict[str, Any]], pid: str, left: int, person: Box) -> list[str]:
    """The profiles merged in, left of the person, on a trunk joined to it; a merge into
    a profile that was merged later is a dashed bracket to that profile."""
    if not merges:
        return []
    parts: list[str] = []
    row: dict[str, int] = {}
    shown = merges[:ROWS]
    for i, merge in enumerate(shown):
        row[str(merge.get("merged_id") or "")] = TOP + i * ROW_H
    trunk_x = left + BOX_W + STUB
    mid_y = person.y + BOX_H // 2
    direct = [m for m in shown if str(m.get("survivor_id") or pid) not in row]
    ys = [row[str(m.get("merged_id") or "")] + BOX_H // 2 for m in direct] + [mid_y]
    parts.append(_edge(trunk_x, min(ys), trunk_x, max(ys)))
    parts.append(_edge(trunk_x, mid_y, person.x, mid_y))
    for merge in shown:
        mid, sid = str(merge.get("merged_id") or ""), str(merge.get("survivor_id") or pid)
        y = row[mid] + BOX_H // 2
        if sid in row:  # merged into a profile merged here later
            to = row[sid] + BOX_H // 2
            x = left - 12
            parts.append(
                f'<g class="edge edge-chain"><path d="M {left} {y} H {x} V {to} H {left}" '
                f'fill="none" stroke="#667085" stroke-dasharray="5 3"/>'
                f"<title>{escape(mid)} merged into {escape(sid)}: "
                f"{escape(_label_of(merge))}</title></g>"
            )
            parts.append(_text(left + BOX_W + 6, y - 3, _cut(_label_of(merge), LABEL), 10))
            continue
        parts.append(_edge(left + BOX_W, y, trunk_x, y))
        parts.append(_text(left + BOX_W + 6, y - 3, _cut(_label_of(merge), LABEL), 10))
    for merge in shown:
        mid = str(merge.get("merged_id") or "")
        when = str(merge.get("at") or "")[:10]
        box = Box(left, row[mid], mid, (f"{_cut(mid, 14)} · {when}",), "merged")
        parts.append(_box(box))
    return parts


def _devices(
    visitors: list[dict[str, Any]], joins: dict[str, str], person: Box, parts: list[str]
) -> int:
    """Devices in columns right of the person, each on its column's trunk; the count of
    columns."""
    columns = (len(visitors) + ROWS - 1) // ROWS
    start = person.x + BOX_W
    mid_y = person.y + BOX_H // 2
    for c in range(columns):
        trunk_x = start + 30 + c * COL_W
        chunk = visitors[c * ROWS : (c + 1) * ROWS]
        top, bottom = TOP + BOX_H // 2, TOP + (len(chunk) - 1) * ROW_H + BOX_H // 2
        if c == 0:
            parts.append(_edge(start, mid_y, trunk_x, mid_y))
            reach = TOP - 10 if columns > 1 else min(top, mid_y)
            parts.append(_edge(trunk_x, reach, trunk_x, max(bottom, mid_y)))
        else:  # along the top, above the boxes, from the first column's trunk
            parts.append(_edge(trunk_x - COL_W, TOP - 10, trunk_x, TOP - 10))
            parts.append(_edge(trunk_x, TOP - 10, trunk_x, bottom))
        for r, visitor in enumerate(chunk):
            y = TOP + r * ROW_H
            ids = [d for d in visitor.get("distinct_ids") or [] if isinstance(d, str)]
            label = next((joins[d] for d in ids if d in joins), "own events")
            box_x = trunk_x + COL_W - BOX_W - 40
            parts.append(_edge(trunk_x, y + BOX_H // 2, box_x, y + BOX_H // 2))
            parts.append(_text(trunk_x + 6, y + BOX_H // 2 - 3, _cut(label, LABEL), 10))
            title = "device " + str(visitor.get("id") or "") + ": " + ", ".join(ids[:20])
            parts.append(_box(Box(box_x, y, title, _device_lines(visitor), "device")))
    return columns
