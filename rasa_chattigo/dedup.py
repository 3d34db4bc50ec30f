"""At-most-once processing of webhook message ids: claims kept in memory or in Redis for a TTL."""

import logging
import time
from collections import OrderedDict
from typing import Callable, Optional, Protocol

from rasa_chattigo.delivery._redis_claims import (
    DEFAULT_INFLIGHT_TTL_SECONDS,
    RedisDedupStore,
    check_key,
    check_ttls,
)
from rasa_chattigo.errors import ConfigError
from rasa_chattigo.settings import ChattigoSettings, safe_url

logger = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: What one remembered id costs besides its characters: the dict slot, the float, the str header.
ENTRY_OVERHEAD_BYTES = 120

__all__ = ["DedupStore", "MemoryDedupStore", "RedisDedupStore", "create_dedup_store",
           "dedup_store_from_settings"]


class DedupStore(Protocol):
    """Remembers which message ids are being or have been processed.

    Use: `if await store.claim(wamid):` process, then `complete(wamid)`; on failure
    `release(wamid)` so a redelivery may process it again.
    """

    async def claim(self, key: str) -> bool:
        """Atomically claims `key`: True for the first caller, False while in flight or done."""

    async def complete(self, key: str) -> None:
        """Marks `key` done; claims stay refused for the store's TTL."""

    async def release(self, key: str) -> None:
        """Gives up this store's in-flight claim on `key` (processing failed)."""

    async def state(self, key: str) -> str:
        """`done`, `busy` (claimed, not done) or `free`."""

    async def aclose(self) -> None:
        """Releases connections; the store is unusable afterwards."""


