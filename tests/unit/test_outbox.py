"""The sockets' bounded outbound queue, over a real aiohttp websocket."""

from __future__ import annotations

from aiohttp import web

from shared.outbox import Outbox


async def test_a_full_outbox_refuses_and_the_writer_sends_in_order(aiohttp_client) -> None:
    offered: list[bool] = []

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        outbox = Outbox(ws, limit=2)
        offered.extend(outbox.offer(text) for text in ("one", "two", "three"))
        outbox.start()
        await ws.receive()  # the client's close
        await outbox.stop()
        return ws

    app = web.Application()
    app.router.add_get("/ws", socket)
    client = await aiohttp_client(app)
    ws = await client.ws_connect("/ws")
    assert [await ws.receive_str(timeout=5), await ws.receive_str(timeout=5)] == ["one", "two"]
    await ws.close()
    assert offered == [True, True, False]


async def test_frames_offered_after_the_queue_drained_are_still_sent(aiohttp_client) -> None:
    """The writer exists only while frames wait: one offered later must wake a new one."""
    outboxes: list[Outbox] = []

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        outbox = Outbox(ws, limit=2)
        outboxes.append(outbox)
        outbox.start()
        async for msg in ws:  # each client frame asks for one frame back
            assert outbox.offer("echo " + msg.data)
        await outbox.stop()
        return ws

    app = web.Application()
    app.router.add_get("/ws", socket)
    client = await aiohttp_client(app)
    ws = await client.ws_connect("/ws")
    for n in range(3):
        await ws.send_str(str(n))
        assert await ws.receive_str(timeout=5) == f"echo {n}"
        assert outboxes[0].empty
    await ws.close()
