"""The inbox/outbox stores keep one contract: memory, SQLite, Redis and PostgreSQL alike."""

import asyncio
import sqlite3
import threading
import uuid
from typing import List

import pytest
from sqlalchemy.exc import OperationalError

from rasa_chattigo.delivery import INBOX, OUTBOX, Record, open_store
from rasa_chattigo.delivery._batch import WriteBatch
from rasa_chattigo.delivery._owner import dead_owners, new_owner_id
from rasa_chattigo.delivery._sql import SqlStore, cause
from rasa_chattigo.delivery._sqlite import SqliteStore
from rasa_chattigo.errors import DeliveryUnavailable

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


async def test_sqlite_writes_from_the_loop_are_seen_by_the_sql_store_and_checkpointed(tmp_path):
    path = tmp_path / "inbox.db"
    fast = open_store(f"sqlite:///{path}", "ns")
    assert isinstance(fast, SqliteStore)
    for n in range(200):
        await fast.put(record(f"k{n}", "me"))
    await fast.remove(INBOX, "k0")
    kept = record("k1", "other")
    kept.attempts, kept.error = 3, "x" * 400
    await fast.save(kept)
    wal = tmp_path / "inbox.db-wal"
    assert wal.stat().st_size > 0  # the loop's connection never checkpoints
    before = path.stat().st_size
    await fast.heartbeat("me", 30)  # the worker thread's does, with the lease
    assert path.stat().st_size > before + 8192  # the rows moved into the database file
    reader = SqlStore(f"sqlite:///{path}", "ns")  # another process, or the CLI
    records = await reader.records(INBOX)
    assert [r.key for r in records][:2] == ["k1", "k2"] and len(records) == 199
    assert (records[0].owner, records[0].attempts, len(records[0].error)) == ("other", 3, 300)
    await reader.aclose()
    await fast.aclose()


async def test_the_worker_thread_starts_the_sqlite_wal_over_after_its_checkpoint(tmp_path):
    # A reused WAL's header is synced (fsync) by the write that starts it over: the lease's,
    # right after the checkpoint, and not the loop's next write (a stall of the whole loop).
    path = tmp_path / "inbox.db"
    store = open_store(f"sqlite:///{path}", "ns")
    wal = tmp_path / "inbox.db-wal"

    def header() -> bytes:  # checkpoint sequence and salts: they change when the WAL restarts
        return wal.read_bytes()[12:24]

    for round_ in range(3):
        for n in range(50):
            await store.put(record(f"k{round_}-{n}", "me"))
            await store.remove(INBOX, f"k{round_}-{n}")
        before = header()
        await store.heartbeat("me", 30)
        after = header()
        assert after != before  # started over by the heartbeat
        await store.put(record(f"next{round_}", "me"))
        assert header() == after  # the loop's write appended to it, with no sync
    await store.aclose()


async def test_a_worker_thread_write_never_checkpoints_a_sqlite_inbox_on_its_own(tmp_path):
    # SQLite's automatic checkpoint, after a commit that leaves 1000 pages in the WAL, would
    # leave the WAL's restart (and its fsync) to the loop's next write.
    path = tmp_path / "inbox.db"
    store = open_store(f"sqlite:///{path}", "ns")
    for n in range(400):  # about 1200 pages
        await store.put(record(f"k{n}", "me"))
    await SqlStore.put(store, record("k", "me"))  # in the worker thread, as when it is locked
    header = (tmp_path / "inbox.db-wal").read_bytes
    before = header()[12:24]
    await store.put(record("next", "me"))
    assert header()[12:24] == before  # the loop's write appended: nothing started it over
    await store.heartbeat("me", 30)
    assert header()[12:24] != before
    await store.aclose()


