"""The embedded SQLite inbox, its per-message writes made on the event loop (see `SqliteStore`)."""

import asyncio
import logging
import os
import sqlite3
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Sequence

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from rasa_chattigo.delivery._batch import Locked, WriteBatch
from rasa_chattigo.delivery._records import Record
from rasa_chattigo.delivery._sql import SqlStore, cause, renew_lease
from rasa_chattigo.errors import DeliveryUnavailable

logger = logging.getLogger(__name__)

#: The statements of `records_table` (`_records`) the loop runs.
_PUT = (
    "INSERT INTO chattigo_delivery (box, key, conversation, owner, body, created_at, next_at, "
    "attempts, state, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (box, key) DO UPDATE SET conversation = excluded.conversation, "
    "owner = excluded.owner, body = excluded.body, created_at = excluded.created_at, "
    "next_at = excluded.next_at, attempts = excluded.attempts, state = excluded.state, "
    "error = excluded.error")
_SAVE = ("UPDATE chattigo_delivery SET owner = ?, next_at = ?, attempts = ?, state = ?, "
         "error = ?, created_at = ? WHERE box = ? AND key = ?")
_REMOVE = "DELETE FROM chattigo_delivery WHERE box = ? AND key = ?"

#: The WAL file is cut back to this size when it starts over after a checkpoint (it never
#: shrinks otherwise).
WAL_SIZE_LIMIT = 64 * 1024 * 1024

#: The files a worker thread is checkpointing now (`SqliteStore.heartbeat`), by real path:
#: every store of this process on the file waits for the checkpoint's end before it writes
#: from the loop (another process's writes are not held: one instance per file).
_checkpoints: Dict[str, "asyncio.Future[None]"] = {}


