"""The inbox/outbox stores keep one contract: memory, SQLite, Redis and PostgreSQL alike."""

import uuid

import pytest

from rasa_chattigo.delivery import INBOX, OUTBOX, Record, open_store
from rasa_chattigo.delivery._owner import dead_owners, new_owner_id

from conftest import requires_postgres, requires_redis

STORES = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis://127.0.0.1:6379/0", id="redis", marks=requires_redis),
    pytest.param("postgresql://postgres@127.0.0.1:5432/test", id="postgresql",
                 marks=requires_postgres),
]


@pytest.fixture(params=STORES)
async def store(request, tmp_path):
    url = request.param if request.param != "sqlite" else f"sqlite:///{tmp_path / 'inbox.db'}"
    made = open_store(url, f"t_{uuid.uuid4().hex[:10]}")
    yield made
    await made.aclose()


def record(key: str, owner: str, conversation: str = "549110001", box: str = INBOX) -> Record:
    return Record(box, key, conversation, {"text": key, "ñ": "ü"}, owner=owner)


async def test_records_come_back_in_arrival_order_with_their_body(store):
    for key in ("c", "a", "b"):
        await store.put(record(key, "me"))
    found = await store.records(INBOX)
    assert [(r.key, r.body, r.owner) for r in found] == [
        (k, {"text": k, "ñ": "ü"}, "me") for k in ("c", "a", "b")]
    assert await store.records(OUTBOX) == []


async def test_putting_a_kept_key_again_replaces_it_and_remove_forgets_it(store):
    await store.put(record("a", "old"))
    await store.put(record("a", "new"))
    assert [(r.key, r.owner) for r in await store.records(INBOX)] == [("a", "new")]
    await store.remove(INBOX, "a")
    await store.remove(INBOX, "never-kept")
    assert await store.records(INBOX) == []


async def test_only_the_records_of_dead_owners_are_taken_over(store):
    alive, dead, me = new_owner_id(), "elsewhere/1/dead", "elsewhere/2/me"
    await store.heartbeat(alive, 30)
    await store.put(record("kept-by-alive", alive))
    await store.put(record("kept-by-dead", dead))
    owners = await store.owners(INBOX)
    assert owners == {alive, dead}
    assert dead_owners(owners, await store.alive(owners), me) == {dead}
    taken = await store.reassign(INBOX, [dead], me)
    assert [(r.key, r.owner) for r in taken] == [("kept-by-dead", me)]
    assert await store.reassign(INBOX, [dead], "someone/else/again") == []


async def test_a_retired_owner_is_no_longer_alive(store):
    owner = new_owner_id()
    await store.heartbeat(owner, 30)
    assert await store.alive([owner]) == {owner}
    await store.retire(owner)
    assert await store.alive([owner]) == set()


async def test_saving_updates_attempts_state_and_owner(store):
    kept = record("r-1", "me", box=OUTBOX)
    await store.put(kept)
    kept.attempts, kept.state, kept.error, kept.owner = 3, "given_up", "HTTP 500", ""
    await store.save(kept)
    [found] = await store.records(OUTBOX)
    assert (found.attempts, found.state, found.error, found.owner) == (3, "given_up",
                                                                       "HTTP 500", "")