def test_a_store_error_names_the_database_s_words_never_the_statement_s_values():
    wrapped = OperationalError("INSERT INTO x VALUES (?)", ("secret body",),
                               sqlite3.OperationalError("disk I/O error\nmore"))
    assert cause(wrapped) == "disk I/O error"
    assert cause(OperationalError("INSERT", ("secret body",), None)) == "OperationalError"
    assert cause(sqlite3.OperationalError("")) == "OperationalError"


async def test_loop_writes_to_a_file_being_checkpointed_wait_for_the_lease_write(tmp_path):
    # Between the checkpoint and the lease's write, a loop write (of any store on the file)
    # would be the one to start the WAL over, and sync it on the loop: they wait instead.
    path = tmp_path / "inbox.db"
    store, other = open_store(f"sqlite:///{path}", "a"), open_store(f"sqlite:///{path}", "b")
    await store.put(record("k1", "me"))
    await other.put(record("k1", "them"))
    header = (tmp_path / "inbox.db-wal").read_bytes
    before = header()[12:24]
    first, second = threading.Event(), threading.Event()

    def hold(until: threading.Event) -> "asyncio.Future[object]":
        return asyncio.ensure_future(store._run("hold the worker thread",
                                                lambda conn: until.wait(5)))

    held = [hold(first)]
    beat = asyncio.ensure_future(store.heartbeat("me", 30))  # its first checkpoint: queued
    await asyncio.sleep(0)
    held.append(hold(second))  # ahead of its second checkpoint and the lease's write
    first.set()
    await asyncio.sleep(0.1)
    writes = [asyncio.ensure_future(other.put(record("k2", "them"))),
              asyncio.ensure_future(store.remove(INBOX, "k1"))]
    await asyncio.sleep(0.1)
    assert not any(write.done() for write in writes)  # waiting for the lease's write
    second.set()
    await asyncio.gather(*held, beat, *writes)
    after = header()[12:24]
    assert after != before  # the heartbeat started the WAL over; the writes came after it
    assert [r.key for r in await other.records(INBOX)] == ["k1", "k2"]
    assert await store.records(INBOX) == []
    await other.aclose()
    await store.aclose()


async def test_a_sqlite_inbox_whose_table_is_gone_raises_delivery_unavailable(tmp_path):
    path = tmp_path / "inbox.db"
    store = open_store(f"sqlite:///{path}", "ns")
    await store.put(record("k1", "me"))
    other = sqlite3.connect(path)
    other.execute("DROP TABLE chattigo_delivery")
    other.close()
    with pytest.raises(DeliveryUnavailable, match="cannot keep a message: no such table"):
        await store.put(record("k2", "me"))
    await store.aclose()


