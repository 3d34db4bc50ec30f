"""The embedded SQLite inbox, its per-message writes made on the event loop (see `SqliteStore`)."""

import asyncio
import logging
import os
import sqlite3
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from rasa_chattigo.delivery._records import Record
from rasa_chattigo.delivery._sql import SqlStore, renew_lease
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

#: The WAL file is cut back to this size at a checkpoint (it never shrinks otherwise).
WAL_SIZE_LIMIT = 64 * 1024 * 1024

#: The files a worker thread is checkpointing now (`SqliteStore.heartbeat`), by real path:
#: every store of the file waits for the checkpoint's end before it writes from the loop.
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
    through one plain `sqlite3` connection on the loop (tens of microseconds each). That
    connection never checkpoints (`wal_autocheckpoint=0`): the worker thread does, with the
    lease, and starts the WAL over itself (`heartbeat`). It never waits for another writer
    either: when the file is locked (a take-over, the CLI), the write is made from the
    worker thread, which may wait.

    Args:
        path: the database file, as `sqlite_file` gives it.
        url: its SQLAlchemy URL, for the worker thread's work.
        namespace: keeps this bot's rows apart from other bots' in the same file.
    """

    def __init__(self, path: str, url: str, namespace: str = "rasa_chattigo") -> None:
        super().__init__(url, namespace)
        self._path = path
        self._file = os.path.realpath(path)
        self._conn: Optional[sqlite3.Connection] = None
        self._closed = False

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
        checkpoint = _checkpoints.get(self._file)
        if checkpoint is not None:  # the lease's write comes first (see `heartbeat`)
            await asyncio.shield(checkpoint)
        conn = self._conn or await self._connect()
        try:
            conn.execute(statement, values)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise _unavailable(self.label, doing, exc) from None
            await in_thread()  # another writer holds the file: wait there, not on the loop
        except (sqlite3.Error, UnicodeError) as exc:
            raise _unavailable(self.label, doing, exc) from None

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

        Both in one job of the worker thread, the checkpoint first: the lease's write then
        starts the WAL over, and makes the one fsync of its header that `synchronous=NORMAL`
        asks for when a WAL is reused. Left to the loop's next write, that fsync held the
        event loop for 190-350 ms in `make bench` while the disk was writing back the WAL.
        So the loop's writes to the file, of every store on it, wait for the job's end (a
        few milliseconds, a checkpoint costing about 1 ms per MB of WAL). A failed
        checkpoint is logged: the lease is renewed all the same, and the next round tries
        again.
        """
        while self._file in _checkpoints:  # another store's, on the same file
            await asyncio.shield(_checkpoints[self._file])
        done = _checkpoints[self._file] = asyncio.get_running_loop().create_future()
        try:
            await self._run("renew the lease", _checkpoint_then_renew, owner,
                            time.time() + lease_seconds, self.label)
        finally:
            del _checkpoints[self._file]
            done.set_result(None)

    async def aclose(self) -> None:
        """Closes the loop's connection, then the worker thread's."""
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        await super().aclose()


def _checkpoint_then_renew(conn: Any, owner: str, expires_at: float, label: str) -> None:
    try:
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()[0][0]
    except SQLAlchemyError as exc:
        logger.warning("Inbox %s: cannot checkpoint the WAL: %s", label,
                       str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0])
    else:
        if busy:
            logger.debug("Inbox %s: WAL checkpoint left for the next round (busy)", label)
    renew_lease(conn, owner, expires_at)


def _unavailable(label: str, doing: str, exc: BaseException) -> DeliveryUnavailable:
    cause = str(exc).strip().splitlines()
    return DeliveryUnavailable(label, f"cannot {doing}: "
                               f"{cause[0] if cause else type(exc).__name__}")
