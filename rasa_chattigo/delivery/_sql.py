"""The inbox and outbox in SQL: an embedded SQLite file (WAL) by default, or PostgreSQL."""

import asyncio
import functools
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, List, Set, TypeVar

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from rasa_chattigo.credentials._records import make_engine, safe_url
from rasa_chattigo.delivery._records import Record, metadata, owners_table, records_table
from rasa_chattigo.errors import ConfigError, DeliveryUnavailable, StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")
_t = records_table.c


class SqlStore:
    """Records in SQL, written from one worker thread so the event loop never waits on them.

    (`SqliteStore` makes a SQLite file's per-message writes on the loop instead.)

    SQLite runs in WAL mode with `synchronous=NORMAL`: a commit survives the process being
    killed (kill -9, OOM); the last commits may be lost only if the machine itself loses
    power. The tables are created on first use.

    Args:
        url: a SQLAlchemy URL (`sqlite:///path/inbox.db`, `postgresql://user@host/db`).
        namespace: keeps this bot's rows apart from other bots' in a shared database.
    """

    def __init__(self, url: str, namespace: str = "rasa_chattigo") -> None:
        self.label = safe_url(url)
        self._ns = namespace
        self._sqlite = url.startswith("sqlite")
        try:
            options = {"poolclass": StaticPool,
                       "connect_args": {"check_same_thread": False}} if self._sqlite else {}
            self._engine = make_engine(url, **options)
        except StoreError:
            raise ConfigError("inbox_store", f"{self.label}: cannot use this URL") from None
        if self._sqlite:
            event.listen(self._engine, "connect", _sqlite_pragmas)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chattigo-inbox")
        self._ready = False

    async def _run(self, doing: str, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(
            self._guarded, doing, work, *args))

    def _guarded(self, doing: str, work: Callable[..., T], *args: Any) -> T:
        try:
            if not self._ready:
                metadata.create_all(self._engine, checkfirst=True)
                self._ready = True
            with self._engine.begin() as conn:
                return work(conn, *args)
        except SQLAlchemyError as exc:
            raise DeliveryUnavailable(self.label, f"cannot {doing}: {cause(exc)}") from None

    async def put(self, record: Record) -> None:
        """See `BoxStore.put`."""
        await self._run("keep a message", _put, record, self._box(record.box))

    async def save(self, record: Record) -> None:
        """See `BoxStore.save`."""
        values = {k: v for k, v in record.row().items()
                  if k in ("owner", "next_at", "attempts", "state", "error", "created_at")}
        box = self._box(record.box)
        await self._run("update a message", lambda conn: conn.execute(update(records_table).where(
            _t.box == box, _t.key == record.key).values(**values)))

    async def remove(self, box: str, key: str) -> None:
        """See `BoxStore.remove`."""
        box = self._box(box)
        await self._run("remove a message", lambda conn: conn.execute(
            delete(records_table).where(_t.box == box, _t.key == key)))

    async def records(self, box: str) -> List[Record]:
        """See `BoxStore.records`."""
        return await self._run("read messages", _records, self._box(box))

    async def owners(self, box: str) -> Set[str]:
        """See `BoxStore.owners`."""
        box = self._box(box)
        return await self._run("read owners", lambda conn: set(conn.execute(
            select(_t.owner).where(_t.box == box).distinct()).scalars()))

    async def alive(self, owners: Iterable[str]) -> Set[str]:
        """See `BoxStore.alive`."""
        wanted, now = list(owners), time.time()
        c = owners_table.c
        return await self._run("read leases", lambda conn: set(conn.execute(
            select(c.owner).where(c.owner.in_(wanted), c.expires_at > now)).scalars()))

    async def reassign(self, box: str, dead: Iterable[str], owner: str) -> List[Record]:
        """See `BoxStore.reassign`; a one-off token marks the rows this call took."""
        dead, token = list(dead), f"{owner}#{uuid.uuid4().hex[:8]}"
        if not dead:
            return []
        return await self._run("take over messages", _reassign, self._box(box), dead, owner,
                               token)

    def _box(self, box: str) -> str:
        return f"{self._ns}/{box}"

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        """See `BoxStore.heartbeat`."""
        await self._run("renew the lease", renew_lease, owner, time.time() + lease_seconds)

    async def retire(self, owner: str) -> None:
        """See `BoxStore.retire`."""
        await self._run("end the lease", lambda conn: conn.execute(
            delete(owners_table).where(owners_table.c.owner == owner)))

    async def aclose(self) -> None:
        """Closes the connections and the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=False)


def cause(exc: BaseException) -> str:
    """The first line of what the database said, else the error's type.

    Of a SQLAlchemy error, only the driver's own (`orig`): its text names the statement and
    its values.
    """
    said = getattr(exc, "orig", None) if isinstance(exc, SQLAlchemyError) else exc
    lines = str(said or "").strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000",
                   "journal_size_limit=67108864"):  # the WAL cut back to 64 MiB at checkpoints
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _records(conn: Any, box: str) -> List[Record]:
    rows = conn.execute(select(records_table).where(_t.box == box).order_by(_t.seq))
    return [_record(row) for row in rows]


def _record(row: Any) -> Record:
    record = Record.from_row(row)
    record.box = record.box.rpartition("/")[2]
    return record


def _put(conn: Any, record: Record, box: str) -> None:
    # One statement: insert, or replace a row kept already (a redelivery of a message a stopped
    # owner left). Both SQLite (3.24+) and PostgreSQL speak ON CONFLICT.
    row = {**record.row(), "box": box}
    dialect = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    statement = dialect(records_table).values(**row)
    statement = statement.on_conflict_do_update(
        index_elements=[_t.box, _t.key], set_={k: v for k, v in row.items() if k != "box"})
    conn.execute(statement)


def _reassign(conn: Any, box: str, dead: List[str], owner: str, token: str) -> List[Record]:
    conn.execute(update(records_table).where(_t.box == box, _t.owner.in_(dead))
                 .values(owner=token))
    rows = conn.execute(select(records_table).where(_t.owner == token).order_by(_t.seq)).all()
    conn.execute(update(records_table).where(_t.owner == token).values(owner=owner))
    taken = [_record(row) for row in rows]
    for record in taken:
        record.owner = owner
    return taken


def renew_lease(conn: Any, owner: str, expires_at: float) -> None:
    """Sets `owner`'s lease to end at `expires_at` (wall-clock seconds)."""
    c = owners_table.c
    if conn.execute(update(owners_table).where(c.owner == owner)
                    .values(expires_at=expires_at)).rowcount == 0:
        conn.execute(insert(owners_table).values(owner=owner, expires_at=expires_at))
