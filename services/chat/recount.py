"""Rebuild the inbox views' counts from the conversations (services/chat/store/counts.py).

    python -m services.chat.recount [WORKSPACE ...]

With no workspace named, every workspace that has conversations. The counts are kept
with every change, so this is for counts that drifted (a chat process killed between
a conversation's write and its counts' `$inc`); changes made while it runs may be
missed, so run it when the inbox is quiet. Chat does the same at start for a
workspace that has no counts yet. The database comes from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.chat.store import ChatStore
from shared import db
from shared.dialect import detect
from shared.settings import Settings


async def recount(workspaces: list[str]) -> int:
    settings = Settings.from_env()
    client = db.connect(settings.mongo_url)
    try:
        store = ChatStore(
            client[settings.database_name("chat")], await detect(client, settings.mongo_dialect)
        )
        for ws in workspaces or await store.workspace_ids_all_workspaces():
            counts = await store.recount(ws)
            print(f"{ws}: {sum(counts['all'].values())} conversations, {counts['all']}")
    finally:
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.chat.recount", description=__doc__)
    parser.add_argument("workspace", nargs="*", help="workspace ids (default: all)")
    args = parser.parse_args(argv)
    return asyncio.run(recount(args.workspace))


if __name__ == "__main__":
    sys.exit(main())
