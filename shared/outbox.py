"""A websocket's bounded outbound queue, drained by a writer task while it holds frames.

One slow reader must never hold up the frames of the others: each socket gets a
queue of at most `limit` frames, and `offer` says when it is full so the owner can
close the socket (its page reconnects and resyncs). An idle socket holds neither a
queue nor a task: the deque and the writer exist only while frames wait, which is
most of a held socket's memory otherwise (an `asyncio.Queue` and a task blocked on
it, ~4 KB a socket: bench/idle_sockets.py).
"""

from __future__ import annotations

import asyncio
from collections import deque

from aiohttp import web


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, limit: int) -> None:
        self.ws = ws
        self.limit = limit
        self._frames: deque[str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._started = False

    @property
    def empty(self) -> bool:
        return not self._frames

    def offer(self, text: str) -> bool:
        """Queue a frame; False when the queue is full (the reader is too slow)."""
        if self._frames is None:
            self._frames = deque()
        elif len(self._frames) >= self.limit:
            return False
        self._frames.append(text)
        self._wake()
        return True

    def start(self) -> None:
        """Send what is queued and every frame offered from now on, in order."""
        self._started = True
        self._wake()

    async def stop(self) -> None:
        self._started = False
        if self._writer:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    def _wake(self) -> None:
        if self._started and self._writer is None and self._frames:
            self._writer = asyncio.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        try:
            while self._frames and not self.ws.closed:
                await self.ws.send_str(self._frames.popleft())
        except (ConnectionError, RuntimeError):
            pass  # the socket went away; its handler's clean-up stops this outbox
        finally:
            # nothing awaited since the last check: no frame can have come in between
            self._writer = None
            if not self._frames:
                self._frames = None
