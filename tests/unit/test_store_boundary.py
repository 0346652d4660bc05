"""The store packages are the only door to each service's database.

Scans services/ and shared/ with `ast`: a call of a motor/pymongo collection or
database method (`find`, `update_one`, `bulk_write`, ...) or a subscript of a
database (`db["x"]`) outside a store module fails this test, so invariants
(workspace filter, version checks, SecantusDB workarounds) stay in one place per
service. Store modules: services/<svc>/store/*.py. shared/db.py (connect, ping,
index creation) and shared/dialect.py (buildInfo) are the only others allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER_METHODS = {
    "find",
    "find_one",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "bulk_write",
    "aggregate",
    "count_documents",
    "estimated_document_count",
    "distinct",
    "create_index",
    "create_indexes",
    "drop_index",
    "index_information",
    "watch",
    "command",
    "get_collection",
}
ALLOWED = {Path("shared/db.py"), Path("shared/dialect.py")}  # server-level: ping, buildInfo
# names that hold something else with a method of the same name (not a collection)
NOT_COLLECTIONS = {"re", "shlex", "self.router", "text", "path", "name", "line", "value"}


def is_store_module(rel: Path) -> bool:
    parts = rel.parts
    return len(parts) >= 3 and parts[0] == "services" and parts[2] == "store"


def driver_calls(source: str) -> list[tuple[int, str]]:
    """(line, call) for every collection/database method call and db subscript."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if node.func.attr in DRIVER_METHODS and owner not in NOT_COLLECTIONS:
                found.append((node.lineno, f"{owner}.{node.func.attr}()"))
        if isinstance(node, ast.Subscript):
            owner = ast.unparse(node.value)
            if owner in ("db", "self.db", "database") or owner.endswith(("[DB]", ".db")):
                found.append((node.lineno, f"{ast.unparse(node)}"))
    return found


def outside_stores() -> list[str]:
    offences = []
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]):
        rel = path.relative_to(ROOT)
        if is_store_module(rel) or rel in ALLOWED:
            continue
        for line, call in driver_calls(path.read_text()):
            offences.append(f"{rel}:{line}: {call}")
    return offences


def test_no_driver_call_outside_the_store_packages() -> None:
    assert outside_stores() == []


def test_the_scan_sees_the_calls_it_forbids() -> None:
    source = (
        "async def f(store, app):\n"
        "    await store.persons.update_one({'_id': 1}, {})\n"
        "    async for d in store.conversations.find({}).limit(3): pass\n"
        "    app[DB]['audit']\n"
        "    await self.db.agents.find_one({})\n"
    )
    calls = sorted(call for _, call in driver_calls(source))
    assert calls == [
        "app[DB]['audit']",
        "self.db.agents.find_one()",
        "store.conversations.find()",
        "store.persons.update_one()",
    ]
