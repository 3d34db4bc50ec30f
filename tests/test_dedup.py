"""Tests of message-id dedup: the same behaviours against the memory store and a real Redis."""

import asyncio
import os
import socket
import uuid
from typing import Callable, List

import pytest
import redis

from rasa_chattigo.compat import redis_api
from rasa_chattigo.dedup import (
    ENTRY_OVERHEAD_BYTES,
    MemoryDedupStore,
    RedisDedupStore,
    create_dedup_store,
)
from rasa_chattigo.errors import ChattigoError, ConfigError, DedupUnavailable
from rasa_chattigo.settings import safe_url

from conftest import Clock

REDIS_URL = os.environ.get("RASA_CHATTIGO_TEST_REDIS", "redis://127.0.0.1:6379/0")
RUN_NAMESPACE = f"rasa_chattigo_test_{uuid.uuid4().hex[:12]}"
WAMID = "wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABIYFjNFQjA01AA=="
NOT_A_STORE = "must be 'memory' or a redis://, rediss:// or unix:// URL"


class Backend:
    """Builds stores of one kind and moves their time forward."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.clock = Clock()
        self.stores: List = []

    def make(self, *, ttl: float = 60.0, inflight_ttl: float = 30.0):
        if self.kind == "memory":
            store = MemoryDedupStore(ttl_seconds=ttl, inflight_ttl_seconds=inflight_ttl,
                                     clock=self.clock)
        else:
            store = RedisDedupStore.from_url(REDIS_URL, ttl_seconds=ttl,
                                             inflight_ttl_seconds=inflight_ttl,
                                             namespace=RUN_NAMESPACE)
        self.stores.append(store)
        return store

    async def advance(self, seconds: float) -> None:
        if self.kind == "memory":
            self.clock.now += seconds
        else:
            # Redis has no injectable clock; the TTLs used with it are a fraction of a second
            await asyncio.sleep(seconds)


@pytest.fixture(scope="session")
def redis_available() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({exc}); start redis-server to run")
    finally:
        client.close()
        client.connection_pool.disconnect()


async def delete_run_keys() -> None:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{RUN_NAMESPACE}:*")]
    if keys:
        await client.delete(*keys)
    await redis_api.close_client(client)


@pytest.fixture(params=["memory", "redis"])
async def backend(request):
    if request.param == "redis":
        request.getfixturevalue("redis_available")
    made = Backend(request.param)
    yield made
    for store in made.stores:
        await store.aclose()
    if request.param == "redis":
        await delete_run_keys()


@pytest.fixture
async def redis_backend(redis_available):
    made = Backend("redis")
    yield made
    for store in made.stores:
        await store.aclose()
    await delete_run_keys()


# --- behaviour shared by both stores -------------------------------------------------------


async def test_first_claim_wins(backend):
    assert await backend.make().claim(WAMID) is True


async def test_claim_while_in_flight_is_refused(backend):
    store = backend.make()
    await store.claim(WAMID)
    assert await store.claim(WAMID) is False


async def test_different_ids_are_independent(backend):
    store = backend.make()
    await store.claim(WAMID)
    assert await store.claim(WAMID + "x") is True


async def test_fifty_concurrent_claims_give_exactly_one_winner(backend):
    store = backend.make()
    results = await asyncio.gather(*[store.claim(WAMID) for _ in range(50)])
    assert results.count(True) == 1


async def test_claim_after_complete_is_refused(backend):
    store = backend.make()
    await store.claim(WAMID)
    await store.complete(WAMID)
    assert await store.claim(WAMID) is False


async def test_claim_after_release_is_granted(backend):
    store = backend.make()
    await store.claim(WAMID)
    await store.release(WAMID)
    assert await store.claim(WAMID) is True


async def test_release_after_complete_keeps_it_done(backend):
    store = backend.make()
    await store.claim(WAMID)
    await store.complete(WAMID)
    await store.release(WAMID)
    assert await store.claim(WAMID) is False


async def test_release_without_claim_is_harmless(backend):
    store = backend.make()
    await store.release(WAMID)
    assert await store.claim(WAMID) is True


async def test_done_id_is_forgotten_after_ttl(backend):
    store = backend.make(ttl=0.2)
    await store.claim(WAMID)
    await store.complete(WAMID)
    await backend.advance(0.3)
    assert await store.claim(WAMID) is True


async def test_stale_in_flight_claim_expires(backend):
    store = backend.make(inflight_ttl=0.2)
    await store.claim(WAMID)
    await backend.advance(0.3)
    assert await store.claim(WAMID) is True


async def test_complete_restarts_the_clock_with_the_done_ttl(backend):
    store = backend.make(ttl=1.0, inflight_ttl=0.2)
    await store.claim(WAMID)
    await store.complete(WAMID)
    await backend.advance(0.3)
    assert await store.claim(WAMID) is False


@pytest.mark.parametrize("key", ["", None])
async def test_empty_key_is_refused(backend, key):
    with pytest.raises(ValueError, match="dedup key must be a non-empty message id"):
        await backend.make().claim(key)


# --- memory store --------------------------------------------------------------------------


async def test_memory_store_purges_expired_ids():
    clock = Clock()
    store = MemoryDedupStore(ttl_seconds=10, clock=clock)
    for n in range(5):
        await store.claim(f"id{n}")
        await store.complete(f"id{n}")
    clock.now += 11
    await store.claim("fresh")
    assert len(store) == 1


async def test_memory_store_forgets_oldest_done_id_when_full():
    store = MemoryDedupStore(ttl_seconds=60, max_entries=2, clock=Clock())
    for key in ("a", "b"):
        await store.claim(key)
        await store.complete(key)
    await store.claim("c")
    assert [await store.claim(key) for key in ("b", "c", "a")] == [False, False, True]


async def test_memory_store_bounds_its_bytes_forgetting_the_oldest():
    cost = len("a" * 100) + ENTRY_OVERHEAD_BYTES
    store = MemoryDedupStore(ttl_seconds=60, max_bytes=3 * cost, clock=Clock())
    for letter in "abcd":
        assert await store.claim(letter * 100)
        await store.complete(letter * 100)
    assert (len(store), store.size_bytes) == (3, 3 * cost)
    assert await store.claim("a" * 100)  # the oldest was forgotten
    assert not await store.claim("d" * 100)


async def test_memory_store_counts_no_bytes_once_everything_expired():
    clock = Clock()
    store = MemoryDedupStore(ttl_seconds=10, inflight_ttl_seconds=5, clock=clock)
    await store.claim("x" * 1000)
    await store.complete("x" * 1000)
    await store.claim("y")
    await store.release("y")
    clock.now += 11
    await store.claim("z")
    assert store.size_bytes == len("z") + ENTRY_OVERHEAD_BYTES


async def test_memory_stores_are_per_process():
    first = MemoryDedupStore(ttl_seconds=60)
    await first.claim(WAMID)
    assert await MemoryDedupStore(ttl_seconds=60).claim(WAMID) is True


# --- Redis: several instances --------------------------------------------------------------


async def test_two_instances_see_each_others_claims(redis_backend):
    first, second = redis_backend.make(), redis_backend.make()
    await first.claim(WAMID)
    assert await second.claim(WAMID) is False


async def test_two_instances_see_each_others_completions(redis_backend):
    first, second = redis_backend.make(), redis_backend.make()
    await first.claim(WAMID)
    await first.complete(WAMID)
    assert await second.claim(WAMID) is False


async def test_concurrent_claims_across_instances_give_one_winner(redis_backend):
    stores = [redis_backend.make() for _ in range(5)]
    results = await asyncio.gather(*[stores[n % 5].claim(WAMID) for n in range(50)])
    assert results.count(True) == 1


async def test_instance_cannot_release_another_instances_claim(redis_backend):
    first, second = redis_backend.make(), redis_backend.make()
    await first.claim(WAMID)
    await second.release(WAMID)
    assert await second.claim(WAMID) is False


async def test_late_release_does_not_delete_a_newer_claim(redis_backend):
    slow, other = redis_backend.make(inflight_ttl=0.2), redis_backend.make()
    await slow.claim(WAMID)
    await redis_backend.advance(0.3)
    await other.claim(WAMID)
    await slow.release(WAMID)
    assert await slow.claim(WAMID) is False


async def test_redis_keys_are_namespaced(redis_backend):
    await redis_backend.make().claim(WAMID)
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    value = await client.get(f"{RUN_NAMESPACE}:dedup:{WAMID}")
    await redis_api.close_client(client)
    assert value.startswith("inflight|")


async def test_redis_done_value_carries_the_ttl(redis_backend):
    store = redis_backend.make(ttl=60)
    await store.claim(WAMID)
    await store.complete(WAMID)
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    key = f"{RUN_NAMESPACE}:dedup:{WAMID}"
    value, ttl_ms = await client.get(key), await client.pttl(key)
    await redis_api.close_client(client)
    assert value == "done" and 59_000 < ttl_ms <= 60_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("call", [lambda s: s.claim(WAMID), lambda s: s.complete(WAMID)],
                         ids=["claim", "complete"])
async def test_unreachable_redis_raises_dedup_unavailable(call: Callable):
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    store = RedisDedupStore.from_url(url, ttl_seconds=60)
    with pytest.raises(DedupUnavailable) as caught:
        await call(store)
    await store.aclose()
    assert isinstance(caught.value, ChattigoError)
    assert "hunter2" not in str(caught.value)
    assert caught.value.store == url.replace(":hunter2-secret@", "")


# --- factory -------------------------------------------------------------------------------


async def test_factory_builds_memory_store():
    assert isinstance(create_dedup_store("memory", ttl_seconds=60), MemoryDedupStore)


async def test_factory_builds_redis_store():
    store = create_dedup_store("redis://127.0.0.1:6379/0", ttl_seconds=60)
    await store.aclose()
    assert isinstance(store, RedisDedupStore)


@pytest.mark.parametrize(
    ("url", "ttl", "key", "problem"),
    [
        ("mysql://x", 60, "dedup_store", NOT_A_STORE),
        ("", 60, "dedup_store", NOT_A_STORE),
        ("memory", 0, "dedup_ttl_seconds", "must be a positive number of seconds"),
        ("redis://localhost", -1, "dedup_ttl_seconds", "must be a positive number of seconds"),
    ],
)
def test_factory_refuses_bad_settings(url, ttl, key, problem):
    with pytest.raises(ConfigError) as caught:
        create_dedup_store(url, ttl_seconds=ttl)
    assert (caught.value.key, caught.value.problem) == (key, problem)


def test_factory_names_a_bad_redis_url_without_its_password():
    with pytest.raises(ConfigError) as caught:
        create_dedup_store("redis://:pw-secret@localhost:notaport/0", ttl_seconds=60)
    assert caught.value.key == "dedup_store" and "pw-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("redis://:pw@h:6379/0", "redis://h:6379/0"),
        ("rediss://user:pw@h/2?password=pw", "rediss://h/2"),
        ("redis://h", "redis://h"),
        ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock"),
    ],
)
def test_safe_url_drops_credentials(url, safe):
    assert safe_url(url) == safe
