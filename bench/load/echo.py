"""The chat latency baseline: a bare aiohttp websocket server relaying through core NATS.

`python -m bench.load.echo <port> <nats url>`: what Parley's chat path costs at the
least, with no database, no JetStream and no checks. It speaks just the frames the
bench's clients (bench/load/chat.py) use:

- `GET /v1/widget/ws`: a visitor's socket. `hello` → `welcome`; a `message` is
  published on `echo.agents`, and every agent socket gets it; `echo.visitor.<id>` (one
  wildcard subscription, dispatched here) reaches the visitor's socket.
- `GET /ws`: an agent's socket. `POST /api/conversations/<id>/messages` publishes the
  answer on `echo.visitor.<id>` (the conversation id is the visitor's id).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

import nats
from aiohttp import WSMsgType, web
from nats.aio.client import Client

VISITORS = web.AppKey("visitors", dict[str, web.WebSocketResponse])
AGENTS = web.AppKey("agents", set[web.WebSocketResponse])
NC = web.AppKey("nc", Client)


def message(cid: str, kind: str, cmid: str, text: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "conversation_id": cid,
        "client_msg_id": cmid,
        "author": {"kind": kind},
        "text": text,
        "internal": False,
        "created_at": time.time(),
    }


async def visitor_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    vid = uuid.uuid4().hex
    request.app[VISITORS][vid] = ws
    nc = request.app[NC]
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame.get("type") == "hello":
                await ws.send_str(json.dumps({"type": "welcome", "visitor_id": vid}))
            elif frame.get("type") == "message":
                out = message(vid, "visitor", frame["client_msg_id"], frame["text"])
                await nc.publish(
                    "echo.agents", json.dumps({"type": "message", "message": out}).encode()
                )
                await ws.send_str(json.dumps({"type": "accepted", "ref": frame["client_msg_id"]}))
    finally:
        request.app[VISITORS].pop(vid, None)
    return ws


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    request.app[AGENTS].add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        request.app[AGENTS].discard(ws)
    return ws


async def send(request: web.Request) -> web.Response:
    body = await request.json()
    cid = request.match_info["id"]
    out = message(cid, "agent", body["client_msg_id"], body["text"])
    frame = json.dumps({"type": "message", "message": out}).encode()
    await request.app[NC].publish(f"echo.visitor.{cid}", frame)
    return web.json_response({"message": out})


async def _nats_ctx(app: web.Application, url: str):
    nc = await nats.connect(url)
    app[NC] = nc

    async def to_agents(msg: Any) -> None:
        text = msg.data.decode()
        agents: set[web.WebSocketResponse] = app[AGENTS]
        for ws in list(agents):
            await ws.send_str(text)

    async def to_visitor(msg: Any) -> None:
        ws = app[VISITORS].get(msg.subject.rsplit(".", 1)[1])
        if ws is not None and not ws.closed:
            await ws.send_str(msg.data.decode())

    await nc.subscribe("echo.agents", cb=to_agents)
    await nc.subscribe("echo.visitor.*", cb=to_visitor)
    yield
    await nc.drain()


def create_app(nats_url: str) -> web.Application:
    app = web.Application()
    app[VISITORS] = {}
    app[AGENTS] = set()

    async def ctx(app: web.Application):
        async for _ in _nats_ctx(app, nats_url):
            yield

    app.cleanup_ctx.append(ctx)
    app.router.add_get("/v1/widget/ws", visitor_socket)
    app.router.add_get("/ws", agent_socket)
    app.router.add_post("/api/conversations/{id}/messages", send)
    app.router.add_get("/healthz", lambda _: asyncio.sleep(0, web.Response(text="ok")))
    return app


if __name__ == "__main__":
    web.run_app(
        create_app(sys.argv[2]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
    )
