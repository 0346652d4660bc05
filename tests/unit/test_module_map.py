"""docs/modules.md names every module under services/ and shared/, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("services", "shared")
# a map line: "- `services/chat/inbound.py`: what it does"; a package is its folder
LINE = re.compile(r"^- `([^`]+)`: \S")


def mapped() -> list[str]:
    text = (ROOT / "docs" / "modules.md").read_text(encoding="utf-8")
    return [m.group(1) for line in text.splitlines() if (m := LINE.match(line))]


def modules_on_disk() -> set[str]:
    found = set()
    for top in CHECKED:
        for path in (ROOT / top).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            found.add(f"{relative.parent}/" if path.name == "__init__.py" else str(relative))
    return found


def test_every_service_and_shared_module_is_in_the_map() -> None:
    missing = sorted(modules_on_disk() - set(mapped()))
    assert not missing, f"add to docs/modules.md (one line each): {missing}"


def test_the_map_names_no_module_that_is_gone() -> None:
    names = mapped()
    gone = [n for n in names if not (ROOT / n.rstrip("/")).exists()]
    assert not gone, f"docs/modules.md names what no longer exists: {gone}"
    checked = [n for n in names if n.split("/")[0] in CHECKED]
    assert sorted(set(checked)) == sorted(modules_on_disk())
    assert len(names) == len(set(names)), "a module is mapped twice"
