"""Dedup claims in Redis that know their owner, so no claim can strand a message."""

import logging
import time
from typing import Any, Dict, Optional, Set

from rasa_chattigo.compat import redis_api
from rasa_chattigo.delivery._owner import locally_dead, new_owner_id
from rasa_chattigo.errors import ConfigError, DedupUnavailable
from rasa_chattigo.logsafe import shown
from rasa_chattigo.settings import safe_url

logger = logging.getLogger(__name__)

DEFAULT_INFLIGHT_TTL_SECONDS = 600.0

# Deletes the claim only if it still holds the value this store wrote, so an instance
# never releases a claim another instance made after ours expired.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# A claim is `inflight|<owner>`. It is refused while done, or while another instance whose
# lease key exists holds it. A claim of a dead owner is taken over, and so is one of ours: this
# instance calls Redis only for keys it is not handling, so a claim of ours in Redis is one whose
# answer was lost. Claiming renews our own lease.
# ARGV: our value, ttl ms, our owner, lease prefix, lease ms.
_CLAIM_SCRIPT = """
redis.call('SET', ARGV[4] .. ARGV[3], '1', 'PX', ARGV[5])
local v = redis.call('GET', KEYS[1])
if v == 'done' then return 'done' end
if v then
  local holder = string.sub(v, 10)
  if holder ~= ARGV[3] and redis.call('EXISTS', ARGV[4] .. holder) == 1 then
    return v
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'won'
"""

