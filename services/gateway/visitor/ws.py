"""The visitor websocket `GET /v1/widget/ws?key=<write key>` (docs/widget-protocol.md).

Before the upgrade: the write key names the workspace, the Origin must be on its
allow-list (CORS does not protect websockets), and the IP must be under its
connection and connect-rate limits. A bad key or origin is a permanent refusal,
said inside the socket (an error frame, then close 4001/4003) because a browser
cannot read a refused handshake and the widget would retry forever. After it: the
first frame is `hello`, with the visitor token when the browser has one; without a
valid one the gateway mints a new visitor. A hello with a continue link's token
instead is granted that one conversation (visitor/grant.py) or refused for good. Every later frame is checked for size,
rate and shape; a bad one gets an `error` frame and the socket stays up until the
abuse continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from typing import Any

import nats.errors
from aiohttp import WSCloseCode, WSMsgType, web

from services.gateway.api_auth import browser_context
from services.gateway.identity_tokens import JWKS
from services.gateway.suppressions_api import SUPPRESSIONS
from services.gateway.visitor import frames, resolved
from services.gateway.visitor.busy import ChatLoadView
from services.gateway.visitor.grant import GrantedConversation, open_grant
from services.gateway.visitor.hub import VisitorConn, VisitorHub
from services.gateway.visitor.limits import LIMITS, Limiters, Limits
from shared import audit
from shared.errors import BusError
from shared.messenger import widget_look
from shared.metrics import RATE_LIMITED, WS_CONNECTIONS
from shared.proxies import client_ip
from shared.schema.frames import FrameRefused, HelloFrame, read_hello
from shared.security import origin_of, verify_token_any
from shared.storable import MAX_DEPTH, storable_problem
from shared.web import BUS, SETTINGS, WORKSPACES, json_error
from shared.workspaces import Workspace

log = logging.getLogger("parley.gateway.visitor")
LINK_EXPIRED = "this continue link has expired or is not valid: start a new chat on the website"

# Close codes 4000-4099 are permanent refusals: the widget shows "chat unavailable"
# and does not reconnect (docs/widget-protocol.md). Others are transient.
CLOSE_BAD_KEY = 4001
CLOSE_BAD_ORIGIN = 4003
CLOSE_LINK_EXPIRED = 4010
# refused identity proofs, by error code: audited with this reason
REFUSED_PROOF = {"unverified": "user_hash", "token_refused": "identity_token"}

HUB = web.AppKey("visitor_hub", VisitorHub)
CHAT_LOAD = web.AppKey("visitor_chat_load", ChatLoadView)
LIMITERS = web.AppKey("visitor_limiters", Limiters)
OPEN_PER_IP = web.AppKey("visitor_open_per_ip", dict)


def origin_ok(request: web.Request, workspace: Workspace) -> bool:
    origin = request.headers.get("Origin")
    own = {origin_of(request.app[SETTINGS].public_url), f"{request.scheme}://{request.host}"}
    return origin in own or workspace.origin_allowed(origin)


def error(code: str, message: str, ref: Any = None, retry_after: float | None = None) -> dict:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    if retry_after is not None:
        frame["retry_after"] = round(retry_after, 1)
    return frame


def parse(data: str, limits: Limits) -> dict[str, Any]:
    """A text frame as a JSON object with a type, storable as it is (`shared.storable`)."""
    if len(data.encode(errors="surrogatepass")) > limits.soft_frame_bytes:
        raise frames.FrameError(
            "too_large", f"frames are limited to {limits.soft_frame_bytes} bytes"
        )
    try:
        frame = json.loads(data)
    except ValueError as exc:
        raise frames.FrameError("bad_frame", "a frame must be a JSON object") from exc
    except RecursionError as exc:  # deeper than the parser goes: far over MAX_DEPTH anyway
        raise frames.FrameError("too_deep", f"frames nest at most {MAX_DEPTH} levels") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise frames.FrameError("bad_frame", "a frame must be a JSON object with a type")
    if problem := storable_problem(frame, "frame"):
        raise frames.FrameError(problem.code, str(problem))
    return frame


def refusal(request: web.Request, workspace: Workspace | None) -> tuple[str, str, int] | None:
    """Why this page may not open the widget (code, message for the site owner, close code)."""
    if workspace is None:
        key = request.query.get("key", "")[:60]
        return (
            "bad_key",
            f"unknown write key {key!r}: check the writeKey in the snippet (Dashboard → Settings"
            " → Install the widget); a rotated key stops working when its grace period ends",
            CLOSE_BAD_KEY,
        )
    if not origin_ok(request, workspace):
        origin = (request.headers.get("Origin") or "(none)")[:200]
        return (
            "bad_origin",
            f"this page's origin {origin} is not in the workspace's allowed origins"
            " (Dashboard → Settings → Allowed origins)",
            CLOSE_BAD_ORIGIN,
        )
    return None


async def _refuse(
    request: web.Request, code: str, message: str, close_code: int
) -> web.StreamResponse:
    """Say why in the socket itself: a browser hides a refused handshake's answer, and the
    widget would take it for an outage and retry forever."""
    ws = web.WebSocketResponse(compress=False)
    if not ws.can_prepare(request).ok:
        return json_error(403, code, message)
    if request.app[LIMITERS].connects.retry_after(client_ip(request)):
        return json_error(429, "rate_limited", "too many connections", **{"Retry-After": "5"})
    try:
        await ws.prepare(request)
    except ConnectionResetError:
        return ws
    await _send_now(ws, error(code, message))
    await ws.close(code=close_code, message=code.encode())
    return ws


async def visitor_socket(request: web.Request) -> web.StreamResponse:
    app = request.app
    limits, limiters = app[LIMITS], app[LIMITERS]
    workspace = app[WORKSPACES].by_write_key(request.query.get("key", ""))
    refused = refusal(request, workspace)
    if refused is not None:
        if workspace is not None:  # an unknown key names no workspace to audit
            audit.refused(
                app[BUS],
                workspace.id,
                "origin",
                origin=request.headers.get("Origin"),
                ip=client_ip(request),
                channel="widget",
            )
        return await _refuse(request, *refused)
    assert workspace is not None
    ip = client_ip(request)
    wait = limiters.connects.retry_after(ip)
    if wait:
        RATE_LIMITED.labels("gateway", "visitor_connects").inc()
        return json_error(429, "rate_limited", "too many connections", **{"Retry-After": "5"})
    open_per_ip = app[OPEN_PER_IP]
    if open_per_ip.get(ip, 0) >= limits.connections_per_ip:
        RATE_LIMITED.labels("gateway", "visitor_open_connections").inc()
        return json_error(429, "too_many_connections", "too many open connections")

    ws = web.WebSocketResponse(
        heartbeat=limits.heartbeat,
        max_msg_size=limits.hard_frame_bytes,
        compress=False,  # per-message deflate costs ~7x memory per socket (perf.md)
    )
    try:
        await ws.prepare(request)
    except ConnectionResetError:
        return ws  # the browser left mid-handshake (a page unloading, parley.reset())
    open_per_ip[ip] = open_per_ip.get(ip, 0) + 1
    WS_CONNECTIONS.labels("gateway", "visitor").inc()
    try:
        session = await _hello(request, ws, workspace, ip)
        if session is not None:
            try:
                await _serve(session, ws, ip, app[LIMITERS], app[CHAT_LOAD])
            finally:
                # aiohttp cancels the handler when the client goes: the clean-up must still
                # run to its end, or the visitor's subscriptions outlive the socket
                await asyncio.shield(app[HUB].remove(session.conn))
    finally:
        WS_CONNECTIONS.labels("gateway", "visitor").dec()
        open_per_ip[ip] -= 1
        if not open_per_ip[ip]:
            del open_per_ip[ip]
        if not ws.closed:
            await ws.close()
    return ws


async def _send_now(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(json.dumps(frame))


async def _hello(
    request: web.Request, ws: web.WebSocketResponse, workspace: Workspace, ip: str
) -> frames.Session | None:
    """Read the hello frame; answer welcome, presence and history. None = socket closed."""
    app = request.app
    hello = await _read_hello(ws, app[LIMITS])
    if hello is None:
        return None
    granted = None
    if hello.continue_token is not None:  # a continue link: its conversation's key, no visitor
        granted = await _granted(app, ws, workspace, hello.continue_token)
        claims = granted.claims() if granted is not None else None
    else:
        claims = await _visitor_claims(app, ws, workspace, ip, hello)
    if claims is None:
        return None
    key = _conversation_key(claims) or claims["vid"]  # the conversation's live frames
    conn = VisitorConn(ws, workspace.id, key, ip, profile_frames=granted is None)
    session = _session(request, workspace, conn, claims, hello)
    session.grant = granted
    conn.send(_welcome(session))
    app[HUB].add(conn)
    await _catch_up(session, conn, hello)
    return session


async def _read_hello(ws: web.WebSocketResponse, limits: Limits) -> HelloFrame | None:
    """The first frame, which must be a hello in time; None once the socket is closed."""
    try:
        msg = await ws.receive(timeout=limits.hello_timeout)
    except TimeoutError:
        await _send_now(ws, error("hello_required", "say hello first"))
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no hello")
        return None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None  # the browser left before saying anything
    try:
        if msg.type != WSMsgType.TEXT:
            raise frames.FrameError("hello_required", "the first frame must be a text hello")
        hello = read_hello(parse(msg.data, limits))
    except (frames.FrameError, FrameRefused) as exc:
        await _send_now(ws, error(exc.code, str(exc)))
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"bad hello")
        return None
    return hello


async def _visitor_claims(
    app: web.Application,
    ws: web.WebSocketResponse,
    workspace: Workspace,
    ip: str,
    hello: HelloFrame,
) -> dict[str, Any] | None:
    """Who the token names, or a new visitor (rate limited per IP); None once closed."""
    # a token signed with a previous secret (PARLEY_TOKEN_SECRET_PREVIOUS) still names its
    # visitor; the welcome re-signs it with the current secret
    verified = verify_token_any(app[SETTINGS].token_secrets, hello.token)
    claims = verified[0] if verified else None
    if claims and claims.get("ws") == workspace.id and claims.get("vid"):
        return claims
    wait = app[LIMITERS].new_visitors.retry_after(ip)
    if wait:
        RATE_LIMITED.labels("gateway", "new_visitors").inc()
        await _send_now(ws, error("rate_limited", "too many new visitors", None, wait))
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"rate limited")
        return None
    new_id = uuid.uuid4().hex
    return {"vid": new_id, "did": new_id}


async def _granted(
    app: web.Application, ws: web.WebSocketResponse, workspace: Workspace, token: str
) -> GrantedConversation | None:
    """The conversation a continue link grants; None once the socket is closed (refused)."""
    try:
        granted = await open_grant(app[BUS], app[SETTINGS].token_secrets, token, workspace.id)
    except (BusError, nats.errors.Error) as exc:
        log.warning("continue link not checked: %s", exc)
        await _send_now(ws, error("unavailable", "the chat is unavailable, try again shortly"))
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"unavailable")
        return None
    if granted is None:
        await _send_now(ws, error("link_expired", LINK_EXPIRED))
        await ws.close(code=CLOSE_LINK_EXPIRED, message=b"link_expired")
    return granted


def _session(
    request: web.Request,
    workspace: Workspace,
    conn: VisitorConn,
    claims: dict[str, Any],
    hello: HelloFrame,
) -> frames.Session:
    app = request.app
    session = frames.Session(
        bus=app[BUS],
        workspace=workspace,
        conn=conn,
        token_secret=app[SETTINGS].token_secret,
        limits=app[LIMITS],
        visitor_id=claims["vid"],
        distinct_id=claims.get("did") or claims["vid"],
        user_id=claims.get("uid"),
        verified_until=_verified_until(claims),
        conversation_key=_conversation_key(claims),
        jwks=app[JWKS],
        hub=app[HUB],
        suppressions=app[SUPPRESSIONS],
        context={
            **browser_context(request),  # ip, user agent, CDN geo: as the ingest API sees them
            "locale": request.headers.get("Accept-Language", "").split(",")[0][:32],
        },
    )
    # a continue link's page address holds its token: not recorded anywhere
    page = frames.page_of(hello.page or {}) if hello.continue_token is None else {}
    if page:
        session.context["page"] = page
    return session


def _conversation_key(claims: dict[str, Any]) -> str | None:
    """A new conversation's key (`ck`, visitor/resolved.py), from the signed token only."""
    ck = claims.get("ck")
    return ck if isinstance(ck, str) and resolved.KEY.fullmatch(ck) else None


