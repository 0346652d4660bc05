"""Fault tests start services as processes; every one is stopped at teardown, pass or fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import ServiceProcess

Spawn = Callable[..., ServiceProcess]


@pytest.fixture
def spawn(env: dict[str, str], tmp_path: Path) -> Iterator[Spawn]:
    started: list[ServiceProcess] = []

    def start(name: str, environment: dict[str, str] | None = None) -> ServiceProcess:
        process = ServiceProcess(name, environment or env, tmp_path / "logs").start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
