"""The identity store's invariants on the real SecantusDB: versioned writes, workspace filters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.identity.enrich import GeoIP
from services.identity.model import Change, apply_change, new_person
from services.identity.processor import Processor
from services.identity.resolve import Scope
from services.identity.store import IdentityStore, StaleRead
from shared import clock, db
from shared.bus import Bus
from shared.dialect import BY_NAME
from shared.settings import Settings


@pytest.fixture(params=["secantus", "mongod"])
async def store(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[IdentityStore]:
    """On both dialects: SecantusDB answers the natural (mongod) queries too, only slower."""
    client = db.connect(settings.mongo_url)
    database = client[settings.database_name("identity")]
    yield IdentityStore(database, BY_NAME[request.param])
    client.close()


def _plan(at: str) -> Change:
    return Change(at=at, message_id="m_plan", set={"plan": "pro"})


async def _contact(store: IdentityStore, ws: str, pid: str) -> dict:
    """A person a versioned save just promoted to contact, its promotion not announced yet."""
    person = {**new_person(pid, ws, clock.now()), "stage": "contact", "stage_announced": "visitor"}
    return await store.save("persons", person)


async def test_a_stale_replace_cannot_undo_the_promotion_flag(
    store: IdentityStore, bus: Bus
) -> None:
    """Writer A read the person before the promotion was announced; the announcement
    sets `stage_announced`; A's versioned replace must not land over it (it used to: the
    flag was set outside the version, so A's copy erased it and the next announcement
    published `promoted` again)."""
    ws, pid = "ws_race", "p_race"
    await _contact(store, ws, pid)
    stale = await store.load_person(pid, ws)  # writer A reads
    processor = Processor(store, bus, None, GeoIP(None))
    await processor.announce_changes({(ws, pid)})  # publishes `promoted`, sets the flag
    at = clock.iso_now()
    with pytest.raises(StaleRead):  # writer A's replace of its stale copy
        await store.save("persons", apply_change(stale, _plan(at)))
    stored = await store.load_person(pid, ws)
    assert stored["stage_announced"] == "contact"
    # A redoes from a fresh read, as the resolver does on a StaleRead: the flag stays
    await processor.resolver.update_person(pid, ws, _plan(at), Scope())
    stored = await store.load_person(pid, ws)
    assert stored["traits"]["plan"] == "pro"
    assert stored["stage_announced"] == "contact"


async def test_the_flag_is_set_on_the_copy_a_concurrent_writer_saved(
    store: IdentityStore,
) -> None:
    """The other order: A's replace lands between the announcement's read and its flag
    update; the flag still ends up set, on top of A's change."""
    ws, pid = "ws_race", "p_race2"
    await _contact(store, ws, pid)
    read = await store.load_person(pid, ws)
    at = clock.iso_now()
    await store.save("persons", apply_change(read, _plan(at)))
    assert await store.mark_stage_announced(read) is True  # read is stale: re-read, then set
    stored = await store.load_person(pid, ws)
    assert stored["stage_announced"] == "contact" and stored["traits"]["plan"] == "pro"
    assert await store.mark_stage_announced(stored) is False  # announced already


async def test_a_distinct_id_is_claimed_once_whoever_asks_first(store: IdentityStore) -> None:
    first = await store.claim_did("ws_a", "d1", "p_one", "v_one", False)
    second = await store.claim_did("ws_a", "d1", "p_two", "v_two", True)
    assert (first["person_id"], second["person_id"]) == ("p_one", "p_one")
    other_ws = await store.claim_did("ws_b", "d1", "p_three", "v_three", False)
    assert other_ws["person_id"] == "p_three"


async def test_reads_by_id_never_cross_a_workspace(store: IdentityStore) -> None:
    await store.save("persons", new_person("p_shared", "ws_a", clock.now()))
    assert await store.person("ws_b", "p_shared") is None
    assert await store.load_persons("ws_b", ["p_shared"]) == {}
    assert (await store.load_person("p_shared", "ws_b"))["version"] == 0  # a fresh one
    found = await store.load_persons_many([("ws_a", "p_shared"), ("ws_b", "p_shared")])
    assert list(found) == ["p_shared"] and found["p_shared"]["workspace_id"] == "ws_a"


async def test_a_batched_save_tells_which_writes_lost_their_race(store: IdentityStore) -> None:
    """One bulk write of persons (one transaction on SecantusDB): a person another worker
    created meanwhile, and one another worker changed since it was read, come back as
    failed (to be redone); the rest land, each once, under its next version."""
    ws, now = "ws_batch", clock.now()
    ids = [f"p_batch_{store.dialect.name}_{n}" for n in range(4)]
    known = [await store.save("persons", new_person(pid, ws, now)) for pid in ids[:2]]
    await store.save("persons", apply_change(known[1], _plan(clock.iso_now())))  # B changes it
    await store.save("persons", new_person(ids[2], ws, now))  # B creates it first
    at = clock.iso_now()
    mine = [apply_change(p, _plan(at)) for p in known] + [
        apply_change(new_person(pid, ws, now), _plan(at)) for pid in ids[2:]
    ]
    assert await store.save_many("persons", mine) == {ids[1], ids[2]}
    stored = await store.load_persons(ws, ids)
    assert stored[ids[0]]["version"] == 2 and stored[ids[0]]["traits"]["plan"] == "pro"
    assert stored[ids[3]]["version"] == 1 and stored[ids[3]]["traits"]["plan"] == "pro"
    assert stored[ids[1]]["version"] == 2  # B's write stays, not replaced by the stale copy
    assert stored[ids[2]]["traits"] == {}  # B's creation stays


async def test_a_batched_save_in_one_go_lands_every_write(store: IdentityStore) -> None:
    ws, now, at = "ws_batch_ok", clock.now(), clock.iso_now()
    ids = [f"p_ok_{store.dialect.name}_{n}" for n in range(3)]
    known = await store.save("persons", new_person(ids[0], ws, now))
    mine = [apply_change(known, _plan(at))] + [
        apply_change(new_person(pid, ws, now), _plan(at)) for pid in ids[1:]
    ]
    assert await store.save_many("persons", mine) == set()
    stored = await store.load_persons(ws, ids)
    assert [stored[pid]["version"] for pid in ids] == [2, 1, 1]
