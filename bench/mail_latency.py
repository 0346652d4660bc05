"""From an agent's reply to the visitor's email leaving, with PARLEY_UNSEEN_EMAIL_DELAY_S=0.

The real chat, identity and mail apps in-process on embedded nats-server and SecantusDB,
a real SMTP server (aiosmtpd) as the relay. For each of N conversations one at a time:
the visitor writes (with an email address), the agent answers with `P.chat.agent.send`;
the time runs from the request leaving to the relay accepting the email's DATA (chat
stores and publishes the fact, mail records the pending state, asks the gateways
whether a widget is open and identity for the address, records the outbox, renders,
sends, settles).

    python -m bench.mail_latency [--conversations 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
import uuid
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.common import bench_bus, bench_settings, report, serve, servers, summary_ms
from services.chat.app import create_app as chat_app
from services.identity.app import create_app as identity_app
from services.mail.app import create_app as mail_app
from shared.bus import Bus
from shared.workspaces import DEFAULT_WORKSPACE_ID as WS


class Relay:
    """The SMTP relay: when each address's email was accepted."""

    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at = time.perf_counter()
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or b"")
        self.accepted.setdefault(str(parsed["To"]), at)
        self.arrived.set()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _conversation(bus: Bus, visitor: str, email: str) -> str:
    record = {
        "type": "visitor.message",
        "workspace_id": WS,
        "visitor_id": visitor,
        "distinct_id": visitor,
        "client_msg_id": "c-" + uuid.uuid4().hex,
        "text": f"Hi, I'm {email}",
        "sent_at": "2026-01-01T00:00:00Z",
    }
    await bus.publish_durable(bus.subjects.chat_inbound(WS), record, uuid.uuid4().hex)
    for _ in range(400):
        found = await bus.request(
            bus.subjects.request("chat", "history"), {"workspace_id": WS, "visitor_id": visitor}
        )
        if found["conversation_id"]:
            return str(found["conversation_id"])
        await asyncio.sleep(0.025)
    raise TimeoutError("the conversation was not stored")


async def _one(bus: Bus, relay: Relay, i: int) -> float:
    email = f"visitor{i}-{uuid.uuid4().hex[:6]}@example.com"
    cid = await _conversation(bus, f"v-{uuid.uuid4().hex[:12]}", email)
    started = time.perf_counter()
    await bus.request(
        bus.subjects.request("chat", "agent.send"),
        {
            "workspace_id": WS,
            "conversation_id": cid,
            "agent": {"id": "agent-ann", "name": "Ann"},
            "client_msg_id": "c-" + uuid.uuid4().hex,
            "text": "We open at 9.",
        },
    )
    while email not in relay.accepted:
        relay.arrived.clear()
        await asyncio.wait_for(relay.arrived.wait(), 30)
    return relay.accepted[email] - started


async def run(conversations: int) -> list[float]:
    relay = Relay()
    loop = asyncio.get_running_loop()
    relay_port = _free_port()
    smtp = await loop.create_server(lambda: SMTP(relay), "127.0.0.1", relay_port)
    with servers() as srv:
        settings = bench_settings(
            srv,
            PARLEY_SMTP_URL=f"smtp://127.0.0.1:{relay_port}",
            PARLEY_UNSEEN_EMAIL_DELAY_S="0",
            PARLEY_INBOUND_SMTP_PORT=str(_free_port()),
            PARLEY_METRICS_PORT="0",
        )
        runners = [(await serve(make(settings)))[0] for make in (identity_app, chat_app, mail_app)]
        bus = await bench_bus(settings)
        try:
            await _one(bus, relay, -1)  # warm-up: streams, consumers, indexes
            return [await _one(bus, relay, i) for i in range(conversations)]
        finally:
            await bus.close()
            for runner in reversed(runners):
                await runner.cleanup()
            smtp.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=50)
    args = parser.parse_args()
    load = os.getloadavg()
    samples = asyncio.run(run(args.conversations))
    report(
        "mail: agent reply -> email accepted by the relay (delay 0)",
        [
            ("latency", summary_ms(samples)),
            ("load average at start", " ".join(f"{v:.2f}" for v in load)),
        ],
    )


if __name__ == "__main__":
    main()
