"""The visitor socket against its physical limits, measured in the same run.

- B1: a bare aiohttp websocket echo (no deflate), N sockets ping-ponging.
- B5: JetStream publish awaiting each ack (what every visitor message costs).
- The gateway: `message` frame -> JetStream -> `accepted`, N sockets at once
  (ratio to B1 and to B5), and the full loop to the stored `message` frame that
  the chat service sends back (its Mongo writes included: that loop is bound by
  the chat service on SecantusDB, not by the socket).

Idle memory per socket is bench/idle_sockets.py: measured here it counted the
clients, which ran in the server's process.

    python -m bench.widget_socket [--sockets 50] [--messages 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid

import aiohttp
from aiohttp import web

from bench.common import Timer, bench_bus, bench_settings, rate, report, serve, servers, summary_ms
from services.chat.app import create_app as chat_app
from services.gateway.app import create_app as gateway_app
from services.gateway.visitor.limits import LIMITS, Limits
from shared.bus import Bus

OPEN = Limits(
    connections_per_ip=100_000,
    connects_burst_per_ip=100_000,
    new_visitors_burst_per_ip=100_000,
    frames_burst=100_000,
    ip_frames_burst=100_000,
    messages_burst=100_000,
)


async def echo_app() -> web.Application:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", echo)
    return app


async def echo_baseline(http: aiohttp.ClientSession, sockets: int, rounds: int) -> float:
    runner, port = await serve(await echo_app())
    conns = [
        await http.ws_connect(f"http://127.0.0.1:{port}/ws", compress=0) for _ in range(sockets)
    ]

    async def pingpong(ws: aiohttp.ClientWebSocketResponse) -> None:
        for _ in range(rounds):
            await ws.send_str('{"type":"ping"}')
            await ws.receive()

    with Timer() as t:
        await asyncio.gather(*(pingpong(ws) for ws in conns))
    for ws in conns:
        await ws.close()
    await runner.cleanup()
    return rate(sockets * rounds, t.seconds)


async def js_sync_baseline(bus: Bus, count: int) -> float:
    subject = bus.subjects.events("bench", "track")  # nobody consumes it here
    with Timer() as t:
        for n in range(count):
            await bus.publish_durable(subject, {"n": n}, f"base-{n}")
    return rate(count, t.seconds)


class Visitor:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str) -> Visitor:
        ws = await http.ws_connect(url, headers={"Origin": "http://bench.example"}, compress=0)
        await ws.send_str(json.dumps({"type": "hello", "token": None}))
        visitor = cls(ws)
        await visitor.until(lambda f: f["type"] == "history")
        return visitor

    async def until(self, match) -> dict:
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"socket closed: {msg}")
            frame = json.loads(msg.data)
            if match(frame):
                return frame

    async def burst(self, count: int) -> None:
        """Send `count` messages without waiting, then wait for every `accepted`."""
        ids = {uuid.uuid4().hex for _ in range(count)}
        for cmid in ids:
            frame = {"type": "message", "client_msg_id": cmid, "text": "hello"}
            await self.ws.send_str(json.dumps(frame))
        while ids:
            frame = await self.until(lambda f: f["type"] == "accepted")
            ids.discard(frame["ref"])

    async def say(self, text: str) -> tuple[float, float]:
        """Seconds to `accepted` and to the stored message frame."""
        cmid = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.ws.send_str(json.dumps({"type": "message", "client_msg_id": cmid, "text": text}))
        accepted = stored = 0.0
        while not (accepted and stored):  # the stored frame may overtake `accepted`
            frame = await self.until(lambda f: f["type"] in ("accepted", "message"))
            if frame["type"] == "accepted" and frame["ref"] == cmid:
                accepted = loop.time() - started
            elif frame["type"] == "message" and frame["message"]["client_msg_id"] == cmid:
                stored = loop.time() - started
        return accepted, stored


async def run(args: argparse.Namespace) -> None:
    with servers() as srv:
        settings = bench_settings(srv, PARLEY_LOG_LEVEL="ERROR")
        bus = await bench_bus(settings)
        await bus.ensure_standard_streams()
        # limit=0: each websocket holds a connector slot (the default caps them at 100)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            b1 = await echo_baseline(http, args.sockets, args.messages)
            b5 = await js_sync_baseline(bus, args.sockets * args.messages)

            chat_runner, _ = await serve(chat_app(settings))
            gw = gateway_app(settings)
            gw[LIMITS] = OPEN
            gw_runner, port = await serve(gw)
            url = f"http://127.0.0.1:{port}/v1/widget/ws?key={settings.write_key}"
            visitors = [await Visitor.connect(http, url) for _ in range(args.sockets)]
            accepted: list[float] = []
            stored: list[float] = []

            async def chat(v: Visitor) -> None:
                for n in range(args.messages):
                    a, s = await v.say(f"message {n}")
                    accepted.append(a)
                    stored.append(s)

            with Timer() as t:
                await asyncio.gather(*(chat(v) for v in visitors))
            loop_rate = rate(len(stored), t.seconds)
            with Timer() as t:
                await asyncio.gather(*(v.burst(args.messages) for v in visitors))
            accept_rate = rate(args.sockets * args.messages, t.seconds)
            for v in visitors:
                await v.ws.close()

            await gw_runner.cleanup()
            await chat_runner.cleanup()
        await bus.close()

    report(
        f"visitor socket: {args.sockets} sockets x {args.messages} messages",
        [
            ("B1 aiohttp echo (same run)", f"{b1:,.0f} round trips/s"),
            ("B5 JetStream publish, await each ack", f"{b5:,.0f} msg/s"),
            ("gateway: message -> accepted (pipelined)", f"{accept_rate:,.0f} msg/s"),
            ("  as a share of B5", f"{accept_rate / b5:.0%}"),
            ("  as a share of B1", f"{accept_rate / b1:.1%}"),
            ("message -> stored message frame back", f"{loop_rate:,.0f} msg/s"),
            ("  as a share of B5", f"{loop_rate / b5:.0%}"),
            ("  as a share of B1", f"{loop_rate / b1:.1%}"),
            ("time to accepted (JetStream stored)", summary_ms(accepted)),
            ("time to stored frame (chat + Mongo)", summary_ms(stored)),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
