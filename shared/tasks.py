"""Background work started and not awaited by its caller.

asyncio keeps only a weak reference to a task, so one nobody holds can vanish
mid-flight, and an exception nobody retrieves is reported (if ever) only when the
task is garbage-collected. `BackgroundTasks` holds each task until it is done and
logs its failure with the traceback at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Hashable
from typing import Any


class BackgroundTasks:
    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self._tasks: dict[Hashable, asyncio.Task[Any]] = {}

    def start(
        self, work: Coroutine[Any, Any, Any], key: Hashable | None = None
    ) -> asyncio.Task[Any]:
        """Run `work`; with a `key`, only while no other task of that key is running."""
        if key is not None and key in self._tasks:
            work.close()
            return self._tasks[key]
        task = asyncio.get_running_loop().create_task(work)
        slot: Hashable = key if key is not None else task
        self._tasks[slot] = task
        task.add_done_callback(lambda done: self._finished(slot, done))
        return task

    def running(self, key: Hashable) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def _finished(self, slot: Hashable, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(slot) is task:
            del self._tasks[slot]
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.log.error("%s failed", self.what, exc_info=exc)

    async def settle(self, timeout: float) -> None:
        """Let the running tasks finish, waiting at most `timeout` seconds (`close` cancels)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=timeout)

    async def close(self) -> None:
        await stop(*self._tasks.values())


async def stop(*tasks: asyncio.Task[Any] | asyncio.Future[Any], timeout: float = 5.0) -> None:
    """Cancel `tasks` and wait for them to end, cancelling again while one runs on.

    On Python 3.11, `asyncio.wait_for` swallows a cancel that lands just as its inner
    await completes (nats-py's fetch and request use it), so one `cancel()` can be
    lost and a loop goes on forever, hanging shutdown. Bounded by `timeout`.
    """
    pending = {t for t in tasks if not t.done()}
    deadline = asyncio.get_running_loop().time() + timeout
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            logging.getLogger("parley.tasks").warning("%d task(s) did not stop", len(pending))
            return
        _, pending = await asyncio.wait(pending, timeout=min(0.2, left))
    for task in tasks:  # retrieve outcomes, so none is reported as never retrieved
        if task.done() and not task.cancelled():
            task.exception()
