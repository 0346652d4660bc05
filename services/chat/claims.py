"""Slots held for a conversation nobody claimed, so routing can heal them.

Routing takes an agent's slot, then claims the conversation (services/chat/routing.py).
Between the two the conversation is open and unassigned, and its slot must count (a
replica is mid-claim). A replica that crashed there leaves the slot held for good: the
agent would lose that room forever. Each replica notes when it first saw such a slot;
one still unclaimed `stuck_after` seconds later (a claim takes milliseconds) is given
back. Times are the presence clock's (monotonic; tests move it).
"""

from __future__ import annotations

STUCK_AFTER_SECONDS = 30.0

Held = tuple[str, str, str]  # workspace, agent, conversation


class PendingClaims:
    def __init__(self, stuck_after: float = STUCK_AFTER_SECONDS) -> None:
        self.stuck_after = stuck_after
        self._since: dict[Held, float] = {}

    def stuck(self, held: Held, now: float) -> bool:
        """Seen held but unclaimed at `now`: True once it has been so for `stuck_after`."""
        first = self._since.setdefault(held, now)
        return now - first >= self.stuck_after

    def settled(self, held: Held) -> None:
        """Claimed or given back: forget it."""
        self._since.pop(held, None)
