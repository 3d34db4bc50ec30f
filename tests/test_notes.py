"""The channel's short-lived notes (sent ids, pauses): in memory, and in a real Redis."""

import uuid

import pytest

from rasa_chattigo.errors import DedupUnavailable
from rasa_chattigo.notes import MemoryNotes, RedisNotes

from conftest import Clock, free_port, requires_redis


async def test_memory_notes_are_forgotten_after_their_ttl():
    clock = Clock()
    notes = MemoryNotes(60, clock=clock)
    await notes.put("a", "1")
    clock.now += 59
    assert await notes.get("a") == "1"
    clock.now += 1
    assert await notes.get("a") is None


async def test_memory_notes_keep_at_most_max_entries_the_oldest_go_first():
    notes = MemoryNotes(60, max_entries=2, clock=Clock())
    for key in "abc":
        await notes.put(key, key)
    assert [await notes.get(k) for k in "abc"] == [None, "b", "c"]


@requires_redis
async def test_redis_notes_are_shared_and_dropped():
    kind = f"test{uuid.uuid4().hex[:8]}"
    first = RedisNotes("redis://127.0.0.1:6379/3", 60, kind)
    second = RedisNotes("redis://127.0.0.1:6379/3", 60, kind)
    try:
        await first.put("549:1", "5492644472542")
        assert await second.get("549:1") == "5492644472542"
        await second.drop("549:1")
        assert await first.get("549:1") is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_redis_is_unavailable_naming_no_password():
    notes = RedisNotes(f"redis://:s3cret@127.0.0.1:{free_port()}/0", 60, "sent")
    try:
        with pytest.raises(DedupUnavailable) as caught:
            await notes.get("x")
        assert "s3cret" not in str(caught.value)
    finally:
        await notes.aclose()


@requires_redis
async def test_two_bots_sharing_one_redis_keep_their_notes_apart_by_store_namespace():
    from rasa_chattigo.notes import notes_from_settings
    from rasa_chattigo.settings import parse_settings

    from conftest import channel_settings

    def notes_of(namespace: str) -> RedisNotes:
        settings = parse_settings(channel_settings(dedup_store="REDIS://127.0.0.1:6379/3",
                                                   store_namespace=namespace))
        notes = notes_from_settings(settings, "sent", 60)
        assert isinstance(notes, RedisNotes)
        return notes

    suffix = uuid.uuid4().hex[:8]
    ventas, soporte = notes_of(f"ventas{suffix}"), notes_of(f"soporte{suffix}")
    try:
        await ventas.put("549:1", "ventas")
        assert await soporte.get("549:1") is None
        await soporte.put("549:1", "soporte")
        assert (await ventas.get("549:1"), await soporte.get("549:1")) == ("ventas", "soporte")
    finally:
        await ventas.aclose()
        await soporte.aclose()
