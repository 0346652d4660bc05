"""Parley's bus wrapper against raw nats-py on the same nats-server, same run.

Baselines (research/perf.md §7): B5 JetStream publish awaiting each ack and in
gathered windows, B6 pull fetch(100)+ack, B7 request/reply round trip. The
figures for Parley's `Bus` are reported as ratios to them.

    python -m bench.bus_overhead [--count 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import nats
from nats.aio.msg import Msg

from bench.common import Timer, fetch_and_ack, rate, report, servers, summary_ms
from shared.bus import Bus
from shared.subjects import Subjects


async def run(nats_url: str, count: int) -> None:
    subjects = Subjects("b" + uuid.uuid4().hex[:8])
    bus = Bus(nats_url, subjects, "bench")
    await bus.connect()
    await bus.ensure_standard_streams()
    raw = await nats.connect(nats_url)
    js = raw.jetstream()
    payload = {"kind": "track", "event": "Viewed", "properties": {"n": 1}}
    body = b'{"kind":"track","event":"Viewed","properties":{"n":1}}'

    with Timer() as raw_sync:
        for n in range(count):
            await js.publish(subjects.events("w", "track"), body, headers={"Nats-Msg-Id": f"r{n}"})
    with Timer() as bus_sync:
        for n in range(count):
            await bus.publish_durable(subjects.events("w", "track"), payload, f"b{n}")
    with Timer() as raw_window:
        for start in range(0, count, 500):
            await asyncio.gather(
                *(
                    js.publish(
                        subjects.events("w", "track"), body, headers={"Nats-Msg-Id": f"rw{n}"}
                    )
                    for n in range(start, min(count, start + 500))
                )
            )
    with Timer() as bus_window:
        for start in range(0, count, 500):
            await bus.publish_durable_many(
                [
                    (subjects.events("w", "track"), payload, f"bw{n}")
                    for n in range(start, min(count, start + 500))
                ]
            )

    total = count * 4
    raw_sub = await js.pull_subscribe(
        subjects.events_all, durable="raw", stream=subjects.events_stream
    )
    with Timer() as raw_fetch:
        await fetch_and_ack(raw_sub, total, 100)

    done = asyncio.Event()
    seen = 0

    async def handler(_: dict) -> None:
        nonlocal seen
        seen += 1
        if seen == total:
            done.set()

    with Timer() as bus_consume:
        bus.consume(subjects.events_stream, "wrapped", subjects.events_all, handler, batch=100)
        await done.wait()

    async def echo(p: dict) -> dict:
        return p

    await bus.serve(subjects.request("bench", "echo"), echo)

    async def raw_echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await raw.subscribe("raw.echo", cb=raw_echo)
    raw_rtt, bus_rtt = [], []
    for _ in range(500):
        with Timer() as t:
            await raw.request("raw.echo", body, timeout=2)
        raw_rtt.append(t.seconds)
        with Timer() as t:
            await bus.request(subjects.request("bench", "echo"), payload)
        bus_rtt.append(t.seconds)

    r_sync, b_sync = rate(count, raw_sync.seconds), rate(count, bus_sync.seconds)
    r_win, b_win = rate(count, raw_window.seconds), rate(count, bus_window.seconds)
    r_fetch, b_cons = rate(total, raw_fetch.seconds), rate(total, bus_consume.seconds)
    report(
        f"Bus vs raw nats-py ({count} messages per publish test)",
        [
            (
                "publish, await each ack (B5)",
                f"raw {r_sync:,.0f}/s  bus {b_sync:,.0f}/s  ratio {b_sync / r_sync:.2f}",
            ),
            (
                "publish, windows of 500 (B5w)",
                f"raw {r_win:,.0f}/s  bus {b_win:,.0f}/s  ratio {b_win / r_win:.2f}",
            ),
            (
                "consume: fetch(100)+ack (B6)",
                f"raw {r_fetch:,.0f}/s  bus {b_cons:,.0f}/s  ratio {b_cons / r_fetch:.2f}",
            ),
            ("request/reply raw (B7)", summary_ms(raw_rtt)),
            ("request/reply bus", summary_ms(bus_rtt)),
        ],
    )
    await raw.close()
    await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    with servers(with_mongo=False) as s:
        asyncio.run(run(s.nats.url, args.count))


if __name__ == "__main__":
    main()
