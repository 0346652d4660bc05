"""A websocket's bounded outbound queue, drained by its own writer task.

One slow reader must never hold up the frames of the others: each socket gets a
queue of at most `limit` frames, and `offer` says when it is full so the owner can
close the socket (its page reconnects and resyncs).
"""

from __future__ import annotations

import asyncio

from aiohttp import web


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, limit: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(limit)
        self._writer: asyncio.Task[None] | None = None

    def offer(self, text: str) -> bool:
        """Queue a frame; False when the queue is full (the reader is too slow)."""
        try:
            self.queue.put_nowait(text)
            return True
        except asyncio.QueueFull:
            return False

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())

    async def stop(self) -> None:
        if self._writer:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_loop(self) -> None:
        try:
            while not self.ws.closed:
                await self.ws.send_str(await self.queue.get())
        except (ConnectionError, RuntimeError):
            pass  # the socket went away; its handler's clean-up stops this task