class MemoryDedupStore:
    """A per-process dedup store: one Rasa instance per WhatsApp number.

    Entries expire after `ttl_seconds` once done, or `inflight_ttl_seconds` while in flight
    (so a crashed task does not block a message forever). Both TTLs are fixed, so insertion
    order is expiry order and purging pops expired entries off the front: no scans.

    Args:
        ttl_seconds: how long a done id is remembered.
        inflight_ttl_seconds: how long an unfinished claim blocks redeliveries.
        max_entries: bound on remembered ids; the oldest are forgotten first when full.
        max_bytes: bound on the memory the ids take (their UTF-8 bytes plus
            `ENTRY_OVERHEAD_BYTES` each); the oldest are forgotten first when full.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float,
        inflight_ttl_seconds: float = DEFAULT_INFLIGHT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_ttls(ttl_seconds, inflight_ttl_seconds)
        if max_entries < 1:
            raise ConfigError("dedup_max_entries", "must be at least 1")
        if max_bytes < 1:
            raise ConfigError("dedup_max_bytes", "must be at least 1")
        self._max_bytes = max_bytes
        self._bytes = 0
        self._ttl = ttl_seconds
        self._inflight_ttl = inflight_ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._inflight: OrderedDict[str, float] = OrderedDict()
        self._done: OrderedDict[str, float] = OrderedDict()
        self._warned_full = False

    def __len__(self) -> int:
        return len(self._inflight) + len(self._done)

    async def claim(self, key: str) -> bool:
        """See `DedupStore.claim`; atomic because it never awaits."""
        check_key(key)
        self._purge()
        if key in self._inflight or key in self._done:
            return False
        self._put(self._inflight, key, self._clock() + self._inflight_ttl)
        return True

    async def complete(self, key: str) -> None:
        """See `DedupStore.complete`."""
        check_key(key)
        self._purge()
        self._drop(self._inflight, key)
        self._drop(self._done, key)
        self._put(self._done, key, self._clock() + self._ttl)

    async def release(self, key: str) -> None:
        """See `DedupStore.release`; a done id stays done."""
        check_key(key)
        self._drop(self._inflight, key)

    async def state(self, key: str) -> str:
        """See `DedupStore.state`."""
        self._purge()
        return "done" if key in self._done else "busy" if key in self._inflight else "free"

    async def aclose(self) -> None:
        """Forgets everything."""
        self._inflight.clear()
        self._done.clear()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """What the remembered ids take, as `max_bytes` counts it."""
        return self._bytes

    def _put(self, entries: "OrderedDict[str, float]", key: str, expiry: float) -> None:
        self._make_room(_cost(key))
        entries[key] = expiry
        self._bytes += _cost(key)

    def _drop(self, entries: "OrderedDict[str, float]", key: str) -> None:
        if entries.pop(key, None) is not None:
            self._bytes -= _cost(key)

    def _purge(self) -> None:
        now = self._clock()
        for entries in (self._inflight, self._done):
            while entries and next(iter(entries.values())) <= now:
                self._bytes -= _cost(entries.popitem(last=False)[0])

    def _make_room(self, needed: int) -> None:
        while len(self) >= self._max_entries or (len(self) and
                                                 self._bytes + needed > self._max_bytes):
            if not self._warned_full:
                logger.warning(
                    "Dedup memory store full (%d ids, %d bytes); forgetting the oldest. "
                    "Raise dedup_max_entries / dedup_max_bytes or use dedup_store: redis://...",
                    len(self), self._bytes,
                )
                self._warned_full = True
            oldest, _ = (self._done or self._inflight).popitem(last=False)
            self._bytes -= _cost(oldest)


def _cost(key: str) -> int:
    return len(key.encode("utf-8", "replace")) + ENTRY_OVERHEAD_BYTES


def create_dedup_store(
    url: str,
    *,
    ttl_seconds: float,
    namespace: str = "rasa_chattigo",
    inflight_ttl_seconds: float = DEFAULT_INFLIGHT_TTL_SECONDS,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    owner: Optional[str] = None,
    lease_seconds: float = 30.0,
) -> DedupStore:
    """Builds the store named by the `dedup_store` setting.

    Args:
        url: `memory`, or `redis://[[user]:password@]host[:port][/db]`, `rediss://...`, `unix://...`.
        ttl_seconds: the `dedup_ttl_seconds` setting.
        namespace: Redis key prefix.
        inflight_ttl_seconds: how long an unfinished claim blocks redeliveries.
        max_entries: bound on the memory store's ids.
        max_bytes: bound on the memory store's bytes.
        owner: this instance's owner id, which Redis claims carry.
        lease_seconds: how long a silent instance's Redis claims stay its own.

    Raises:
        ConfigError: naming `dedup_store` or `dedup_ttl_seconds`.
    """
    text = (url or "").strip()
    if text.lower() == "memory":
        return MemoryDedupStore(
            ttl_seconds=ttl_seconds,
            inflight_ttl_seconds=inflight_ttl_seconds,
            max_entries=max_entries,
            max_bytes=max_bytes,
        )
    return _redis_store(text, ttl_seconds, inflight_ttl_seconds, namespace, owner, lease_seconds)


def _redis_store(
    url: str,
    ttl_seconds: float,
    inflight_ttl_seconds: float,
    namespace: str,
    owner: Optional[str],
    lease_seconds: float,
) -> RedisDedupStore:
    """The Redis store at `url`; a ConfigError naming `dedup_store` when it cannot be one."""
    if not url.lower().startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("dedup_store", "must be 'memory' or a redis://, rediss:// or unix:// URL")
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigError("dedup_store", "a Redis URL needs the 'redis' package") from None
    try:
        return RedisDedupStore.from_url(
            url,
            ttl_seconds=ttl_seconds,
            inflight_ttl_seconds=inflight_ttl_seconds,
            namespace=namespace,
            owner=owner,
            lease_seconds=lease_seconds,
        )
    except ValueError as exc:
        raise ConfigError("dedup_store", f"bad Redis URL {safe_url(url)}: {exc}") from None


def dedup_store_from_settings(
    settings: ChattigoSettings, owner: Optional[str] = None
) -> DedupStore:
    """The store the `dedup_*` settings describe.

    Raises:
        ConfigError: naming `dedup_store` when it names no usable store.
    """
    return create_dedup_store(
        settings.dedup_store,
        ttl_seconds=settings.dedup_ttl_seconds,
        inflight_ttl_seconds=settings.dedup_inflight_ttl_seconds,
        max_entries=settings.dedup_max_entries,
        max_bytes=settings.dedup_max_bytes,
        owner=owner,
        lease_seconds=settings.delivery_lease_seconds,
        namespace=settings.store_namespace,
    )
