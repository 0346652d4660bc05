"""What a visitor wrote in an email reply: the new text only, no quote, no signature.

Pure: an email message in, a `Reply` out. The text part is preferred (Gmail, Outlook
and Apple Mail all send one beside the HTML); an HTML-only reply is reduced to its text
without the quoted blocks. Quoted history and signatures are cut by mail-parser-reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser  # type: ignore[import-untyped]

from shared.identifiers import normalize_email
from shared.schema.chat_requests import MAX_TEXT

_PARSER = EmailReplyParser(languages=["en", "de", "fr", "es", "it", "nl"])
# what mail-parser-reply leaves of a mobile client's sign-off
_SENT_FROM = re.compile(r"^\s*(sent from my \w+.*|get outlook for \w+.*)$", re.I | re.M)
QUOTE_CLASSES = ("gmail_quote", "gmail_signature", "moz-cite-prefix", "divRplyFwdMsg")


class ReplyRefused(Exception):
    """The email cannot become a message; the text is the bounce note for the sender."""


@dataclass(frozen=True)
class Reply:
    sender: str | None  # the From address, normalized
    text: str
    message_id: str | None


def _has_attachment(message: EmailMessage) -> bool:
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        if disposition == "attachment" or part.get_filename():
            return True
        if part.get_content_maintype() not in ("text",):
            return True  # an inline image or a file without a name
    return False


class _TextOfHtml(HTMLParser):
    """The visible text of an HTML reply, without blockquotes and the clients' quote blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
        skip = tag in ("blockquote", "style", "script", "head") or any(
            c in classes for c in QUOTE_CLASSES
        )
        if self._skipping or skip:
            self._skipping += 1 if tag not in ("br", "img", "hr", "meta") else 0
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is not None:
        return str(part.get_content())
    part = message.get_body(preferencelist=("html",))
    if part is None:
        return ""
    reader = _TextOfHtml()
    reader.feed(str(part.get_content()))
    return "".join(reader.parts)


def strip_quotes(text: str) -> str:
    """The newly written text of a reply: mail-parser-reply's first reply, signature cut."""
    text = text.replace("\r\n", "\n")
    replies = _PARSER.read(text=text).replies
    if not replies:
        return text.strip()
    # a first reply with a header ("On ... wrote:") is quoted history: nothing new written
    body = "" if replies[0].headers else replies[0].body
    body = _SENT_FROM.sub("", body)
    return re.sub(r"\n{3,}", "\n\n", body).strip()


def read_reply(message: EmailMessage) -> Reply:
    if _has_attachment(message):
        raise ReplyRefused("Attachments are not accepted yet: please reply with text only")
    text = strip_quotes(_body_text(message))
    if not text:
        raise ReplyRefused("The reply is empty (only quoted text was found)")
    senders = getaddresses([str(message.get("From", ""))])
    sender = normalize_email(senders[0][1]) if senders else None
    message_id = str(message.get("Message-ID", "")).strip() or None
    return Reply(sender=sender, text=text[:MAX_TEXT], message_id=message_id)
