"""Deterministic ids: what a new distinct id or group id creates is named after it."""

from __future__ import annotations

import hashlib


def derived_id(prefix: str, workspace_id: str, distinct_id: str) -> str:
    digest = hashlib.sha256(f"{workspace_id}\x00{distinct_id}".encode()).hexdigest()
    return f"{prefix}_{digest[:24]}"
