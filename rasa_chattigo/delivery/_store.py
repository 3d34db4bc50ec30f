"""The stores behind the inbox and outbox: the protocol, an in-memory one, and `open_store`."""

import os
import time
from pathlib import Path
from typing import Dict, Iterable, List, Protocol, Set

from rasa_chattigo.delivery._records import Record
from rasa_chattigo.errors import ConfigError
from rasa_chattigo.settings import ChattigoSettings, safe_url

_REDIS = ("redis://", "rediss://", "unix://")
_SQL = ("sqlite://", "postgresql://", "postgresql+psycopg2://", "postgres://")


class BoxStore(Protocol):
    """Keeps records of both boxes; every method raises `DeliveryUnavailable` when it fails.

    A write whose caller is cancelled may still be made (`Intake` removes a kept copy it did
    not acknowledge).
    """

    label: str

    async def put(self, record: Record) -> None:
        """Keeps `record`, replacing one with the same box and key; the store orders it."""

    async def save(self, record: Record) -> None:
        """Writes back `record`'s owner, attempts, next_at, state and error."""

    async def remove(self, box: str, key: str) -> None:
        """Forgets a record (absent ones too)."""

    async def records(self, box: str) -> List[Record]:
        """Every record of `box`, in `seq` order."""

    async def owners(self, box: str) -> Set[str]:
        """The owners holding records of `box`."""

    async def alive(self, owners: Iterable[str]) -> Set[str]:
        """Those of `owners` whose lease has not expired."""

    async def reassign(self, box: str, dead: Iterable[str], owner: str) -> List[Record]:
        """Gives `owner` every record of `box` held by `dead`; those records, in `seq` order."""

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        """Renews `owner`'s lease."""

    async def retire(self, owner: str) -> None:
        """Ends `owner`'s lease now (a clean stop): its records may be taken over at once."""

    async def aclose(self) -> None:
        """Releases connections."""


class MemoryStore:
    """Records in this process only (`inbox_store: memory`): nothing survives a restart."""

    label = "memory"

    def __init__(self) -> None:
        self._records: Dict[str, Dict[str, Record]] = {}
        self._leases: Dict[str, float] = {}
        self._seq = 0

    async def put(self, record: Record) -> None:
        """See `BoxStore.put`."""
        self._seq += 1
        record.seq = self._seq
        box = self._records.setdefault(record.box, {})
        box.pop(record.key, None)
        box[record.key] = record

    async def save(self, record: Record) -> None:
        """See `BoxStore.save`."""

    async def remove(self, box: str, key: str) -> None:
        """See `BoxStore.remove`."""
        self._records.get(box, {}).pop(key, None)

    async def records(self, box: str) -> List[Record]:
        """See `BoxStore.records`."""
        return sorted(self._records.get(box, {}).values(), key=lambda r: r.seq)

    async def owners(self, box: str) -> Set[str]:
        """See `BoxStore.owners`."""
        return {r.owner for r in self._records.get(box, {}).values()}

    async def alive(self, owners: Iterable[str]) -> Set[str]:
        """See `BoxStore.alive`."""
        now = time.time()
        return {o for o in owners if self._leases.get(o, 0.0) > now}

    async def reassign(self, box: str, dead: Iterable[str], owner: str) -> List[Record]:
        """See `BoxStore.reassign`."""
        dead = set(dead)
        taken = [r for r in await self.records(box) if r.owner in dead]
        for record in taken:
            record.owner = owner
        return taken

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        """See `BoxStore.heartbeat`."""
        self._leases[owner] = time.time() + lease_seconds

    async def retire(self, owner: str) -> None:
        """See `BoxStore.retire`."""
        self._leases.pop(owner, None)

    async def aclose(self) -> None:
        """Nothing to release."""


def store_url(settings: ChattigoSettings) -> str:
    """The store the `inbox_store` setting names, resolved.

    Unset, it follows a Redis `dedup_store` (several instances share it), else it is the
    SQLite file at `inbox_path`.
    """
    url = (settings.inbox_store or "").strip()
    if not url:
        url = settings.dedup_store if settings.dedup_store.startswith(_REDIS) else "sqlite"
    if url == "sqlite":
        return "sqlite:///" + os.path.abspath(settings.inbox_path)
    return url


def open_store(url: str, namespace: str = "rasa_chattigo") -> BoxStore:
    """Builds (without connecting) the store `url` names: memory, SQLite, PostgreSQL or Redis.

    `namespace` separates the records of bots sharing one Redis or one SQL database.

    Raises:
        ConfigError: naming `inbox_store` when the URL names no usable store.
    """
    if url == "memory":
        return MemoryStore()
    if url.startswith(_REDIS):
        from rasa_chattigo.delivery._redis import RedisStore

        return RedisStore.from_url(url, namespace)
    if url.startswith(_SQL):
        from rasa_chattigo.delivery._sql import SqlStore
        from rasa_chattigo.delivery._sqlite import SqliteStore, sqlite_file

        path = sqlite_file(url)
        if path is None:
            return SqlStore(url, namespace)
        _check_folder(Path(path).parent)
        return SqliteStore(path, url, namespace)
    raise ConfigError("inbox_store", f"{safe_url(url)}: expected memory, sqlite, sqlite:///FILE, "
                      "postgresql://... or redis://...")


def _check_folder(folder: Path) -> None:
    """Makes the SQLite inbox's folder, or stops start-up naming `inbox_path`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("inbox_path", f"cannot create {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError("inbox_path", f"{folder} is not writable by this process")
