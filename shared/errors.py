"""Errors with a machine-readable code, shared by the bus and the HTTP edges."""

from __future__ import annotations


class ParleyError(Exception):
    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class PermanentError(ParleyError):
    """Input that can never be applied: dead-letter it, never retry it."""

    code = "invalid"


class BusError(ParleyError):
    """A request over the bus failed (no responder, timeout, or an error reply)."""

    code = "bus"
