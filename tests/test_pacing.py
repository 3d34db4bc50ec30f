"""Adaptive start: the loop-lag monitor and the gate that starts jobs while the loop keeps up."""

import asyncio
import time

import pytest

from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import ConfigError
from rasa_chattigo.pacing import LagMonitor, StartGate, start_gate
from rasa_chattigo.settings import parse_settings

TARGET = 0.010


class StepMonitor:
    """A lag monitor the test drives: each `sample(lag)` is one probe."""

    def __init__(self, on_sample):
        self._on_sample = on_sample
        self.lag = 0.0
        self.running = False

    def start(self):
        self.running = True

    def stop(self):
        self.running = False

    def sample(self, lag):
        self.lag = lag
        self._on_sample()


def stepped_gate():
    monitors = []

    def make(on_sample):
        monitors.append(StepMonitor(on_sample))
        return monitors[0]

    gate = StartGate(TARGET, monitor=make)
    return gate, monitors[0]


async def waiting(gate):
    """Queues one acquire and lets it reach the gate; returns its task."""
    task = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    return task


async def settled():
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_job_starts_at_once_when_nothing_runs_even_if_the_loop_lags():
    gate, monitor = stepped_gate()
    monitor.lag = 1.0
    await gate.acquire()
    assert (gate.running, monitor.running) == (1, True)


async def test_a_job_waits_while_the_loop_lags_and_starts_once_it_keeps_up():
    gate, monitor = stepped_gate()
    await gate.acquire()
    second = await waiting(gate)
    monitor.sample(0.050)
    await settled()
    assert (second.done(), gate.waiting) == (False, 1)
    monitor.sample(0.002)
    await settled()
    assert (second.done(), gate.running) == (True, 2)


async def test_one_start_per_measurement_even_when_the_loop_is_idle():
    gate, monitor = stepped_gate()
    await gate.acquire()
    others = [await waiting(gate) for _ in range(3)]
    monitor.sample(0.0)
    await settled()
    assert [task.done() for task in others] == [True, False, False]
    monitor.sample(0.0)
    await settled()
    assert [task.done() for task in others] == [True, True, False]


async def test_a_finished_job_hands_its_place_to_the_oldest_waiting_one():
    gate, _ = stepped_gate()
    await gate.acquire()
    first, second = await waiting(gate), await waiting(gate)
    gate.release()  # the only running job ended: nothing runs, so the next starts regardless
    await settled()
    assert (first.done(), second.done(), gate.running) == (True, False, 1)


async def test_a_replacement_waits_while_the_loop_lags_unless_nothing_runs():
    gate, monitor = stepped_gate()
    await gate.acquire()
    monitor.sample(0.0)
    await gate.acquire()  # fresh sample, low lag: a second job starts at once
    third = await waiting(gate)
    monitor.lag = 0.050
    gate.release()
    await settled()
    assert (third.done(), gate.running) == (False, 1)
    gate.release()
    await settled()
    assert (third.done(), gate.running) == (True, 1)


async def test_waiting_jobs_start_in_arrival_order():
    gate, monitor = stepped_gate()
    await gate.acquire()
    order = []

    async def job(n):
        await gate.acquire()
        order.append(n)

    tasks = [asyncio.ensure_future(job(n)) for n in range(4)]
    await settled()
    for _ in range(4):
        monitor.sample(0.0)
        await settled()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]


async def test_a_job_cancelled_while_waiting_gives_up_its_turn():
    gate, monitor = stepped_gate()
    await gate.acquire()
    first, second = await waiting(gate), await waiting(gate)
    first.cancel()
    await settled()
    monitor.sample(0.0)
    await settled()
    assert (first.cancelled(), second.done(), gate.running, gate.waiting) == (True, True, 2, 0)


async def test_a_job_cancelled_right_after_its_admission_frees_its_place():
    gate, monitor = stepped_gate()
    await gate.acquire()
    admitted = await waiting(gate)
    monitor.sample(0.0)  # admitted: its task resumes on the next loop turn
    admitted.cancel()
    await settled()
    assert (admitted.cancelled(), gate.running) == (True, 1)


async def test_the_monitor_stops_once_nothing_runs_or_waits():
    gate, monitor = stepped_gate()
    await gate.acquire()
    gate.release()
    assert (gate.running, monitor.running) == (0, False)


async def test_the_lag_monitor_sees_a_blocked_loop():
    monitor = LagMonitor(lambda: None)
    monitor.start()
    try:
        while monitor.samples < 2:
            await asyncio.sleep(0.001)
        time.sleep(0.060)  # the loop is blocked: the next probe fires at least ~55 ms late
        seen = monitor.samples
        while monitor.samples == seen:
            await asyncio.sleep(0.001)
        assert monitor.lag > TARGET
    finally:
        monitor.stop()
    assert not monitor.running


async def test_an_io_bound_load_runs_many_jobs_at_once():
    dispatcher = Dispatcher(StartGate(TARGET))
    release, started = asyncio.Event(), []

    def job(n):
        async def run():
            started.append(n)
            await release.wait()
        return run

    done = [dispatcher.submit(f"user-{n}", job(n)) for n in range(30)]
    while len(started) < 30:  # all 30 start while none has finished: no fixed cap
        await asyncio.sleep(0.005)
    release.set()
    await asyncio.gather(*done)
    assert sorted(started) == list(range(30))


async def test_drain_runs_the_jobs_still_waiting_for_their_start_and_stops_the_monitor():
    gate, monitor = stepped_gate()
    dispatcher, seen = Dispatcher(gate), []

    def job(n):
        async def run():
            await asyncio.sleep(0)
            seen.append(n)
        return run

    for n in range(5):
        dispatcher.submit(f"user-{n}", job(n))
    assert await dispatcher.drain(grace_seconds=30) == 0
    assert (seen, gate.running, gate.waiting, monitor.running) == ([0, 1, 2, 3, 4], 0, 0, False)


def test_adaptive_start_is_on_by_default_and_a_setting_turns_it_off():
    base = {"did": "5492644710400", "username": "u@x", "password": "pw"}
    assert isinstance(start_gate(parse_settings(base)), StartGate)
    assert start_gate(parse_settings({**base, "adaptive_start": False})) is None


@pytest.mark.parametrize("target", [0, -5])
def test_the_lag_target_must_be_positive(target):
    base = {"did": "5492644710400", "username": "u@x", "password": "pw"}
    with pytest.raises(ConfigError, match="adaptive_start_lag_ms"):
        parse_settings({**base, "adaptive_start_lag_ms": target})