def _verified_until(claims: dict[str, Any]) -> float | None:
    """A visitor token's proof of its user id: `vf` 1 has no end, else it is a Unix time."""
    vf = claims.get("vf")
    if not claims.get("uid") or not isinstance(vf, int) or isinstance(vf, bool) or vf < 1:
        return None
    return math.inf if vf == 1 else float(vf)


def _welcome(session: frames.Session) -> dict[str, Any]:
    limits = {
        "max_text": session.limits.max_text_chars,
        "email_prompt_after": session.limits.email_prompt_after,
    }
    ws = session.workspace
    look = widget_look(ws.greeting, ws.launcher_color, ws.launcher_position, ws.widget_strings)
    if session.grant is not None:  # no visitor token, no ids: the conversation, nothing else
        return {
            "type": "welcome",
            "token": None,
            "visitor_id": None,
            "distinct_id": None,
            "user_id": None,
            "grant": {"conversation_id": session.grant.conversation_id},
            "limits": limits,
            "look": look,
        }
    return {
        "type": "welcome",
        "token": session.token(),
        "visitor_id": session.visitor_id,
        "distinct_id": session.distinct_id,
        "user_id": session.user_id,
        "verified": session.verified,  # may list its conversations (visitor/member.py)
        "limits": limits,
        "look": look,
    }


