"""At-most-once processing of webhook message ids: claims kept in memory or in Redis for a TTL."""

import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Dict, Protocol

from rasa_chattigo.compat import redis_api
from rasa_chattigo.errors import ConfigError, DedupUnavailable
from rasa_chattigo.settings import ChattigoSettings, safe_url

logger = logging.getLogger(__name__)

DEFAULT_INFLIGHT_TTL_SECONDS = 600.0
DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: What one remembered id costs besides its characters: the dict slot, the float, the str header.
ENTRY_OVERHEAD_BYTES = 120

# Deletes the claim only if it still holds the value this store wrote, so an instance
# never releases a claim another instance made after ours expired.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


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
        _check_ttls(ttl_seconds, inflight_ttl_seconds)
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
        _check_key(key)
        self._purge()
        if key in self._inflight or key in self._done:
            return False
        self._put(self._inflight, key, self._clock() + self._inflight_ttl)
        return True

    async def complete(self, key: str) -> None:
        """See `DedupStore.complete`."""
        _check_key(key)
        self._purge()
        self._drop(self._inflight, key)
        self._drop(self._done, key)
        self._put(self._done, key, self._clock() + self._ttl)

    async def release(self, key: str) -> None:
        """See `DedupStore.release`; a done id stays done."""
        _check_key(key)
        self._drop(self._inflight, key)

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


class RedisDedupStore:
    """A dedup store shared by several Rasa instances serving one number.

    A claim is `SET <ns>:dedup:<key> inflight:<random> NX PX <inflight ttl>`; completing
    overwrites it with `done` for `ttl_seconds`; releasing deletes it only while it still
    holds this claim's random value. Redis errors raise `DedupUnavailable`.

    Args:
        client: a `redis.asyncio.Redis`.
        ttl_seconds: how long a done id is remembered.
        inflight_ttl_seconds: how long an unfinished claim blocks redeliveries.
        namespace: key prefix, so several bots can share one Redis.
        label: how the store is named in errors and logs (never holds a password).
        owns_client: close the client in `aclose`.
    """

    def __init__(
        self,
        client: Any,
        *,
        ttl_seconds: float,
        inflight_ttl_seconds: float = DEFAULT_INFLIGHT_TTL_SECONDS,
        namespace: str = "rasa_chattigo",
        label: str = "redis",
        owns_client: bool = False,
    ) -> None:
        from redis.exceptions import RedisError

        _check_ttls(ttl_seconds, inflight_ttl_seconds)
        self._client = client
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._inflight_ms = max(1, int(inflight_ttl_seconds * 1000))
        self._prefix = f"{namespace}:dedup:"
        self._label = label
        self._owns_client = owns_client
        self._errors = (RedisError, OSError)
        self._release_script = client.register_script(_RELEASE_SCRIPT)
        self._claims: Dict[str, str] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "RedisDedupStore":
        """Connects lazily to `redis://`, `rediss://` or `unix://` `url`; see `__init__` for kwargs.

        Timeouts default to 2 s so a dead Redis turns into a quick 503, not a hung webhook;
        `?socket_timeout=` in the URL overrides them.
        """
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
        return cls(client, label=safe_url(url), owns_client=True, **kwargs)

    def key(self, key: str) -> str:
        """The Redis key holding `key`'s claim."""
        return self._prefix + key

    async def claim(self, key: str) -> bool:
        """See `DedupStore.claim`."""
        _check_key(key)
        value = f"inflight:{uuid.uuid4().hex}"
        try:
            won = await self._client.set(self.key(key), value, nx=True, px=self._inflight_ms)
        except self._errors as exc:
            raise self._unavailable(exc) from None
        if won:
            self._claims[key] = value
        return bool(won)

    async def complete(self, key: str) -> None:
        """See `DedupStore.complete`."""
        _check_key(key)
        self._claims.pop(key, None)
        try:
            await self._client.set(self.key(key), "done", px=self._ttl_ms)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    async def release(self, key: str) -> None:
        """See `DedupStore.release`; only a claim this store made and still holds is deleted."""
        _check_key(key)
        value = self._claims.pop(key, None)
        if value is None:
            return
        try:
            await self._release_script(keys=[self.key(key)], args=[value])
        except self._errors as exc:
            raise self._unavailable(exc) from None

    async def aclose(self) -> None:
        """Closes the client if this store created it."""
        if self._owns_client:
            await redis_api.close_client(self._client)

    def _unavailable(self, exc: BaseException) -> DedupUnavailable:
        logger.warning("Dedup store %s unavailable: %s", self._label, type(exc).__name__)
        return DedupUnavailable(self._label, f"{type(exc).__name__}: {exc}")


def create_dedup_store(
    url: str,
    *,
    ttl_seconds: float,
    namespace: str = "rasa_chattigo",
    inflight_ttl_seconds: float = DEFAULT_INFLIGHT_TTL_SECONDS,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DedupStore:
    """Builds the store named by the `dedup_store` setting.

    Args:
        url: `memory`, or `redis://[[user]:password@]host[:port][/db]`, `rediss://...`, `unix://...`.
        ttl_seconds: the `dedup_ttl_seconds` setting.
        namespace: Redis key prefix.
        inflight_ttl_seconds: how long an unfinished claim blocks redeliveries.
        max_entries: bound on the memory store's ids.
        max_bytes: bound on the memory store's bytes.

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
    if not text.lower().startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("dedup_store", "must be 'memory' or a redis://, rediss:// or unix:// URL")
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigError("dedup_store", "a Redis URL needs the 'redis' package") from None
    try:
        return RedisDedupStore.from_url(
            text,
            ttl_seconds=ttl_seconds,
            inflight_ttl_seconds=inflight_ttl_seconds,
            namespace=namespace,
        )
    except ValueError as exc:
        raise ConfigError("dedup_store", f"bad Redis URL {safe_url(text)}: {exc}") from None


def _check_ttls(ttl_seconds: float, inflight_ttl_seconds: float) -> None:
    if not ttl_seconds > 0:
        raise ConfigError("dedup_ttl_seconds", "must be a positive number of seconds")
    if not inflight_ttl_seconds > 0:
        raise ConfigError("dedup_inflight_ttl_seconds", "must be a positive number of seconds")


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("dedup key must be a non-empty message id")


def dedup_store_from_settings(settings: ChattigoSettings) -> DedupStore:
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
    )
