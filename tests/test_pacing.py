"""Adaptive start: the loop-lag monitor, job metering, and the gate that paces starts."""

import asyncio
import socket
import time

import pytest

from rasa_chattigo import pacing
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import ConfigError
from rasa_chattigo.metering import Metered, WebhooksInProgress
from rasa_chattigo.pacing import LagMonitor, StartGate, start_gate
from rasa_chattigo.settings import parse_settings

TARGET = 0.010
BASE = {"did": "5492644710400", "username": "u@x", "password": "pw"}


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


class Clock:
    """Seconds that pass only when the test (or a job's simulated work) says so."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Held:
    """A job that works `work` simulated seconds, then holds until `finish()`."""

    def __init__(self, clock=None, work=0.0):
        self.started = False
        self._clock, self._work = clock, work
        self._release = asyncio.Event()

    async def __call__(self):
        self.started = True
        if self._clock is not None:
            self._clock.now += self._work
        await self._release.wait()

    def finish(self):
        self._release.set()


@pytest.fixture(autouse=True)
def one_always_runs(monkeypatch):
    """The rules below are easiest to see with one job always running; the default is two."""
    monkeypatch.setattr(pacing, "ALWAYS_RUNNING", 1)


@pytest.fixture(autouse=True)
async def no_task_left_behind():
    yield
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def stepped_gate(clock=None, **kwargs):
    monitors = []

    def make(on_sample):
        monitors.append(StepMonitor(on_sample))
        return monitors[0]

    gate = StartGate(TARGET, monitor=make, clock=clock or Clock(), **kwargs)
    return gate, monitors[0]


async def settled():
    """Enough loop turns for every ready job to take its steps (each waits for the loop to
    poll its sockets first, which takes two of these turns)."""
    for _ in range(12):
        await asyncio.sleep(0)


async def started(gate, count):
    """Submits `count` held jobs to the gate; returns them once each had its chance to start."""
    jobs = [Held() for _ in range(count)]
    tasks = [asyncio.ensure_future(gate.run(job)) for job in jobs]
    await settled()
    return jobs, tasks


async def test_a_job_starts_at_once_when_nothing_runs_even_if_the_loop_lags():
    gate, monitor = stepped_gate()
    monitor.lag = 1.0
    (job,), _ = await started(gate, 1)
    assert (job.started, gate.running, monitor.running) == (True, 1, True)


async def test_a_job_waits_while_the_loop_lags_and_starts_once_it_keeps_up():
    gate, monitor = stepped_gate()
    (_, second), _ = await started(gate, 2)
    monitor.sample(0.050)
    await settled()
    assert (second.started, gate.waiting) == (False, 1)
    monitor.sample(0.002)
    await settled()
    assert (second.started, gate.running) == (True, 2)


async def test_one_start_per_measurement_even_when_the_loop_is_idle():
    gate, monitor = stepped_gate()
    jobs, _ = await started(gate, 4)
    assert [job.started for job in jobs] == [True, False, False, False]
    monitor.sample(0.0)
    await settled()
    assert [job.started for job in jobs] == [True, True, False, False]
    monitor.sample(0.0)
    await settled()
    assert [job.started for job in jobs] == [True, True, True, False]


async def test_a_finished_job_hands_its_place_to_the_oldest_waiting_one():
    gate, monitor = stepped_gate()
    jobs, _ = await started(gate, 3)
    monitor.lag = 0.050  # nothing else may start, but a finishing job leaves nothing running
    jobs[0].finish()
    await settled()
    assert [job.started for job in jobs] == [True, True, False]
    assert gate.running == 1


async def test_a_replacement_starts_while_the_loop_keeps_up():
    gate, monitor = stepped_gate()
    jobs, _ = await started(gate, 3)
    monitor.sample(0.0)
    await settled()
    assert [job.started for job in jobs] == [True, True, False]
    jobs[0].finish()
    await settled()
    assert ([job.started for job in jobs], gate.running) == ([True, True, True], 2)


async def test_waiting_jobs_start_in_arrival_order():
    gate, monitor = stepped_gate()
    order = []

    def job(n):
        async def run():
            order.append(n)
            if n == 0:
                await asyncio.Event().wait()  # holds: the others wait for probes
        return run

    tasks = [asyncio.ensure_future(gate.run(job(n))) for n in range(4)]
    await settled()
    for _ in range(3):
        monitor.sample(0.0)
        await settled()
    await asyncio.gather(*tasks[1:])
    assert order == [0, 1, 2, 3]


async def learned_gate(cost):
    """A stepped gate that has seen one job take `cost` seconds of loop time."""
    clock = Clock()
    gate, monitor = stepped_gate(clock)
    learner = Held(clock, work=cost)
    task = asyncio.ensure_future(gate.run(learner))
    await settled()
    learner.finish()
    await task
    assert gate.cost == pytest.approx(cost)
    return gate, monitor, clock


async def starts_after(gate, monitor, clock, steps, jobs=3):
    """How many of `jobs` held jobs have started after each clock step (and a probe)."""
    held, _ = await started(gate, jobs)
    seen = []
    for step in steps:
        clock.now += step
        monitor.sample(0.0)
        await settled()
        seen.append(sum(job.started for job in held))
    return seen


async def test_starts_are_spaced_by_the_loop_time_a_job_needs(monkeypatch):
    monkeypatch.setattr(pacing, "PACE_UTILISATION", 1.0)
    gate, monitor, clock = await learned_gate(0.030)
    # The first starts at once (nothing runs); the second 20 ms on (30 ms of pace less the
    # 10 ms a start may catch up on), the third 30 ms after the second.
    seen = await starts_after(gate, monitor, clock, [0.0, 0.015, 0.010, 0.020, 0.010])
    assert seen == [1, 1, 2, 2, 3]


async def test_the_pace_leaves_the_loop_some_idle_time():
    gate, monitor, clock = await learned_gate(0.030)
    # 30 ms / 0.9 = 33.3 ms apart: the second 23.3 ms on, the third 33.3 ms after it.
    seen = await starts_after(gate, monitor, clock, [0.020, 0.005, 0.030, 0.005])
    assert seen == [1, 2, 2, 3]


async def test_two_jobs_always_run_whatever_the_lag(monkeypatch):
    monkeypatch.setattr(pacing, "ALWAYS_RUNNING", 2)
    gate, monitor = stepped_gate()
    monitor.lag = 1.0
    jobs, _ = await started(gate, 3)
    assert [job.started for job in jobs] == [True, True, False]


async def test_metering_counts_a_jobs_own_work_and_not_its_waits():
    clock = Clock()
    wake = asyncio.Event()

    async def job():
        clock.now += 0.004  # works
        await wake.wait()
        clock.now += 0.006  # works again after its I/O

    metered = Metered(job(), clock)
    task = asyncio.ensure_future(_await(metered))
    await settled()
    clock.now += 1.0  # waits for I/O: not the loop's time
    wake.set()
    await task
    assert metered.busy == pytest.approx(0.010)


async def _await(awaitable):
    return await awaitable


async def test_a_metered_job_is_cancelled_like_any_coroutine():
    cancelled = []

    async def job():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    task = asyncio.ensure_future(_await(Metered(job())))
    await settled()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == [True]


async def test_a_metered_job_returns_its_value_and_raises_its_errors():
    async def value():
        await asyncio.sleep(0)
        return 42

    async def boom():
        await asyncio.sleep(0)
        raise ValueError("bot failed")

    assert await Metered(value()) == 42
    with pytest.raises(ValueError, match="bot failed"):
        await Metered(boom())


async def test_a_job_cancelled_while_waiting_gives_up_its_turn():
    gate, monitor = stepped_gate()
    jobs, tasks = await started(gate, 3)
    tasks[1].cancel()
    await settled()
    monitor.sample(0.0)
    await settled()
    assert ([job.started for job in jobs], gate.running, gate.waiting) == (
        [True, False, True], 2, 0)


async def test_a_job_cancelled_right_after_its_admission_frees_its_place():
    gate, monitor = stepped_gate()
    jobs, tasks = await started(gate, 2)
    monitor.sample(0.0)  # admitted: its task resumes on a later loop turn
    tasks[1].cancel()
    await settled()
    assert (jobs[1].started, gate.running) == (False, 1)


async def test_the_monitor_stops_once_nothing_runs_or_waits():
    gate, monitor = stepped_gate()
    (job,), (task,) = await started(gate, 1)
    job.finish()
    await task
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
    release, started_jobs = asyncio.Event(), []

    def job(n):
        async def run():
            started_jobs.append(n)
            await release.wait()
        return run

    done = [dispatcher.submit(f"user-{n}", job(n)) for n in range(30)]
    while len(started_jobs) < 30:  # all 30 start while none has finished: no fixed cap
        await asyncio.sleep(0.005)
    release.set()
    await asyncio.gather(*done)
    assert sorted(started_jobs) == list(range(30))


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
    assert isinstance(start_gate(parse_settings(BASE)), StartGate)
    assert start_gate(parse_settings({**BASE, "adaptive_start": False})) is None


@pytest.mark.parametrize("target", [0, -5])
def test_the_lag_target_must_be_positive(target):
    with pytest.raises(ConfigError, match="adaptive_start_lag_ms"):
        parse_settings({**BASE, "adaptive_start_lag_ms": target})


async def _order_of_a_socket_event_and_a_woken_job(run, share_woken=None):
    """A job is woken and a socket becomes readable in the same loop turn: which runs first?

    `run(job)` awaits the job (a coroutine function) the way the code under test does; with
    `share_woken` (a list), the future that ends the wait is put in it, for `run` to await
    itself instead of the job.
    """
    loop = asyncio.get_running_loop()
    order, woken = [], loop.create_future()
    if share_woken is not None:
        share_woken.append(woken)
    reader, writer = socket.socketpair()
    try:
        reader.setblocking(False)

        async def job():
            await woken
            order.append("job")

        def readable():  # like a protocol's data_received: wakes the handler's task
            reader.recv(16)
            loop.remove_reader(reader)
            loop.call_soon(order.append, "socket")

        loop.add_reader(reader, readable)
        task = asyncio.ensure_future(run(job))
        await settled()

        def one_turn():  # the job's wait ends; a webhook's bytes come in while it resumes
            woken.set_result(None)
            loop.call_soon(writer.send, b"x")

        loop.call_soon(one_turn)
        await task
        await settled()
    finally:
        loop.remove_reader(reader)
        reader.close()
        writer.close()
    return order


async def test_a_woken_job_runs_its_next_step_after_the_network_events_of_that_turn():
    order = await _order_of_a_socket_event_and_a_woken_job(
        lambda job: _await(Metered(job(), network_first=True)))
    assert order == ["socket", "job"]


async def test_without_network_first_the_woken_job_would_run_first():
    """What `network_first` changes: the loop runs what was queued before it polls."""
    order = await _order_of_a_socket_event_and_a_woken_job(lambda job: _await(Metered(job())))
    assert order == ["job", "socket"]


def test_network_first_holds_on_uvloop_too():
    """`rasa run` serves on uvloop wherever Sanic finds it installed."""
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        order = loop.run_until_complete(_order_of_a_socket_event_and_a_woken_job(
            lambda job: _await(Metered(job(), network_first=True))))
    finally:
        loop.close()
    assert order == ["socket", "job"]


async def test_the_gate_runs_its_jobs_network_first():
    gate, _ = stepped_gate()
    assert await _order_of_a_socket_event_and_a_woken_job(gate.run) == ["socket", "job"]


@pytest.mark.parametrize("cancel_in", ["wait", "woken", "network turn"])
async def test_a_network_first_job_sees_a_cancellation_where_it_waited(cancel_in):
    loop = asyncio.get_running_loop()
    errors, seen, woken = [], [], loop.create_future()
    loop.set_exception_handler(lambda _, context: errors.append(context))

    async def job():
        try:
            await woken
        except asyncio.CancelledError:
            seen.append("cancelled where it waited")
            raise
        seen.append("ran on")

    task = asyncio.ensure_future(_await(Metered(job(), network_first=True)))
    await settled()
    if cancel_in != "wait":
        woken.set_result(None)
    if cancel_in == "network turn":
        await asyncio.sleep(0)  # the task resumed, and now waits for the loop's next poll
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settled()
    loop.set_exception_handler(None)
    assert (seen, errors) == (["cancelled where it waited"], [])


async def test_a_cancellation_reaches_a_waiting_network_first_job_at_once():
    loop = asyncio.get_running_loop()
    seen = []

    async def job():
        try:
            await loop.create_future()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = asyncio.ensure_future(_await(Metered(job(), network_first=True)))
    await settled()
    task.cancel()
    await asyncio.sleep(0)  # one turn, as with a plain await
    assert seen == ["cancelled"]
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_admitted_job_lets_network_events_go_before_its_first_step():
    async def admitted_then_run(job):  # like StartGate.run: admitted, then started
        await woken_holder[0]
        await Metered(job(), network_first=True)

    woken_holder = []
    order = await _order_of_a_socket_event_and_a_woken_job(admitted_then_run, woken_holder)
    assert order == ["socket", "job"]


async def test_a_job_yielding_with_sleep_0_lets_network_events_go_first():
    """A webhook's bytes arrive during a step that ends in a bare yield (asyncio.sleep(0))."""
    loop = asyncio.get_running_loop()
    order = []
    reader, writer = socket.socketpair()
    reader.setblocking(False)

    def readable():
        reader.recv(16)
        loop.remove_reader(reader)
        loop.call_soon(order.append, "socket")

    async def job():
        writer.send(b"x")  # arrives while this step runs
        await asyncio.sleep(0)
        order.append("job")

    loop.add_reader(reader, readable)
    try:
        await Metered(job(), network_first=True)
        await settled()
    finally:
        loop.remove_reader(reader)
        reader.close()
        writer.close()
    assert order == ["socket", "job"]


