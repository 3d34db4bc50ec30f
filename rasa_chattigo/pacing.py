"""Adaptive start: queued messages start only while the event loop keeps up, at its pace."""

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable, ContextManager, Coroutine, Deque, Optional

from rasa_chattigo.metering import WEBHOOK_HOLD_SECONDS, Metered, WebhooksInProgress
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

#: How often the lag probe asks to run, in seconds.
PROBE_INTERVAL = 0.010
#: Weight of the newest probe in the smoothed lag (an exponential moving average).
SMOOTHING = 0.5
#: Weight of the newest finished job in the average loop time per job.
COST_SMOOTHING = 0.1
#: The share of the loop's time that paced starts may fill: a loop kept busier than this
#: makes every newly arrived webhook queue behind the work already there.
PACE_UTILISATION = 0.9
#: Jobs that always run, whatever the lag: two, so that one can use the loop while the other
#: waits for its reply to be sent (one alone leaves the loop idle meanwhile).
ALWAYS_RUNNING = 2

Job = Callable[[], Coroutine[Any, Any, None]]


class LagMonitor:
    """Measures the event loop's lag: how late a callback asked for at a time actually runs.

    A probe reschedules itself every `interval` seconds with `call_at` and records how late it
    fired, smoothed. That lateness is what a newly arrived webhook also waits before the loop
    gets to it, so it is the quantity the gate keeps low.

    Args:
        on_sample: called after every probe (the gate admits waiting jobs there).
        interval: seconds between probes.
        smoothing: weight of the newest probe in the moving average (0-1].
    """

    def __init__(self, on_sample: Callable[[], None], *, interval: float = PROBE_INTERVAL,
                 smoothing: float = SMOOTHING) -> None:
        self._on_sample = on_sample
        self._interval = interval
        self._smoothing = smoothing
        self._handle: Optional[asyncio.TimerHandle] = None
        self._due = 0.0
        self.lag = 0.0  #: smoothed lateness, seconds
        self.samples = 0  #: probes since the monitor was created

    @property
    def running(self) -> bool:
        """Whether probes are scheduled."""
        return self._handle is not None

    def start(self) -> None:
        """Starts probing on the running loop (from zero lag: the loop was idle)."""
        if self._handle is None:
            self.lag = 0.0
            self._schedule(asyncio.get_running_loop())

    def stop(self) -> None:
        """Stops probing."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + self._interval
        self._handle = loop.call_at(self._due, self._probe, loop)

    def _probe(self, loop: asyncio.AbstractEventLoop) -> None:
        late = max(loop.time() - self._due, 0.0)
        self.lag += self._smoothing * (late - self.lag)
        self.samples += 1
        self._schedule(loop)
        self._on_sample()


class StartGate:
    """Starts a job while the loop keeps up, else keeps it waiting (first come, first served).

    A job starts at once while fewer than `ALWAYS_RUNNING` run, so there is always progress and
    the loop has work while one job waits for I/O. Otherwise it starts when three things hold:
    the smoothed loop lag is under the target; the loop was measured since the last start (a
    fresh probe, or a job finishing: a replacement adds no load); and starts are paced by the
    loop time one job has needed on average (`cost`, learned from finished jobs, waits
    excluded): no closer together than `cost` over `PACE_UTILISATION`. That spreads the work
    that comes back after slow I/O (messages started together would return from their custom
    actions together) and leaves the loop some idle time (a full one delays every webhook).
    So a CPU-bound bot runs a few messages at once and an I/O-bound one as many as its users
    send, with no fixed limit on either. A running job lets network events go first at each
    of its steps (`Metered`, `network_first`), and the webhooks being handled (`handling`)
    finish first: a webhook then waits for the step under way, not for every job step queued
    before it or between its own turns.

    Args:
        target: the lag, in seconds, above which no job starts.
        monitor: makes the lag monitor (one is built with `PROBE_INTERVAL` when not given).
        clock: monotonic seconds, injectable for tests.
        webhook_hold: seconds a webhook's handling may hold job steps back
            (`WebhooksInProgress`).
    """

    def __init__(self, target: float,
                 monitor: Optional[Callable[[Callable[[], None]], LagMonitor]] = None,
                 clock: Callable[[], float] = time.perf_counter,
                 webhook_hold: float = WEBHOOK_HOLD_SECONDS) -> None:
        self._target = target
        self._monitor = (monitor or LagMonitor)(self._measured)
        self._clock = clock
        self._waiters: Deque[asyncio.Future[None]] = deque()
        self._fresh = True
        self._next_start = 0.0
        self._webhooks = WebhooksInProgress(webhook_hold)
        self.running = 0  #: jobs started and not yet finished
        self.cost = 0.0  #: average loop seconds per finished job (0 until one finished)

    @property
    def lag(self) -> float:
        """The smoothed loop lag in seconds (0 while idle)."""
        return self._monitor.lag

    @property
    def waiting(self) -> int:
        """Jobs waiting for their start."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def run(self, job: Job) -> None:
        """Runs `job` once it may start, and learns how much loop time it took."""
        await self._acquire()
        metered = Metered(job(), self._clock, network_first=True, webhooks=self._webhooks)
        try:
            await metered
        finally:
            self._learn(metered.busy)
            self._release()

    def handling(self) -> ContextManager[None]:
        """Counts one webhook's handling (`WebhooksInProgress`): job steps wait for it."""
        return self._webhooks.handling()

    def close(self) -> None:
        """Stops the lag monitor (at shutdown, once nothing runs)."""
        self._monitor.stop()

    async def _acquire(self) -> None:
        self._monitor.start()
        self._prune()
        if not self._waiters and self._may_start():
            self._started()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # admitted, then cancelled before it could start
            raise

    def _learn(self, busy: float) -> None:
        self.cost = busy if self.cost == 0.0 else self.cost + COST_SMOOTHING * (busy - self.cost)

    def _release(self) -> None:
        self.running -= 1
        self._fresh = True
        self._wake()

    def _may_start(self) -> bool:
        if self.running < ALWAYS_RUNNING:
            return True
        return (self._fresh and self._monitor.lag < self._target
                and self._clock() >= self._next_start)

    def _started(self) -> None:
        self.running += 1
        self._fresh = False
        # A start may catch up on at most `target` of unused pace, never on a long idle spell.
        now = self._clock()
        self._next_start = (max(self._next_start, now - self._target)
                            + self.cost / PACE_UTILISATION)

    def _prune(self) -> None:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()  # cancelled while waiting

    def _measured(self) -> None:
        self._fresh = True
        self._wake()

    def _wake(self) -> None:
        """Admits the oldest waiting job if the loop allows it; stops probing once idle."""
        self._prune()
        if not self._waiters:
            if self.running == 0:
                self._monitor.stop()
            return
        if self._may_start():
            self._started()
            self._waiters.popleft().set_result(None)


def start_gate(settings: ChattigoSettings) -> Optional[StartGate]:
    """The gate `adaptive_start` asks for, or None (every message starts at once)."""
    if not settings.starts_adaptively:
        return None
    return StartGate(settings.adaptive_start_lag_ms / 1000)
