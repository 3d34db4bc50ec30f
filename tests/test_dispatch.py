"""The dispatcher: per-conversation order, parallel conversations, drain on shutdown."""

import asyncio

import pytest

from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import DispatcherClosed


async def test_jobs_of_one_conversation_run_in_submission_order():
    dispatcher, seen = Dispatcher(), []

    def job(n, delay):
        async def run():
            await asyncio.sleep(delay)
            seen.append(n)
        return run

    futures = [dispatcher.submit("u1", job(n, d)) for n, d in [(1, 0.03), (2, 0.0), (3, 0.01)]]
    await asyncio.gather(*futures)
    assert seen == [1, 2, 3]


async def test_different_conversations_run_in_parallel():
    dispatcher, started = Dispatcher(), asyncio.Event()
    both = []

    async def first():
        both.append("first-start")
        await started.wait()
        both.append("first-end")

    async def second():
        both.append("second")
        started.set()

    await asyncio.gather(dispatcher.submit("a", first), dispatcher.submit("b", second))
    assert both == ["first-start", "second", "first-end"]


async def test_a_failing_job_does_not_stop_the_queue():
    dispatcher, seen = Dispatcher(), []

    async def boom():
        raise RuntimeError("bot failed")

    async def ok():
        seen.append("ok")

    failed = dispatcher.submit("u", boom)
    await dispatcher.submit("u", ok)
    with pytest.raises(RuntimeError, match="bot failed"):
        await failed
    assert seen == ["ok"]


async def test_drain_finishes_acknowledged_work_and_refuses_new_work():
    dispatcher, seen = Dispatcher(), []

    async def slow():
        await asyncio.sleep(0.05)
        seen.append("done")

    dispatcher.submit("u", slow)
    assert await dispatcher.drain(grace_seconds=5) == 0
    assert seen == ["done"]
    with pytest.raises(DispatcherClosed):
        dispatcher.submit("u", slow)


async def test_drain_cancels_what_outlives_the_grace_period():
    dispatcher = Dispatcher()

    async def forever():
        await asyncio.sleep(3600)

    dispatcher.submit("u", forever)
    dispatcher.submit("u", forever)
    assert await dispatcher.drain(grace_seconds=0.05) == 2
    assert dispatcher.pending == 0
