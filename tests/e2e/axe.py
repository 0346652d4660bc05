"""axe-core, the real npm package, injected into a page to check it for accessibility.

The pinned copy (tests/e2e/node/package.json and its lock) is installed once with `npm ci`
into .cache/e2e-node and reused while the lock is unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

from tests.support import npm_installed

PINNED = Path(__file__).parent / "node"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "e2e-node"
BLOCKING = ("serious", "critical")


def axe_script() -> Path:
    """The path of axe.min.js, installed from the pinned lock when missing or outdated."""
    return npm_installed(PINNED, CACHE) / "axe-core" / "axe.min.js"


async def blocking_violations(page: Page, script: Path) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each."""
    await page.add_script_tag(path=str(script))
    result: dict[str, Any] = await page.evaluate("() => axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        f" e.g. {v['nodes'][0].get('failureSummary', '')!r}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]
