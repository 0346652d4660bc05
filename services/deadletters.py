"""Inspect and replay dead letters (the deployment's NATS and prefix come from the environment).

    python -m services.deadletters list [--consumer identity] [--workspace W] [--limit 50] [--json]
    python -m services.deadletters replay SEQ [SEQ ...]
    python -m services.deadletters replay --all [--consumer identity] [--workspace W]

`replay` puts each message's original data back on its original subject, where its
consumer applies it like a new message, and removes the dead letter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from shared import deadletters
from shared.bus import Bus
from shared.deadletters import DeadLetter
from shared.settings import Settings
from shared.subjects import Subjects

REPLAY_ALL_LIMIT = 10_000


def _line(letter: DeadLetter) -> str:
    at = datetime.fromtimestamp(letter.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    data = letter.data if len(letter.data) <= 80 else letter.data[:77] + "..."
    return (
        f"{letter.seq:>7}  {at}  {letter.consumer:<14} {letter.code:<18} {letter.subject}\n"
        f"         {letter.reason}\n         {data}"
    )


async def list_command(bus: Bus, args: argparse.Namespace) -> int:
    letters = await deadletters.listing(bus, args.consumer, args.workspace, args.limit)
    counts = await deadletters.counts(bus)
    for letter in letters:
        print(json.dumps(asdict(letter)) if args.json else _line(letter))
    if not args.json:
        waiting = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items())) or "none"
        print(f"dead letters waiting: {waiting}")
    return 0


async def replay_command(bus: Bus, args: argparse.Namespace) -> int:
    if args.all:
        letters = await deadletters.listing(
            bus, args.consumer, args.workspace, limit=REPLAY_ALL_LIMIT
        )
        letters.reverse()  # oldest first, as they first arrived
    else:
        found = [await deadletters.get(bus, seq) for seq in args.seq]
        missing = [seq for seq, letter in zip(args.seq, found, strict=True) if letter is None]
        if missing:
            print(f"no dead letter {', '.join(map(str, missing))}", file=sys.stderr)
            return 1
        letters = [letter for letter in found if letter is not None]
    for letter in letters:
        await deadletters.replay(bus, letter)
        print(f"replayed {letter.seq} to {letter.subject}")
    print(f"{len(letters)} replayed")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m services.deadletters", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the newest dead letters")
    listing.add_argument("--consumer")
    listing.add_argument("--workspace")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    replay = commands.add_parser("replay", help="republish dead letters to their subjects")
    replay.add_argument("seq", type=int, nargs="*", help="dead-letter sequence numbers")
    replay.add_argument("--all", action="store_true", help="every dead letter (filtered)")
    replay.add_argument("--consumer")
    replay.add_argument("--workspace")
    return root


async def run(args: argparse.Namespace, settings: Settings) -> int:
    bus = Bus(settings.nats_url, Subjects(settings.subject_prefix), "deadletters")
    await bus.connect(first_attempt_timeout=10)
    try:
        await bus.ensure_standard_streams()
        if args.command == "list":
            return await list_command(bus, args)
        return await replay_command(bus, args)
    finally:
        await bus.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "replay" and not args.all and not args.seq:
        parser().error("replay needs sequence numbers or --all")
    return asyncio.run(run(args, Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
