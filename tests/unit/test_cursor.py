"""The one page cursor codec (shared/cursor.py) that chat, identity and the dashboard use."""

from __future__ import annotations

import base64

import pytest

from shared import cursor


def test_a_cursor_gives_back_its_values() -> None:
    values = ["2026-01-02T03:04:05.678Z", "c_1", 3600]
    text = cursor.encode(values)
    assert "=" not in text and "+" not in text and "/" not in text
    assert cursor.decode(text) == values


def test_a_padded_cursor_of_the_old_identity_codec_still_reads() -> None:
    old = base64.urlsafe_b64encode(b'["2026-01-01", "p_12"]').decode()
    assert old.endswith("=")
    assert cursor.decode(old) == ["2026-01-01", "p_12"]


@pytest.mark.parametrize(
    "text",
    [None, 7, "", "!!!", "x" * 301, "e30", "bm90IGpzb24"],
)
def test_anything_else_is_refused(text: object) -> None:
    # "e30" is `{}` (not a list); "bm90IGpzb24" is `not json`
    with pytest.raises(ValueError, match="not a cursor"):
        cursor.decode(text)
