"""The mail catcher: with no relay configured, each outgoing email is a file under the
data dir (`<PARLEY_DATA_DIR>/mail/caught/<id>.eml`), listed and read by the dashboard."""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

CAUGHT_ID = re.compile(r"^[0-9]{13}-[0-9a-f]{32}$")
LIST_LIMIT = 200


@dataclass(frozen=True)
class Caught:
    id: str
    message: EmailMessage

    def summary(self) -> dict[str, Any]:
        m = self.message
        return {
            "id": self.id,
            "to": str(m.get("To", "")),
            "from": str(m.get("From", "")),
            "subject": str(m.get("Subject", "")),
            "date": str(m.get("Date", "")),
            "reply_to": str(m.get("Reply-To", "")),
        }

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return str(part.get_content()) if part is not None else ""


class Catcher:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "mail" / "caught"

    def keep(self, message: EmailMessage) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        caught_id = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex}"
        tmp = self.dir / f".{caught_id}.tmp"
        tmp.write_bytes(message.as_bytes(policy=policy.SMTP))
        os.replace(tmp, self.dir / f"{caught_id}.eml")
        return caught_id

    def latest(self, limit: int = LIST_LIMIT) -> list[Caught]:
        if not self.dir.exists():
            return []
        names = sorted((p.stem for p in self.dir.glob("*.eml")), reverse=True)[:limit]
        return [c for c in (self.get(n) for n in names) if c is not None]

    def get(self, caught_id: str) -> Caught | None:
        if not CAUGHT_ID.match(caught_id):
            return None
        path = self.dir / f"{caught_id}.eml"
        if not path.exists():
            return None
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(parsed, EmailMessage)
        return Caught(caught_id, parsed)
