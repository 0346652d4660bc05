"""The wheel, installed in a fresh venv outside the source tree, runs a working gateway.

`pip install .` must give the same service a checkout does: everything the code
reads at run time (the widget, templates, static files) is package data.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from services.gateway import assets
from shared.embedded import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "shared", "services")


def _build_wheel(work: Path) -> Path:
    """Build from a copy of the sources, so no stale build/ of the checkout leaks in."""
    source = work / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = dist.glob("parley-*.whl")
    return wheel


def _install(wheel: Path, work: Path) -> Path:
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, str(wheel)], check=True, timeout=300, cwd=work)
    return python


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except OSError:
        return 0, b""


def _wait_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while _get(base + "/readyz")[0] != 200:
        if process.poll() is not None:
            raise AssertionError(f"the installed gateway exited: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the installed gateway is not ready: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def _shipped_data_files() -> set[str]:
    """Every file under shared/ and services/ that is not Python source."""
    found = set()
    for package in ("shared", "services"):
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc"):
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_every_data_file_of_the_packages_is_in_the_wheel(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "services/gateway/widget/widget.js" in names
    missing = _shipped_data_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_the_installed_wheel_serves_the_widget_and_the_demo(
    tmp_path: Path, env: dict[str, str]
) -> None:
    python = _install(_build_wheel(tmp_path), tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import services.gateway.assets as a; print(a.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(tmp_path / "venv") in where and str(ROOT) not in where

    port = free_port()
    log = tmp_path / "gateway.log"
    environment = {**env, "PARLEY_GATEWAY_PORT": str(port)}
    with log.open("wb") as out:
        gateway = subprocess.Popen(
            [str(python), "-m", "services.gateway"],
            cwd=elsewhere,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, gateway, log)
        assert _get(base + "/healthz")[0] == 200
        status, widget = _get(base + "/widget.js")
        assert status == 200 and widget == assets.build_widget()
        status, page = _get(base + "/demo/")
        assert status == 200 and b"/widget.js" in page
    finally:
        gateway.terminate()
        gateway.wait(20)