async def _catch_up(session: frames.Session, conn: VisitorConn, hello: HelloFrame) -> None:
    """Presence, the history after the hello's `last_seq` (all of it without one), then
    where replies are emailed (`contact`, null when nowhere; never on a continue link)."""
    after = hello.last_seq or None  # 0: the widget shows nothing yet
    try:
        await frames.send_presence(session)
        email = await frames.send_history(session, after)
    except (BusError, nats.errors.Error) as exc:
        log.warning("history unavailable at hello: %s", exc)
        conn.send(error("unavailable", "history is unavailable, try again shortly", "history"))
        return
    try:
        await frames.send_contact(session, email)
    except (BusError, nats.errors.Error) as exc:  # the widget may ask for an email: harmless
        log.info("profile email not known at hello: %s", exc)
        await frames.send_contact(session, email, ask_identity=False)


async def _serve(
    session: frames.Session,
    ws: web.WebSocketResponse,
    ip: str,
    limiters: Limiters,
    load: ChatLoadView,
) -> None:
    conn = session.conn
    async for msg in ws:
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        ref = None
        try:
            if msg.type == WSMsgType.BINARY:
                raise frames.FrameError("bad_frame", "frames are JSON text")
            frame = parse(msg.data, session.limits)
            ref = frame.get("client_msg_id") or frame.get("message_id")
            ref = ref if isinstance(ref, str) and len(ref) <= 64 else None
            _check_rate(limiters, session, ip, frame["type"])
            answer = await frames.dispatch(session, frame)
            if answer is not None:
                conn.send(answer)
                if answer["type"] == "accepted" and load.busy:  # stored; replies will be slow
                    conn.send(load.frame(ref))
        except frames.FrameError as exc:
            if exc.code in REFUSED_PROOF:
                reason = REFUSED_PROOF[exc.code]
                audit.refused(session.bus, session.ws_id, reason, ip=ip, channel="widget")
            conn.send(error(exc.code, str(exc), ref, exc.retry_after))
            if exc.code != "unavailable" and not limiters.strikes.allow(session.visitor_id):
                conn.send(error("closing", "too many refused frames"))
                await _flushed(conn)
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"abuse")
                return
        except Exception:  # a bug handling one frame: say so, keep the socket, log it
            log.exception("visitor frame failed", extra={"visitor_id": session.visitor_id})
            conn.send(error("internal", "this frame could not be handled", ref))