async def test_a_drain_with_no_grace_cancels_admitted_jobs_before_their_first_step():
    """They never run (the dispatcher's caller keeps their messages: `Intake.abandon`) and
    give their places back."""
    gate = StartGate(TARGET)
    dispatcher, ran = Dispatcher(gate), []

    def job(n):
        async def run():
            ran.append(n)
        return run

    done = [dispatcher.submit(f"user-{n}", job(n)) for n in range(3)]
    assert await dispatcher.drain(grace_seconds=0) == 3
    assert (ran, [future.cancelled() for future in done], gate.running) == (
        [], [True, True, True], 0)


def test_a_webhook_front_turns_adaptive_start_off_unless_it_is_set() -> None:
    front = {**BASE, "front_port": 5006}
    assert start_gate(parse_settings(front)) is None
    assert start_gate(parse_settings({**front, "adaptive_start": True})) is not None
    assert start_gate(parse_settings(BASE)) is not None


async def _order_of_a_webhook_and_a_woken_job(run, handling, turns=5):
    """A job is woken while a webhook's handling (counted by `handling()`) takes `turns` turns
    of the loop (its claim, the inbox's commit): the order of the job's next step and the
    webhook's turns. `run(job)` awaits the job the way the code under test does."""
    loop = asyncio.get_running_loop()
    order, woken = [], loop.create_future()

    async def job():
        await woken
        order.append("job")

    task = asyncio.ensure_future(run(job))
    await settled()
    with handling():
        woken.set_result(None)
        for turn in range(turns):
            order.append(f"webhook {turn}")
            await asyncio.sleep(0)
    await task
    return order