async def test_a_locked_sqlite_inbox_is_waited_for_off_the_event_loop(tmp_path):
    path = tmp_path / "inbox.db"
    store = open_store(f"sqlite:///{path}", "ns")
    await store.put(record("k1", "me"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer: a take-over, the CLI
    loop = asyncio.get_running_loop()
    ticks: List[float] = []

    async def ticking() -> None:
        while True:
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(ticking())
    writing = asyncio.ensure_future(store.put(record("k2", "me")))
    await asyncio.sleep(0.5)
    assert not writing.done()  # waiting for the lock, in the worker thread
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writing, 5)
    ticker.cancel()
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.2  # the loop never stalled
    assert [r.key for r in await store.records(INBOX)] == ["k1", "k2"]
    await store.aclose()


async def test_sqlite_writes_made_together_are_committed_together_and_fail_one_by_one(
        tmp_path):
    # A burst of webhooks: their writes share one transaction; one that cannot be written
    # (a body no encoding holds) fails alone, and the others are kept.
    path = tmp_path / "inbox.db"
    store = open_store(f"sqlite:///{path}", "ns")
    await store.put(record("first", "me"))  # the file and its tables exist
    broken = Record(INBOX, "broken", "549110001", {"text": "\ud800"}, owner="me")
    writes = [store.put(record(f"k{n}", "me")) for n in range(20)]
    writes.insert(7, store.put(broken))
    writes.append(store.remove(INBOX, "first"))
    wal = tmp_path / "inbox.db-wal"
    before = wal.stat().st_size
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    [failed] = [outcome for outcome in outcomes if outcome is not None]
    assert isinstance(failed, DeliveryUnavailable) and "keep a message" in str(failed)
    frames = (wal.stat().st_size - before) // 4120  # a 4 KiB page and its frame header
    assert frames < 10  # 3 for one commit of 21 writes; a commit per write made 63
    reader = SqlStore(f"sqlite:///{path}", "ns")
    assert [r.key for r in await reader.records(INBOX)] == [f"k{n}" for n in range(20)]
    await reader.aclose()
    await store.aclose()


async def test_a_sqlite_write_queued_when_the_store_closes_is_written_first(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}", "ns")
    await store.put(record("k1", "me"))
    writing = asyncio.ensure_future(store.put(record("k2", "me")))
    await asyncio.sleep(0)  # queued, not committed yet
    await store.aclose()
    await asyncio.wait_for(writing, 5)  # committed before the connection closed
    with pytest.raises(DeliveryUnavailable, match="closed"):
        await store.put(record("k3", "me"))
    reopened = open_store(f"sqlite:///{tmp_path / 'inbox.db'}", "ns")
    assert [r.key for r in await reopened.records(INBOX)] == ["k1", "k2"]
    await reopened.aclose()


async def test_a_sqlite_write_with_values_no_column_holds_fails_alone_and_the_store_goes_on(
        tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}", "ns")
    await store.put(record("k1", "me"))
    huge = record("k1", "me")
    huge.attempts = 2**70  # past SQLite's 64-bit integers
    outcomes = await asyncio.gather(store.save(huge), store.put(record("k2", "me")),
                                    return_exceptions=True)
    assert isinstance(outcomes[0], DeliveryUnavailable) and outcomes[1] is None
    await store.put(record("k3", "me"))  # no transaction was left open
    assert [r.key for r in await store.records(INBOX)] == ["k1", "k2", "k3"]
    await store.aclose()


async def test_writes_whose_commit_task_is_cancelled_fail_and_later_ones_are_written(tmp_path):
    conn = sqlite3.connect(tmp_path / "batch.db", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")

    async def nothing_to_wait_for() -> None:
        pass

    batch = WriteBatch("test", nothing_to_wait_for)
    first = asyncio.ensure_future(batch.write(conn, "keep a message", "INSERT INTO t VALUES (?)",
                                              ("a",)))
    await asyncio.sleep(0)  # queued, and its commit task made
    batch._committing.cancel()  # as the loop's end cancels every task
    with pytest.raises(DeliveryUnavailable, match="cannot keep a message"):
        await asyncio.wait_for(first, 5)
    await asyncio.wait_for(batch.write(conn, "keep a message", "INSERT INTO t VALUES (?)",
                                       ("b",)), 5)
    assert conn.execute("SELECT k FROM t").fetchall() == [("b",)]
    conn.close()


@pytest.mark.parametrize("url", ["sqlite:///{path}?timeout=30", "sqlite://", "sqlite:///"])
async def test_sqlite_urls_that_are_not_a_plain_file_are_served_as_sqlalchemy_reads_them(
        url, tmp_path):
    store = open_store(url.format(path=tmp_path / "inbox.db"), "ns")
    assert not isinstance(store, SqliteStore)
    await store.put(record("k1", "me"))
    assert [r.key for r in await store.records(INBOX)] == ["k1"]
    await store.aclose()


async def test_a_sqlite_inbox_closed_during_its_first_write_stays_closed(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'inbox.db'}", "ns")
    first = asyncio.ensure_future(store.put(record("k1", "me")))
    await asyncio.sleep(0)  # the first write is opening the file, in the worker thread
    closing = asyncio.ensure_future(store.aclose())
    with pytest.raises(DeliveryUnavailable):
        await first
    await closing