async def _flushed(conn: VisitorConn, timeout: float = 1.0) -> None:
    """Give the writer a moment to send what is queued (the reason before a close)."""
    for _ in range(int(timeout / 0.01)):
        if conn.outbox.empty:
            return
        await asyncio.sleep(0.01)


def _check_rate(limiters: Limiters, s: frames.Session, ip: str, kind: str) -> None:
    wait = limiters.frames.retry_after(s.visitor_id) or limiters.ip_frames.retry_after(ip)
    if not wait and kind in frames.COSTLY:
        wait = limiters.messages.retry_after(s.visitor_id)
    if wait:
        RATE_LIMITED.labels("gateway", "visitor_frames").inc()
        raise frames.FrameError("rate_limited", "slow down: too many frames", wait)


def setup(app: web.Application) -> None:
    app[LIMITS] = Limits()
    app[OPEN_PER_IP] = {}
    app.router.add_get("/v1/widget/ws", visitor_socket)

    async def start(app: web.Application) -> None:
        app[HUB] = VisitorHub(app[BUS])
        await app[HUB].start()
        app[LIMITERS] = Limiters(app[LIMITS])
        app[CHAT_LOAD] = ChatLoadView()
        await app[CHAT_LOAD].start(app[BUS])

    async def shutdown(app: web.Application) -> None:
        if HUB in app:
            await app[HUB].close_all()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
