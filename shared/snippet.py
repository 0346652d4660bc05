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


def install_snippet(public_url: str, write_key: str) -> str:
    # `<` escaped so that no value can close the surrounding <script> element
    config = json.dumps({"host": public_url, "writeKey": write_key}).replace("<", "\\u003c")
    return "<script>\n" + _loader().replace("__PARLEY_CONFIG__", config) + "\n</script>"
