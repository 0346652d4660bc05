"""The visitor's email: text and HTML parts from the templates, the threading and
unsubscribe headers. Pure: what to say in, an `EmailMessage` out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2

from shared import clock

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
MAX_REFERENCES = 20


@dataclass(frozen=True)
class UnseenEmail:
    key: str  # the idempotency key: one email per (conversation, last seq mailed)
    to: str
    sender: str  # PARLEY_MAIL_FROM
    reply_to: str
    workspace: str
    messages: list[dict[str, Any]]  # {author, text}, oldest first
    continue_url: str
    unsubscribe_url: str
    earlier_ids: list[str]  # Message-IDs of the conversation's earlier emails, oldest first


def message_id_for(key: str, domain: str) -> str:
    """Stable per key: a resend after a crash carries the same Message-ID."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def subject_of(agents: str, workspace: str) -> str:
    return f"{agents} replied to your conversation" if agents else f"New reply from {workspace}"


def compose(email: UnseenEmail, domain: str) -> EmailMessage:
    agents = ", ".join(dict.fromkeys(m["author"] for m in email.messages if m["author"]))
    subject = subject_of(agents, email.workspace)
    values = {
        "agents": agents,
        "workspace": email.workspace,
        "messages": email.messages,
        "continue_url": email.continue_url,
        "unsubscribe_url": email.unsubscribe_url,
        "subject": subject,
    }
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = email.sender
    msg["To"] = email.to
    msg["Reply-To"] = email.reply_to
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = message_id_for(email.key, domain)
    if email.earlier_ids:
        msg["In-Reply-To"] = email.earlier_ids[-1]
        msg["References"] = " ".join(email.earlier_ids[-MAX_REFERENCES:])
    msg["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Parley-Key"] = email.key
    msg.set_content(TEMPLATES.get_template("unseen.txt").render(values))
    msg.add_alternative(TEMPLATES.get_template("unseen.html").render(values), subtype="html")
    return msg


@dataclass(frozen=True)
class AgentEmail:
    """To an agent: visitor messages no agent has read yet."""

    key: str  # `agent:<conversation>:<last seq>:<agent id>`
    to: str
    sender: str
    workspace: str
    messages: list[dict[str, Any]]  # {text}, oldest first
    conversation_url: str
    settings_url: str
    assigned: bool


def compose_for_agent(email: AgentEmail, domain: str) -> EmailMessage:
    count = len(email.messages)
    subject = "Unanswered: " + " ".join(email.messages[-1]["text"].split())[:60]
    why = (
        "You got this because the conversation is assigned to you."
        if email.assigned
        else "You got this because the conversation is not assigned to anyone."
    )
    values = {
        "count": count,
        "workspace": email.workspace,
        "messages": email.messages,
        "conversation_url": email.conversation_url,
        "settings_url": email.settings_url,
        "subject": subject,
        "why": why,
    }
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = email.sender
    msg["To"] = email.to
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = message_id_for(email.key, domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Parley-Key"] = email.key
    msg.set_content(TEMPLATES.get_template("agent_unread.txt").render(values))
    msg.add_alternative(TEMPLATES.get_template("agent_unread.html").render(values), subtype="html")
    return msg
