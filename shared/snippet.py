"""The install snippet site owners paste before `</body>`: the widget's loader.js with its config.

One builder for the dashboard's settings page and the gateway's demo site.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

# package data of the gateway, which serves the widget it loads
LOADER = resources.files("services.gateway").joinpath("widget", "loader.js")


@lru_cache(maxsize=1)
def _loader() -> str:
    return LOADER.read_text(encoding="utf-8").strip()


def install_snippet(
    public_url: str,
    write_key: str,
    extra: dict[str, str] | None = None,
    nonce: str | None = None,
) -> str:
    """`extra`: more config (the gateway's continue page adds `continueToken`); `nonce`:
    the page's CSP nonce for the inline script."""
    # `<` escaped so that no value can close the surrounding <script> element
    values = {"host": public_url, "writeKey": write_key, **(extra or {})}
    config = json.dumps(values).replace("<", "\\u003c")
    tag = f'<script nonce="{nonce}">' if nonce else "<script>"
    return tag + "\n" + _loader().replace("__PARLEY_CONFIG__", config) + "\n</script>"
