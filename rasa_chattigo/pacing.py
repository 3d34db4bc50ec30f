"""Adaptive start: queued messages start only while the event loop keeps up."""

import asyncio
import logging
from collections import deque
from typing import Callable, Deque, Optional

from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

#: How often the lag probe asks to run, in seconds.
PROBE_INTERVAL = 0.005
#: Weight of the newest probe in the smoothed lag (an exponential moving average).
SMOOTHING = 0.25


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
    """Lets a job start while the loop keeps up, else keeps it waiting (first come, first served).

    A job may start when nothing else runs (progress is never blocked), or when the smoothed lag
    is under the target and the loop has shown it since the last start: a fresh probe, or a job
    finishing (a replacement adds no load). So starts follow the loop's measured capacity, one
    per measurement: a CPU-bound bot runs a few messages at once, an I/O-bound one (slow custom
    actions) as many as its users send, and no fixed limit applies to either.

    Args:
        target: the lag, in seconds, above which no job starts.
        monitor: makes the lag monitor (one is built with `PROBE_INTERVAL` when not given).
    """

    def __init__(self, target: float,
                 monitor: Optional[Callable[[Callable[[], None]], LagMonitor]] = None) -> None:
        self._target = target
        self._monitor = (monitor or LagMonitor)(self._measured)
        self._waiters: Deque[asyncio.Future[None]] = deque()
        self._fresh = True
        self.running = 0  #: jobs started and not yet finished

    @property
    def lag(self) -> float:
        """The smoothed loop lag in seconds (0 while idle)."""
        return self._monitor.lag

    @property
    def waiting(self) -> int:
        """Jobs waiting for their start."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def acquire(self) -> None:
        """Returns once the job may start; call `release` when it ends, however it ends."""
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
                self.release()  # admitted, then cancelled before it could start
            raise

    def release(self) -> None:
        """Records a job's end; the next one may take its place."""
        self.running -= 1
        self._fresh = True
        self._wake()

    def close(self) -> None:
        """Stops the lag monitor (at shutdown, once nothing runs)."""
        self._monitor.stop()

    def _may_start(self) -> bool:
        return self.running == 0 or (self._fresh and self._monitor.lag < self._target)

    def _started(self) -> None:
        self.running += 1
        self._fresh = False

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
    if not settings.adaptive_start:
        return None
    return StartGate(settings.adaptive_start_lag_ms / 1000)
