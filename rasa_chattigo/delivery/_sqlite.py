"""The embedded SQLite inbox, with its per-message writes made on the event loop.

Every accepted message is written once and removed once, on the webhook's and the turn's
path. Through SQLAlchemy in the worker thread, those two writes cost `rasa run` about 3.7 ms
of CPU per message under the bench's 50-user load, most of it the thread hand-off and the
GIL going back and forth with the loop's own work, and each webhook answer waited for them.
With WAL and `synchronous=NORMAL` a commit only appends to the WAL file (no fsync), so
`put`, `save` and `remove` go through one plain `sqlite3` connection on the loop instead
(tens of microseconds each). The fsyncs happen in checkpoints, which that connection never
runs (`wal_autocheckpoint=0`): the worker thread's connection runs them, with everything else
(reads, take-overs, leases, table creation).
"""

import sqlite3
from typing import Any, Optional, Sequence

from rasa_chattigo.delivery._records import Record
from rasa_chattigo.delivery._sql import SqlStore
from rasa_chattigo.errors import DeliveryUnavailable

#: The statements of `records_table` (`_records`) the loop runs.
_PUT = (
    "INSERT INTO chattigo_delivery (box, key, conversation, owner, body, created_at, next_at, "
    "attempts, state, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (box, key) DO UPDATE SET conversation = excluded.conversation, "
    "owner = excluded.owner, body = excluded.body, created_at = excluded.created_at, "
    "next_at = excluded.next_at, attempts = excluded.attempts, state = excluded.state, "
    "error = excluded.error")
_SAVE = ("UPDATE chattigo_delivery SET owner = ?, next_at = ?, attempts = ?, state = ?, error = ?, "
         "created_at = ? WHERE box = ? AND key = ?")
_REMOVE = "DELETE FROM chattigo_delivery WHERE box = ? AND key = ?"


class SqliteStore(SqlStore):
    """`SqlStore` on a SQLite file, writing records from the event loop (see the module).

    Args:
        path: the database file.
        url: its SQLAlchemy URL (`sqlite:///<path>`), for the worker thread's work.
        namespace: keeps this bot's rows apart from other bots' in the same file.
    """

    def __init__(self, path: str, url: str, namespace: str = "rasa_chattigo") -> None:
        super().__init__(url, namespace)
        self._path = path
        self._conn: Optional[sqlite3.Connection] = None

    async def put(self, record: Record) -> None:
        """See `BoxStore.put`."""
        row = record.row()
        await self._write("keep a message", _PUT, (
            self._box(record.box), row["key"], row["conversation"], row["owner"], row["body"],
            row["created_at"], row["next_at"], row["attempts"], row["state"], row["error"]))

    async def save(self, record: Record) -> None:
        """See `BoxStore.save`."""
        await self._write("update a message", _SAVE, (
            record.owner, record.next_at, record.attempts, record.state, record.error[:300],
            record.created_at, self._box(record.box), record.key))

    async def remove(self, box: str, key: str) -> None:
        """See `BoxStore.remove`."""
        await self._write("remove a message", _REMOVE, (self._box(box), key))

    async def _write(self, doing: str, statement: str, values: Sequence[Any]) -> None:
        conn = self._conn or await self._connect()
        try:
            conn.execute(statement, values)
        except sqlite3.Error as exc:
            cause = str(exc).strip().splitlines()
            raise DeliveryUnavailable(self.label, f"cannot {doing}: "
                                      f"{cause[0] if cause else type(exc).__name__}") from None

    async def _connect(self) -> sqlite3.Connection:
        # The tables first, as every other store operation makes them: in the worker thread.
        await self._run("open the inbox", lambda conn: None)
        if self._conn is None:  # another first write may have opened it meanwhile
            try:
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000",
                               "wal_autocheckpoint=0"):
                    conn.execute(f"PRAGMA {pragma}")
            except sqlite3.Error as exc:
                raise DeliveryUnavailable(self.label, f"cannot open it: {exc}") from None
            self._conn = conn
        return self._conn

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        """See `BoxStore.heartbeat`; also moves what the WAL holds into the database file."""
        await super().heartbeat(owner, lease_seconds)
        await self._run("checkpoint the WAL", lambda conn: conn.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)"))

    async def aclose(self) -> None:
        """Closes the loop's connection, then the worker thread's."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        await super().aclose()
