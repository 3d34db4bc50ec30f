"""The SQLite inbox's writes from the event loop, committed together: what one turn of the loop
queues is written in one transaction at the next (`WriteBatch`)."""

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any, Callable, List, NamedTuple, Optional, Sequence

from rasa_chattigo.delivery._sql import cause
from rasa_chattigo.errors import DeliveryUnavailable

logger = logging.getLogger(__name__)


class Locked(Exception):
    """Another writer holds the file: the write is to be made from the worker thread."""


class _Write(NamedTuple):
    doing: str  # for the error: "keep a message", "remove a message", ...
    statement: str
    values: Sequence[Any]
    written: "asyncio.Future[None]"


class WriteBatch:
    """Queues writes and commits each turn's in one transaction: a burst of webhooks pays for
    one commit (about 5 µs a write, against 22-27 µs for a commit of its own).

    A statement that fails fails its own write only (SQLite undoes just that statement), unless
    SQLite rolled the whole transaction back; then every write of the batch fails. No write is
    left waiting: a commit task that fails or is cancelled fails what it had not written.

    Args:
        label: the store's name in errors (its URL without a password).
        before_commit: waited for before each commit (the lease's checkpoint comes first).
    """

    def __init__(self, label: str, before_commit: Callable[[], Any]) -> None:
        self._label = label
        self._before_commit = before_commit
        self._queued: List[_Write] = []
        self._committing: Optional[asyncio.Future[None]] = None

    async def write(self, conn: sqlite3.Connection, doing: str, statement: str,
                    values: Sequence[Any]) -> None:
        """Queues the write and returns once it is committed.

        Raises:
            Locked: another writer holds the file; nothing was written.
            DeliveryUnavailable: the write failed.
        """
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append(_Write(doing, statement, values, written))
        if self._committing is None or self._committing.done():
            self._committing = asyncio.ensure_future(self._commit_queued(conn))
            self._committing.add_done_callback(self._after_commit)
        await written

    async def drain(self) -> None:
        """Waits until what is queued is committed (or failed)."""
        if self._committing is not None and not self._committing.done():
            await asyncio.wait({self._committing})

    async def _commit_queued(self, conn: sqlite3.Connection) -> None:
        await self._before_commit()
        queued, self._queued = self._queued, []  # and what comes next is the next task's
        try:
            _commit(conn, queued, self._label)
        except Exception as exc:  # a bug: the transaction undone, each write failed
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            logger.exception("Inbox %s: a batch of writes failed", self._label)
            _fail(queued, self._label, exc)

    def _after_commit(self, task: "asyncio.Future[None]") -> None:
        """A commit task that stopped before it took the queue (cancelled at the loop's end,
        or failing in its wait): what it would have written fails instead of waiting."""
        if task is not self._committing:
            return  # a newer task took the queue over
        failure = asyncio.CancelledError() if task.cancelled() else task.exception()
        if failure is not None:
            if not task.cancelled():
                logger.error("Inbox %s: writes failed before their commit", self._label,
                             exc_info=failure)
            left, self._queued = self._queued, []
            _fail(left, self._label, failure)


def _commit(conn: sqlite3.Connection, queued: List[_Write], label: str) -> None:
    """Writes `queued` in one transaction and settles each write."""
    try:
        conn.execute("BEGIN IMMEDIATE")  # the write lock now, or `locked` at once
    except sqlite3.Error as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            _settle(queued, lambda write: Locked())
        else:
            _fail(queued, label, exc)
        return
    for write in queued:
        try:
            conn.execute(write.statement, write.values)
        except (sqlite3.Error, UnicodeError, OverflowError) as exc:  # its values, or the disk
            _fail([write], label, exc)
            if not conn.in_transaction:  # rolled back: nothing of the batch was written
                _fail(queued, label, exc)
                return
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        _fail(queued, label, exc)
        return
    _settle(queued, lambda write: None)


def _fail(queued: List[_Write], label: str, exc: BaseException) -> None:
    """Fails each write not settled yet, naming what it was doing."""
    _settle(queued, lambda write: DeliveryUnavailable(label, f"cannot {write.doing}: "
                                                             f"{cause(exc)}"))


def _settle(queued: List[_Write], outcome: Callable[[_Write], Optional[BaseException]]) -> None:
    """Resolves each write not settled yet: None (written) or the exception it raises."""
    for write in queued:
        if write.written.done():  # failed already, or its webhook was cancelled meanwhile
            continue
        error = outcome(write)
        if error is None:
            write.written.set_result(None)
        else:
            write.written.set_exception(error)