def _metered(webhooks=None):
    return lambda job: _await(Metered(job(), network_first=True, webhooks=webhooks))


#: A hold no loaded machine's pause reaches: the ordering tests do not depend on timing.
LONG_HOLD = 60.0


async def test_a_woken_job_lets_a_webhook_being_handled_finish_first():
    webhooks = WebhooksInProgress(hold=LONG_HOLD)
    order = await _order_of_a_webhook_and_a_woken_job(_metered(webhooks), webhooks.handling)
    assert order == [*(f"webhook {turn}" for turn in range(5)), "job"]


async def test_without_the_webhooks_the_woken_job_runs_between_their_turns():
    """What `webhooks` changes: network first alone lets the job in after a turn or two."""
    order = await _order_of_a_webhook_and_a_woken_job(_metered(),
                                                      WebhooksInProgress().handling, turns=8)
    assert order.index("job") < 8


async def test_the_gate_lets_the_webhooks_the_dispatcher_counts_finish_first():
    gate, _ = stepped_gate(webhook_hold=LONG_HOLD)
    order = await _order_of_a_webhook_and_a_woken_job(gate.run, Dispatcher(gate).handling)
    assert order == [*(f"webhook {turn}" for turn in range(5)), "job"]


async def test_a_dispatcher_without_a_gate_counts_nothing():
    order = await _order_of_a_webhook_and_a_woken_job(
        lambda job: _await(job()), Dispatcher().handling, turns=8)
    assert order.index("job") < 8