# Replaces a claim only if it still holds the value seen (a dead holder's), atomically.
_SEIZE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class RedisDedupStore:
    """A dedup store shared by several Rasa instances serving one number.

    A claim is `SET <ns>:dedup:<key> inflight|<owner>`, made only when the key is free or its
    holder cannot be handling it any more: another instance whose lease key
    (`<ns>:alive:<owner>`, renewed by `heartbeat`) is gone or whose process on this host is
    dead, or this instance when it is not handling the key (a claim whose answer was lost).
    Completing overwrites it with `done` for `ttl_seconds`; releasing deletes it only while it
    still holds this claim. Redis errors raise `DedupUnavailable`.

    Args:
        client: a `redis.asyncio.Redis`.
        ttl_seconds: how long a done id is remembered.
        inflight_ttl_seconds: how long an unfinished claim blocks redeliveries at most.
        namespace: key prefix, so several bots can share one Redis.
        label: how the store is named in errors and logs (never holds a password).
        owns_client: close the client in `aclose`.
        owner: this instance's owner id (see `delivery`); a fresh one by default.
        lease_seconds: how long this instance counts as alive after its last claim or
            heartbeat (`delivery_lease_seconds`).
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
        owner: Optional[str] = None,
        lease_seconds: float = 30.0,
    ) -> None:
        from redis.exceptions import RedisError

        check_ttls(ttl_seconds, inflight_ttl_seconds)
        self.owner = owner or new_owner_id()
        self._client = client
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._inflight_ms = max(1, int(inflight_ttl_seconds * 1000))
        self._prefix = f"{namespace}:dedup:"
        self._alive_prefix = f"{namespace}:alive:"
        self._value = f"inflight|{self.owner}"
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._label = label
        self._owns_client = owns_client
        self._errors = (RedisError, OSError)
        self._release_script = client.register_script(_RELEASE_SCRIPT)
        self._claim_script = client.register_script(_CLAIM_SCRIPT)
        self._seize_script = client.register_script(_SEIZE_SCRIPT)
        self._claims: Dict[str, float] = {}  # key -> when its Redis claim expires
        self._claiming: Set[str] = set()

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
        """See `DedupStore.claim`; an answer lost after Redis applied the claim is checked."""
        check_key(key)
        if self._held(key) or key in self._claiming:
            logger.debug("Message %s being handled here", shown(key))
            return False  # claimed, or being claimed, by this instance: one Redis call per key
        self._claiming.add(key)
        try:
            answer = await self._claim(key)
        finally:
            self._claiming.discard(key)
        if answer != "won":
            logger.debug("Message %s %s", shown(key), "handled already" if answer == "done"
                         else f"being handled by {answer[9:]}")
            return False
        self._claims[key] = time.monotonic() + self._inflight_ms / 1000
        return True

    def _held(self, key: str) -> bool:
        # Held here until completed or released, or until Redis has let the claim expire.
        deadline = self._claims.get(key)
        return deadline is not None and deadline > time.monotonic()

    async def _claim(self, key: str) -> str:
        try:
            answer = await self._run_claim_script(key)
        except self._errors as exc:
            answer = await self._check_lost_answer(key, exc)
        if answer.startswith("inflight|") and locally_dead(answer[9:]):
            answer = await self._seize(key, answer)
        return answer

    async def _run_claim_script(self, key: str) -> str:
        args = [self._value, self._inflight_ms, self.owner, self._alive_prefix, self._lease_ms]
        return _text(await self._claim_script(keys=[self.key(key)], args=args))

    async def _check_lost_answer(self, key: str, exc: BaseException) -> str:
        # The claim may have been applied with only its answer lost: read what Redis holds.
        # Nothing there means it never ran (Redis's NOSCRIPT answer to a script it had not
        # loaded yet is lost the same way): claim again, or the message would be acked unread.
        try:
            value = _text(await self._client.get(self.key(key)))
            if not value:
                value = await self._run_claim_script(key)
        except self._errors:
            raise self._unavailable(exc) from None
        return "won" if value in ("won", self._value) else value

    async def _seize(self, key: str, seen: str) -> str:
        try:
            taken = await self._seize_script(keys=[self.key(key)],
                                             args=[seen, self._value, self._inflight_ms])
        except self._errors as exc:
            raise self._unavailable(exc) from None
        return "won" if taken else seen

    async def complete(self, key: str) -> None:
        """See `DedupStore.complete`."""
        check_key(key)
        try:  # still held until Redis says done: a redelivery meanwhile must see "busy"
            await self._client.set(self.key(key), "done", px=self._ttl_ms)
        except self._errors as exc:
            raise self._unavailable(exc) from None
        finally:
            self._claims.pop(key, None)

    async def release(self, key: str) -> None:
        """See `DedupStore.release`; only a claim this store made and still holds is deleted."""
        check_key(key)
        if key not in self._claims:
            return
        try:
            await self._release_script(keys=[self.key(key)], args=[self._value])
        except self._errors as exc:
            raise self._unavailable(exc) from None
        finally:
            self._claims.pop(key, None)

    async def state(self, key: str) -> str:
        """See `DedupStore.state`."""
        try:
            value = _text(await self._client.get(self.key(key)))
        except self._errors as exc:
            raise self._unavailable(exc) from None
        return "done" if value == "done" else "busy" if value else "free"

    async def heartbeat(self) -> None:
        """Renews this instance's lease: its claims are not taken over while it lasts."""
        try:
            await self._client.set(self._alive_prefix + self.owner, "1", px=self._lease_ms)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    async def retire(self) -> None:
        """Ends the lease at a clean stop, after unfinished claims were released."""
        try:
            await self._client.delete(self._alive_prefix + self.owner)
        except self._errors as exc:
            raise self._unavailable(exc) from None

    async def aclose(self) -> None:
        """Closes the client if this store created it."""
        if self._owns_client:
            await redis_api.close_client(self._client)

    def _unavailable(self, exc: BaseException) -> DedupUnavailable:
        logger.warning("Dedup store %s unavailable: %s", self._label, type(exc).__name__)
        return DedupUnavailable(self._label, f"{type(exc).__name__}: {exc}")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def check_ttls(ttl_seconds: float, inflight_ttl_seconds: float) -> None:
    if not ttl_seconds > 0:
        raise ConfigError("dedup_ttl_seconds", "must be a positive number of seconds")
    if not inflight_ttl_seconds > 0:
        raise ConfigError("dedup_inflight_ttl_seconds", "must be a positive number of seconds")


def check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("dedup key must be a non-empty message id")
