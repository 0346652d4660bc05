"""The records the gateway puts on `P.chat.inbound.<workspace>` for chat (v1).

docs/bus-contract.md, "P.chat.inbound": the visitor socket builds a `VisitorMessage`
or a `VisitorEmail` (services/gateway/visitor/frames.py), the mail service a
`MailReply` or a `MailNote` (services/mail), and chat reads each with
`read_inbound` (services/chat/inbound.py), so both ends hold the one definition. The
record's `type` is the tag; `v` is the version chat reads (a record of another one is
refused, not guessed at). A record that does not fit answers PermanentError `invalid`
naming the field, and the consumer dead-letters it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from shared.errors import PermanentError
from shared.schema.chat_requests import ClientMsgId, Text
from shared.schema.requests import check_ids

INBOUND_VERSION = 1


class InboundRecord(msgspec.Struct, tag_field="type", kw_only=True):
    """Who wrote (the ids the gateway signed into the visitor token) and when."""

    workspace_id: str
    visitor_id: str
    distinct_id: str
    client_msg_id: ClientMsgId
    sent_at: str | None = None  # ISO-8601 UTC, the gateway's clock
    v: int = INBOUND_VERSION

    def check(self) -> None:
        if self.v != INBOUND_VERSION:
            raise ValueError(f"unsupported inbound record version {self.v}")
        check_ids(self, ("workspace_id", "visitor_id", "distinct_id"))


class VisitorMessage(InboundRecord, tag="visitor.message"):
    text: Text
    page_url: str | None = None
    # "conversation": from a continue link's socket, which may post in the conversation
    # but not change the person (chat reads no email address out of it)
    scope: Literal["conversation"] | None = None


class VisitorEmail(InboundRecord, tag="visitor.email"):
    """The widget's email prompt answered: chat normalises the address (`bad_email`)."""

    email: str


class MailReply(InboundRecord, tag="mail.reply"):
    """A reply by email to a conversation's reply address (services/mail/inbound.py):
    a visitor message `via: "email"`, or an internal note when the sender is not the
    address the conversation's email went to."""

    text: Text
    from_other_address: bool = False
    sender: str | None = None


class MailNote(InboundRecord, tag="mail.note"):
    """An internal note for the agents from the mail service (a bounce, a refused attachment)."""

    text: Text


AnyInbound = VisitorMessage | VisitorEmail | MailReply | MailNote


def read_inbound(payload: Any) -> AnyInbound:
    """`payload` (parsed JSON) as its record, or PermanentError `invalid` naming the field."""
    try:
        record: AnyInbound = msgspec.convert(payload, AnyInbound)
        record.check()
        return record
    except (msgspec.ValidationError, ValueError) as exc:
        raise PermanentError(str(exc), code="invalid") from exc
