"""Structured JSON logging: one object per line, easy to ship to any log store."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_access = logging.getLogger("parley.access")


def access_log(
    *, method: str, path: str, status: int, duration_ms: float, client_ip: str, request_id: str
) -> None:
    """One line per HTTP request (level INFO, so PARLEY_LOG_LEVEL=WARNING turns them off)."""
    _access.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "client_ip": client_ip,
            "request_id": request_id,
        },
    )


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("parley.audit").setLevel(logging.INFO)  # audit lines at any log level


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a log file this formatter wrote (other lines, and a record cut
    short by a crash, are passed over): what the launcher's tests and the soak read."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records
