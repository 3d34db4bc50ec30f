"""The inbox and outbox in Redis, shared by several instances: records, order and owners."""

import logging
from typing import Any, Iterable, List, Set

from rasa_chattigo.delivery._records import Record
from rasa_chattigo.errors import ConfigError, DeliveryUnavailable
from rasa_chattigo.settings import safe_url

logger = logging.getLogger(__name__)

# Keeps a record in one round trip: its JSON with a fresh seq, its place in the box's order
# and its owner. KEYS: seq counter, data hash, order zset, owner hash. ARGV: key, owner, json.
_PUT = """
local seq = redis.call('INCR', KEYS[1])
local record = cjson.decode(ARGV[3])
record['seq'] = seq
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(record))
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return seq
"""

# Gives ARGV[1] every record whose owner is among ARGV[2..]; returns their keys.
# KEYS: owner hash.
_REASSIGN = """
local dead = {}
for i = 2, #ARGV do dead[ARGV[i]] = true end
local taken = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if dead[all[i + 1]] then
    redis.call('HSET', KEYS[1], all[i], ARGV[1])
    table.insert(taken, all[i])
  end
end
return taken
"""


class RedisStore:
    """Records in Redis under `<namespace>:<box>:*`; leases are `<namespace>:alive:<owner>`.

    The same lease keys tell the Redis dedup store which claims belong to a live instance.

    Args:
        client: a `redis.asyncio.Redis`.
        namespace: key prefix, shared with the dedup store.
        label: the URL without its password, for errors and logs.
    """

    def __init__(self, client: Any, *, namespace: str = "rasa_chattigo", label: str = "redis"):
        from redis.exceptions import RedisError

        self.label = label
        self._client = client
        self._ns = namespace
        self._errors = (RedisError, OSError)
        self._put = client.register_script(_PUT)
        self._reassign = client.register_script(_REASSIGN)

    @classmethod
    def from_url(cls, url: str, namespace: str = "rasa_chattigo") -> "RedisStore":
        """Connects lazily to `url`, with 2 s timeouts (a dead Redis is a quick 503)."""
        try:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2.0,
                                                  socket_timeout=2.0, decode_responses=True)
        except (ImportError, ValueError) as exc:
            raise ConfigError("inbox_store", f"{safe_url(url)}: {type(exc).__name__}") from None
        return cls(client, namespace=namespace, label=safe_url(url))

    def _keys(self, box: str) -> List[str]:
        base = f"{self._ns}:{box}"
        return [f"{base}:seq", f"{base}:data", f"{base}:order", f"{base}:owner"]

    def alive_key(self, owner: str) -> str:
        """The key whose presence says `owner` is alive."""
        return f"{self._ns}:alive:{owner}"

    async def _call(self, doing: str, awaitable: Any) -> Any:
        try:
            return await awaitable
        except self._errors as exc:
            raise DeliveryUnavailable(self.label, f"cannot {doing}: {type(exc).__name__}") from None

    async def put(self, record: Record) -> None:
        """See `BoxStore.put`."""
        record.seq = int(await self._call("keep a message", self._put(
            keys=self._keys(record.box), args=[record.key, record.owner, record.to_json()])))

    async def save(self, record: Record) -> None:
        """See `BoxStore.save`."""
        _, data, _, owners = self._keys(record.box)
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(data, record.key, record.to_json())
        pipe.hset(owners, record.key, record.owner)
        await self._call("update a message", pipe.execute())

    async def remove(self, box: str, key: str) -> None:
        """See `BoxStore.remove`."""
        _, data, order, owners = self._keys(box)
        pipe = self._client.pipeline(transaction=True)
        pipe.hdel(data, key)
        pipe.zrem(order, key)
        pipe.hdel(owners, key)
        await self._call("remove a message", pipe.execute())

    async def records(self, box: str) -> List[Record]:
        """See `BoxStore.records`."""
        _, _data, order, _ = self._keys(box)
        keys = await self._call("read messages", self._client.zrange(order, 0, -1))
        return await self._load(box, keys)

    async def _load(self, box: str, keys: List[str]) -> List[Record]:
        if not keys:
            return []
        data, owners = self._keys(box)[1], self._keys(box)[3]
        texts = await self._call("read messages", self._client.hmget(data, keys))
        holders = await self._call("read messages", self._client.hmget(owners, keys))
        found = []
        for text, holder in zip(texts, holders):
            if text is not None:
                record = Record.from_json(text)
                record.owner = holder or ""
                found.append(record)
        return sorted(found, key=lambda r: r.seq)

    async def owners(self, box: str) -> Set[str]:
        """See `BoxStore.owners`."""
        return set(await self._call("read owners", self._client.hvals(self._keys(box)[3])))

    async def alive(self, owners: Iterable[str]) -> Set[str]:
        """See `BoxStore.alive`."""
        owners = [o for o in owners if o]
        if not owners:
            return set()
        pipe = self._client.pipeline(transaction=False)
        for owner in owners:
            pipe.exists(self.alive_key(owner))
        found = await self._call("read leases", pipe.execute())
        return {owner for owner, exists in zip(owners, found) if exists}

    async def reassign(self, box: str, dead: Iterable[str], owner: str) -> List[Record]:
        """See `BoxStore.reassign`."""
        dead = list(dead)
        if not dead:
            return []
        keys = await self._call("take over messages", self._reassign(
            keys=[self._keys(box)[3]], args=[owner, *dead]))
        return await self._load(box, list(keys))

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        """See `BoxStore.heartbeat`."""
        await self._call("renew the lease", self._client.set(
            self.alive_key(owner), "1", px=max(1, int(lease_seconds * 1000))))

    async def retire(self, owner: str) -> None:
        """See `BoxStore.retire`."""
        await self._call("end the lease", self._client.delete(self.alive_key(owner)))

    async def aclose(self) -> None:
        """Closes the client and its pool."""
        close = getattr(self._client, "aclose", None) or self._client.close
        await close(close_connection_pool=True)
