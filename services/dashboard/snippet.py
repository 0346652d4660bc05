"""The install snippet shown in settings, ready to paste before `</body>`."""

from __future__ import annotations

import json
from pathlib import Path

LOADER = Path(__file__).resolve().parents[2] / "widget" / "loader.js"


def install_snippet(public_url: str, write_key: str) -> str:
    config = json.dumps({"host": public_url, "writeKey": write_key})
    loader = LOADER.read_text().strip() if LOADER.exists() else ""
    if "__PARLEY_" in loader:
        return "<script>\n" + loader.replace("__PARLEY_CONFIG__", config) + "\n</script>"
    return (
        "<script>\n"
        f"  window.parleySettings = {config};\n"
        "</script>\n"
        f'<script async src="{public_url}/widget.js"></script>'
    )
