"""Short-lived notes the channel keeps for a while: in memory, or in the `dedup_store` Redis."""

import time
from collections import OrderedDict
from typing import Callable, Optional, Protocol, Tuple

from rasa_chattigo.errors import ConfigError, DedupUnavailable
from rasa_chattigo.settings import ChattigoSettings, safe_url


class Notes(Protocol):
    """Text values by key, each forgotten `ttl_seconds` after it was written."""

    async def put(self, key: str, value: str) -> None:
        """Writes `value` under `key`."""

    async def get(self, key: str) -> Optional[str]:
        """The value under `key`, or None."""

    async def drop(self, key: str) -> None:
        """Forgets `key`."""

    async def aclose(self) -> None:
        """Releases connections."""


class MemoryNotes:
    """Notes of this process only (one instance serves the numbers)."""

    def __init__(self, ttl_seconds: float, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._notes: OrderedDict[str, Tuple[str, float]] = OrderedDict()

    async def put(self, key: str, value: str) -> None:
        """See `Notes.put`."""
        self._notes.pop(key, None)
        self._notes[key] = (value, self._clock() + self._ttl)
        while len(self._notes) > self._max_entries or (
                self._notes and next(iter(self._notes.values()))[1] <= self._clock()):
            self._notes.popitem(last=False)

    async def get(self, key: str) -> Optional[str]:
        """See `Notes.get`."""
        found = self._notes.get(key)
        return found[0] if found and found[1] > self._clock() else None

    async def drop(self, key: str) -> None:
        """See `Notes.drop`."""
        self._notes.pop(key, None)

    async def aclose(self) -> None:
        """Forgets everything."""
        self._notes.clear()


class RedisNotes:
    """Notes every instance shares, in Redis; errors raise `DedupUnavailable` (answer 503)."""

    def __init__(self, url: str, ttl_seconds: float, kind: str,
                 namespace: str = "rasa_chattigo") -> None:
        import redis.asyncio
        from redis.exceptions import RedisError

        self._client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2.0,
                                                    socket_timeout=2.0)
        self._label = safe_url(url)
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._prefix = f"{namespace}:{kind}:"
        self._errors = (RedisError, OSError)

    async def put(self, key: str, value: str) -> None:
        """See `Notes.put`."""
        try:
            await self._client.set(self._prefix + key, value, px=self._ttl_ms)
        except self._errors as exc:
            raise DedupUnavailable(self._label, type(exc).__name__) from None

    async def get(self, key: str) -> Optional[str]:
        """See `Notes.get`."""
        try:
            value = await self._client.get(self._prefix + key)
        except self._errors as exc:
            raise DedupUnavailable(self._label, type(exc).__name__) from None
        return value.decode("utf-8") if isinstance(value, bytes) else value

    async def drop(self, key: str) -> None:
        """See `Notes.drop`."""
        try:
            await self._client.delete(self._prefix + key)
        except self._errors as exc:
            raise DedupUnavailable(self._label, type(exc).__name__) from None

    async def aclose(self) -> None:
        """Closes the client."""
        close = getattr(self._client, "aclose", None) or self._client.close
        await close(close_connection_pool=True)


def notes_from_settings(settings: ChattigoSettings, kind: str, ttl_seconds: float) -> Notes:
    """Memory for one instance; the `dedup_store` Redis when several share it.

    Raises:
        ConfigError: naming `dedup_store` when its URL is unusable.
    """
    if settings.dedup_store == "memory":
        return MemoryNotes(ttl_seconds, settings.dedup_max_entries)
    try:
        return RedisNotes(settings.dedup_store, ttl_seconds, kind, settings.store_namespace)
    except ValueError as exc:
        raise ConfigError("dedup_store", f"bad Redis URL: {exc}") from None