def sqlite_file(url: str) -> Optional[str]:
    """The database file a `sqlite:///FILE` URL names; None for anything else (a query
    string, an in-memory database), which `SqlStore` serves as SQLAlchemy reads it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.query:
        return None
    return parsed.database if parsed.database not in (None, "", ":memory:") else None


class SqliteStore(SqlStore):
    """`SqlStore` on a SQLite file, with `put`, `save` and `remove` made on the event loop.

    Every accepted message is written once and removed once, on the webhook's and the turn's
    path. Through SQLAlchemy in the worker thread those writes cost `rasa run` about 3 ms of
    CPU per message under the bench's load (the thread hand-off and the GIL going back and
    forth with the loop's own work), and each webhook answer waited for them. In WAL mode
    with `synchronous=NORMAL` a commit appends to the WAL file without an fsync, so they go
    through one plain `sqlite3` connection on the loop, each turn's together (`WriteBatch`).
    That connection never checkpoints (`wal_autocheckpoint=0`), nor does the worker thread's on
    its own: the worker thread checkpoints with the lease, and starts the WAL over itself
    (`heartbeat`). It never waits for another writer either: when the file is locked (a
    take-over, the CLI), the write is made from the worker thread, which may wait.

    Args:
        path: the database file, as `sqlite_file` gives it.
        url: its SQLAlchemy URL, for the worker thread's work.
        namespace: keeps this bot's rows apart from other bots' in the same file.
    """

    def __init__(self, path: str, url: str, namespace: str = "rasa_chattigo") -> None:
        super().__init__(url, namespace)
        event.listen(self._engine, "connect", _no_autocheckpoint)  # the heartbeat's job
        self._path = path
        self._file = os.path.realpath(path)
        self._conn: Optional[sqlite3.Connection] = None
        self._closed = False
        self._batch = WriteBatch(self.label, self._checkpointed)

    async def put(self, record: Record) -> None:
        """See `BoxStore.put`."""
        row = record.row()
        await self._write("keep a message", _PUT, (
            self._box(record.box), row["key"], row["conversation"], row["owner"], row["body"],
            row["created_at"], row["next_at"], row["attempts"], row["state"], row["error"]),
            lambda: super(SqliteStore, self).put(record))

    async def save(self, record: Record) -> None:
        """See `BoxStore.save`."""
        await self._write("update a message", _SAVE, (
            record.owner, record.next_at, record.attempts, record.state, record.error[:300],
            record.created_at, self._box(record.box), record.key),
            lambda: super(SqliteStore, self).save(record))

    async def remove(self, box: str, key: str) -> None:
        """See `BoxStore.remove`."""
        await self._write("remove a message", _REMOVE, (self._box(box), key),
                          lambda: super(SqliteStore, self).remove(box, key))

    async def _write(self, doing: str, statement: str, values: Sequence[Any],
                     in_thread: Callable[[], Awaitable[None]]) -> None:
        if self._closed:
            raise DeliveryUnavailable(self.label, "closed")
        conn = self._conn or await self._connect()
        try:
            await self._batch.write(conn, doing, statement, values)
        except Locked:  # another writer holds the file (a take-over, the CLI)
            await in_thread()  # waits for it in the worker thread, not on the loop

    async def _checkpointed(self) -> None:
        """Returns once no checkpoint of the file is running (see `heartbeat`)."""
        while self._file in _checkpoints:
            await asyncio.shield(_checkpoints[self._file])

    async def _connect(self) -> sqlite3.Connection:
        # The tables first, as every other store operation makes them: in the worker thread.
        await self._run("open the inbox", lambda conn: None)
        if self._closed:
            raise DeliveryUnavailable(self.label, "closed")
        if self._conn is None:  # another first write may have opened it meanwhile
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _unavailable(self.label, "open it", exc) from None
        try:
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=0",
                           "wal_autocheckpoint=0", f"journal_size_limit={WAL_SIZE_LIMIT}"):
                conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            conn.close()
            raise _unavailable(self.label, "open it", exc) from None
        return conn

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        """See `BoxStore.heartbeat`; first moves what the WAL holds into the database file.

        A reused WAL's header is synced (fsync, at `synchronous=NORMAL`) by the write that
        starts it over, the first after a complete checkpoint. Left to the loop's next write,
        that fsync held the event loop for 190-350 ms in `make bench` while the disk was
        writing back the WAL. So the worker thread checkpoints twice: once while the loop
        goes on writing, then once more for what came meanwhile, with the lease's write
        right after it in the same job, while every store's loop writes to the file wait
        for the job's end: the lease's write is the one that starts the WAL over. The wait
        is short (the second checkpoint has little to move), but it includes the fsyncs,
        which take longer on a busy disk. A failed checkpoint is logged: the lease is
        renewed all the same, and the next round tries again.
        """
        await self._run("checkpoint the WAL", _checkpoint, self.label)
        while self._file in _checkpoints:  # another store's, on the same file
            await asyncio.shield(_checkpoints[self._file])
        done = _checkpoints[self._file] = asyncio.get_running_loop().create_future()
        try:
            await self._run("renew the lease", _checkpoint_then_renew, owner, lease_seconds,
                            self.label)
        finally:
            del _checkpoints[self._file]
            done.set_result(None)

    async def aclose(self) -> None:
        """Closes the loop's connection, then the worker thread's."""
        await self._batch.drain()  # what is queued is written first
        self._closed = True  # a write queued from now on fails
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        await super().aclose()


def _checkpoint(conn: Any, label: str) -> None:
    try:
        busy, log, moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()[0]
    except SQLAlchemyError as exc:
        logger.warning("Inbox %s: cannot checkpoint the WAL: %s", label, cause(exc))
        return
    if busy or moved < log:
        logger.debug("Inbox %s: WAL checkpoint left for the next round (%d of %d pages)",
                     label, moved, log)


def _checkpoint_then_renew(conn: Any, owner: str, lease_seconds: float, label: str) -> None:
    _checkpoint(conn, label)
    renew_lease(conn, owner, time.time() + lease_seconds)


def _no_autocheckpoint(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA wal_autocheckpoint=0")


def _unavailable(label: str, doing: str, exc: BaseException) -> DeliveryUnavailable:
    return DeliveryUnavailable(label, f"cannot {doing}: {cause(exc)}")
