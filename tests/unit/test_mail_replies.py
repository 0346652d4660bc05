"""Quote and signature stripping on replies as Gmail, Outlook and Apple Mail write them
(multipart text + HTML, as each client sends), attachments refused, the sender read."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from services.mail.replies import ReplyRefused, read_reply, strip_quotes

QUOTED_EMAIL = """Ann replied to your conversation with Acme:

Ann wrote:
We open at 9.

Continue the conversation: http://127.0.0.1:8080/c/abc
"""


def _quoted(prefix: str = "> ") -> str:
    return "\n".join(
        prefix + line if line else prefix.rstrip() for line in QUOTED_EMAIL.splitlines()
    )


def _multipart(text: str, html: str, sender: str = "Sally <sally@example.com>") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "reply+aaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbbbbbb@reply.parley.test"
    msg["Subject"] = "Re: Ann replied to your conversation"
    msg["Message-ID"] = "<CAF=abc@mail.gmail.com>"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    # as received: bytes through the parser, like the listener does
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


GMAIL_TEXT = (
    "Great, see you Saturday!\n\nSally\n\n-- \nSally Smith | ACME Corp\n+1 555 0100\n\n"
    "On Wed, Dec 2, 2026 at 10:00 AM Acme support <support@acme.test> wrote:\n\n" + _quoted()
)
GMAIL_HTML = (
    '<div dir="ltr">Great, see you Saturday!<div><br></div><div>Sally</div></div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Wed, Dec 2, 2026 at '
    "10:00 AM Acme support &lt;support@acme.test&gt; wrote:<br></div>"
    '<blockquote class="gmail_quote">Ann wrote: We open at 9.</blockquote></div>'
)
OUTLOOK_TEXT = (
    "Great, see you Saturday!\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n"
    "________________________________\n"
    "From: Acme support <support@acme.test>\n"
    "Sent: Wednesday, December 2, 2026 10:00 AM\n"
    "To: sally@example.com <sally@example.com>\n"
    "Subject: Ann replied to your conversation\n\n" + QUOTED_EMAIL
)
OUTLOOK_HTML = (
    "<html><body><div>Great, see you Saturday!</div>"
    '<hr><div id="divRplyFwdMsg"><b>From:</b> Acme support<br><b>Sent:</b> Wednesday</div>'
    "<div>Ann wrote: We open at 9.</div></body></html>"
)
APPLE_TEXT = (
    "Great, see you Saturday!\n\nSent from my iPhone\n\n"
    "> On Dec 2, 2026, at 10:00, Acme support <support@acme.test> wrote:\n>\n" + _quoted()
)
APPLE_HTML = (
    "<html><body><div>Great, see you Saturday!</div><div><br>Sent from my iPhone</div>"
    '<blockquote type="cite">On Dec 2, 2026 Acme support wrote: Ann wrote: We open at 9.'
    "</blockquote></body></html>"
)


@pytest.mark.parametrize(
    ("text", "html"),
    [(GMAIL_TEXT, GMAIL_HTML), (OUTLOOK_TEXT, OUTLOOK_HTML), (APPLE_TEXT, APPLE_HTML)],
    ids=["gmail", "outlook", "apple-mail"],
)
def test_the_reply_keeps_only_what_the_visitor_wrote(text: str, html: str) -> None:
    reply = read_reply(_multipart(text, html))
    assert reply.text.startswith("Great, see you Saturday!")
    assert "We open at 9" not in reply.text
    assert "wrote:" not in reply.text
    assert "Sally Smith | ACME" not in reply.text  # the signature
    assert "Sent from my iPhone" not in reply.text
    assert "Get Outlook" not in reply.text
    assert reply.sender == "sally@example.com"


def test_an_html_only_reply_drops_the_quoted_block() -> None:
    msg = EmailMessage()
    msg["From"] = "sally@example.com"
    msg.set_content(GMAIL_HTML, subtype="html")
    assert read_reply(msg).text.startswith("Great, see you Saturday!")
    assert "We open at 9" not in read_reply(msg).text


def test_an_attachment_refuses_the_reply() -> None:
    msg = _multipart("See the photo", "<p>See the photo</p>")
    msg.add_attachment(b"\x89PNG....", maintype="image", subtype="png", filename="photo.png")
    with pytest.raises(ReplyRefused, match="Attachments"):
        read_reply(msg)


def test_a_reply_of_only_quotes_is_refused() -> None:
    msg = EmailMessage()
    msg["From"] = "sally@example.com"
    msg.set_content("On Wed, Dec 2, 2026 at 10:00 AM Acme <a@acme.test> wrote:\n" + _quoted())
    with pytest.raises(ReplyRefused, match="empty"):
        read_reply(msg)


def test_plain_text_without_quotes_is_kept_whole() -> None:
    assert strip_quotes("Line one\nLine two") == "Line one\nLine two"
