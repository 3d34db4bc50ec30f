"""The dispatcher: per-conversation order, parallel conversations, drain on shutdown."""

import asyncio

import pytest

from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import DispatcherClosed
from rasa_chattigo.pacing import StartGate


@pytest.fixture(params=["every job at once", "adaptive start"])
def new_dispatcher(request):
    """Each behaviour holds with and without the adaptive start gate."""
    if request.param == "adaptive start":
        return lambda: Dispatcher(StartGate(0.010))
    return Dispatcher


async def test_jobs_of_one_conversation_run_in_submission_order(new_dispatcher):
    dispatcher, seen = new_dispatcher(), []

    def job(n, delay):
        async def run():
            await asyncio.sleep(delay)
            seen.append(n)
        return run

    futures = [dispatcher.submit("u1", job(n, d)) for n, d in [(1, 0.03), (2, 0.0), (3, 0.01)]]
    await asyncio.gather(*futures)
    assert seen == [1, 2, 3]


async def test_different_conversations_run_in_parallel(new_dispatcher):
    dispatcher, started = new_dispatcher(), asyncio.Event()
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


async def test_a_failing_job_does_not_stop_the_queue(new_dispatcher):
    dispatcher, seen = new_dispatcher(), []

    async def boom():
        raise RuntimeError("bot failed")

    async def ok():
        seen.append("ok")

    failed = dispatcher.submit("u", boom)
    await dispatcher.submit("u", ok)
    with pytest.raises(RuntimeError, match="bot failed"):
        await failed
    assert seen == ["ok"]


async def test_drain_finishes_acknowledged_work_and_refuses_new_work(new_dispatcher):
    dispatcher, seen = new_dispatcher(), []

    async def slow():
        await asyncio.sleep(0.05)
        seen.append("done")

    dispatcher.submit("u", slow)
    assert await dispatcher.drain(grace_seconds=5) == 0
    assert seen == ["done"]
    with pytest.raises(DispatcherClosed):
        dispatcher.submit("u", slow)


async def test_drain_cancels_what_outlives_the_grace_period(new_dispatcher):
    dispatcher = new_dispatcher()

    async def forever():
        await asyncio.sleep(3600)

    dispatcher.submit("u", forever)
    dispatcher.submit("u", forever)
    assert await dispatcher.drain(grace_seconds=0.05) == 2
    assert dispatcher.pending == 0
