"""Where outgoing email goes: the relay of `PARLEY_SMTP_URL`, or the mail catcher.

`smtp://user:pass@host:587` speaks STARTTLS (required when the server offers it),
`smtps://host:465` TLS from the first byte. A temporary failure (a 4xx answer, a
connection refused or dropped) is retried with a doubling backoff; a permanent one
(5xx) raises `PermanentFailure` at once with the server's answer, for the conversation.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from services.mail.catcher import Catcher

log = logging.getLogger("parley.mail.transport")

ATTEMPTS = 4
FIRST_BACKOFF_S = 0.5
TIMEOUT_S = 30.0


class PermanentFailure(Exception):
    """The relay refused the email for good (5xx): sending it again would not help."""


class TemporaryFailure(Exception):
    """The relay could not take the email now, after every retry (4xx or unreachable)."""


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class RelayConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str) -> RelayConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("PARLEY_SMTP_URL must look like smtp://user:pass@host:587 or smtps://")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
        )


def _code_of(exc: aiosmtplib.SMTPException) -> int | None:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return min(r.code for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code
    return None  # no answer at all (refused, dropped, timed out): temporary


class SmtpTransport:
    def __init__(
        self, config: RelayConfig, attempts: int = ATTEMPTS, backoff_s: float = FIRST_BACKOFF_S
    ) -> None:
        self.config = config
        self.attempts = attempts
        self.backoff_s = backoff_s

    async def _send_once(self, message: EmailMessage) -> None:
        c = self.config
        await aiosmtplib.send(
            message,
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.implicit_tls,
            start_tls=None if not c.implicit_tls else False,  # STARTTLS when offered
            timeout=TIMEOUT_S,
        )

    async def send(self, message: EmailMessage) -> None:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                await self._send_once(message)
                return
            except (aiosmtplib.SMTPException, OSError) as exc:
                code = _code_of(exc) if isinstance(exc, aiosmtplib.SMTPException) else None
                if code is not None and code >= 500:
                    raise PermanentFailure(f"{code} {_text_of(exc)}") from exc
                if attempt == self.attempts:
                    raise TemporaryFailure(f"{code or 'no answer'} {_text_of(exc)}") from exc
                log.warning("relay failed temporarily (%s), retrying in %.1fs", code, delay)
                await asyncio.sleep(delay)
                delay *= 2


def _text_of(exc: Exception) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return "; ".join(r.message for r in exc.recipients)
    return str(getattr(exc, "message", None) or exc)[:500]


class CatcherTransport:
    """No relay configured: every email is kept in the catcher, for the dashboard's Mail page."""

    def __init__(self, catcher: Catcher) -> None:
        self.catcher = catcher

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self.catcher.keep, message)


def transport_for(smtp_url: str, catcher: Catcher) -> Transport:
    if smtp_url:
        return SmtpTransport(RelayConfig.parse(smtp_url))
    return CatcherTransport(catcher)
