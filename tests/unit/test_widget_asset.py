"""The served /widget.js: the package's widget sources, minified, read as package data."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from services.gateway import assets

COMMENT = re.compile(r"/\*(?!!)(.*?)\*/", re.S)


def _source_comments() -> list[str]:
    comments = []
    for part in assets.PARTS:
        text = assets.WIDGET_DIR.joinpath(*part.split("/")).read_text(encoding="utf-8")
        comments += [c.strip()[:40] for c in COMMENT.findall(text) if len(c.strip()) > 12]
    return comments


def test_the_served_widget_carries_no_source_comments() -> None:
    served = assets.build_widget().decode()
    comments = _source_comments()
    assert comments, "the sources have comments to strip"
    left = [c for c in comments if c in served]
    assert not left, f"comments shipped in /widget.js: {left[:3]}"
    assert len(served) < 0.8 * len(assets.join_widget())


def test_the_served_widget_still_parses_as_one_script(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node runs the widget's own tests too"
    script = tmp_path / "widget.js"
    script.write_bytes(assets.build_widget())
    subprocess.run([node, "--check", str(script)], check=True, timeout=30)