async def _stuck_webhook(webhooks, stuck):
    with webhooks.handling():
        await stuck.wait()  # its store never answers


async def test_a_webhook_that_does_not_finish_holds_a_step_back_only_for_the_hold():
    webhooks, stuck = WebhooksInProgress(hold=0.02), asyncio.Event()
    handling = asyncio.ensure_future(_stuck_webhook(webhooks, stuck))
    await settled()
    ran = []

    async def job():
        await asyncio.sleep(0)
        ran.append("job")

    try:
        await asyncio.wait_for(_metered(webhooks)(job), 5)
        assert ran == ["job"] and webhooks.busy
    finally:
        stuck.set()
        await handling
    assert not webhooks.busy


async def test_a_job_waiting_for_the_webhooks_sees_its_cancellation_there():
    loop = asyncio.get_running_loop()
    webhooks, stuck, woken, seen = (WebhooksInProgress(hold=LONG_HOLD), asyncio.Event(),
                                    loop.create_future(), [])

    async def job():
        try:
            await woken
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("ran")

    task = asyncio.ensure_future(_metered(webhooks)(job))
    await settled()
    handling = asyncio.ensure_future(_stuck_webhook(webhooks, stuck))
    await settled()
    woken.set_result(None)
    await settled()
    assert seen == []  # its step waits for the webhook
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stuck.set()
    await handling
    assert seen == ["cancelled"]


async def test_a_job_cancelled_as_the_webhooks_clear_is_still_cancelled():
    """The webhook's handling ends, and before the held step resumes, the job is cancelled
    (a drain, or a timeout of its own): the cancellation must reach the job (helper-27's case:
    `wait_for` lost it on Python 3.10 and 3.11)."""
    loop = asyncio.get_running_loop()
    webhooks, woken, ran = WebhooksInProgress(hold=LONG_HOLD), loop.create_future(), []

    async def job():
        await woken
        ran.append("step")

    task = asyncio.ensure_future(_metered(webhooks)(job))
    await settled()
    with webhooks.handling():
        woken.set_result(None)
        await settled()
    await asyncio.sleep(0)  # the clearance is on its way to the held step
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ran == []


@pytest.mark.parametrize("hold, holds_back", [(LONG_HOLD, True), (0.02, False)])
async def test_a_webhook_holds_steps_back_only_for_the_hold_from_its_start(hold, holds_back):
    """A webhook waiting on a slow store: once its hold has run out, steps no longer wait for
    it, though it is still being handled."""
    webhooks, stuck = WebhooksInProgress(hold=hold), asyncio.Event()
    handling = asyncio.ensure_future(_stuck_webhook(webhooks, stuck))
    await asyncio.sleep(0.03)
    try:
        held = webhooks.cleared()
        assert (webhooks.busy, _suspends(held)) == (True, holds_back)
        held.close()
    finally:
        stuck.set()
        await handling


async def test_a_stuck_webhook_holds_steps_back_no_longer_though_others_come_and_go():
    """helper-28's case: one webhook stuck in its claim, and quick ones (statuses, bad bodies)
    coming and going. Once the stuck one's hold has run out, steps wait for none of them."""
    webhooks, stuck = WebhooksInProgress(hold=0.02), asyncio.Event()
    handling = asyncio.ensure_future(_stuck_webhook(webhooks, stuck))
    await asyncio.sleep(0.03)  # the stuck one's hold ran out
    try:
        with webhooks.handling():
            pass  # a quick webhook, answered at once
        assert webhooks.busy and not _suspends(webhooks.cleared())
    finally:
        stuck.set()
        await handling


async def test_a_held_step_goes_once_the_webhooks_within_their_hold_have_finished():
    """A quick webhook comes while a stuck one, past its hold, is still under way: the step it
    holds back goes as soon as it finishes, not when its hold would have run out."""
    webhooks, stuck = WebhooksInProgress(hold=0.5), asyncio.Event()
    handling = asyncio.ensure_future(_stuck_webhook(webhooks, stuck))
    await asyncio.sleep(0.6)  # the stuck one's hold ran out
    try:
        with webhooks.handling():
            waiting = asyncio.ensure_future(webhooks.cleared())
            await settled()
            assert not waiting.done()  # held back by the quick one
        await settled()
        assert waiting.done() and webhooks.busy
    finally:
        stuck.set()
        await handling


def _suspends(coroutine):
    """Whether `coroutine` suspends at its first step (else it returned at once)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return False
    return True
