"""A job's own time on the event loop, and its place behind the network (adaptive start)."""

import asyncio
import time
from typing import Any, Callable, Coroutine, Generator, Optional, Tuple


class Metered:
    """Awaits a coroutine and adds up the time its steps hold the event loop (`busy`).

    A step is the stretch from one resumption of the coroutine to its next suspension, so
    `busy` counts a message's own work (parsing, inference, tracker) and not its waits.

    With `network_first`, each step (the first one too) waits until the loop has polled its
    sockets once more after the step's wait ended: the loop runs what `call_soon` queued
    before it polls, so a job woken by its reply's answer would otherwise run its next step
    (Rasa's NLU and prediction, tens of milliseconds) ahead of a webhook whose bytes came in
    meanwhile. The loop time a job takes stays the same; only the order changes. A
    cancellation reaches the coroutine at once, as with a plain `await`; a job cancelled
    before its first step never runs (the dispatcher's caller keeps its message, as for a
    job still waiting for its start).
    """

    __slots__ = ("_clock", "_coro", "_network_first", "busy")

    def __init__(self, coro: Coroutine[Any, Any, Any],
                 clock: Callable[[], float] = time.perf_counter, *,
                 network_first: bool = False) -> None:
        self._coro = coro
        self._clock = clock
        self._network_first = network_first
        self.busy = 0.0  #: seconds

    def __await__(self) -> Generator[Any, Any, Any]:
        message: Any = None
        error: Optional[BaseException] = None
        network_turn = self._network_first  # the first step follows a wait too (the gate's)
        while True:
            if network_turn:
                _, error = yield from self._suspend(_after_network_events().__await__())
            started = self._clock()
            try:
                if error is None:
                    step = self._coro.send(message)
                else:
                    step = self._coro.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                self.busy += self._clock() - started
            message, error = yield from self._suspend(_yielded(step))
            # A bare yield (asyncio.sleep(0)) ends a step like any other wait.
            network_turn = self._network_first and error is None

    def _suspend(self, awaitable: Generator[Any, Any, Any]
                 ) -> Generator[Any, Any, Tuple[Any, Optional[BaseException]]]:
        """Suspends the task on `awaitable`: what it was sent, or what was thrown in."""
        try:
            return (yield from awaitable), None
        except GeneratorExit:
            self._coro.close()
            raise
        except BaseException as exc:  # cancellation included: handed to the coroutine
            return None, exc


def _yielded(step: Any) -> Generator[Any, Any, Any]:
    return (yield step)


def _after_network_events() -> "asyncio.Future[None]":
    """A future done once the loop has polled its sockets again, behind what that poll queued.

    A callback due now: asyncio's loop runs due timers after the poll's socket callbacks;
    uvloop makes it a `call_soon` (a delay under half a millisecond), which runs after its
    next poll, and uvloop calls protocols (a webhook's `data_received`) during the poll
    itself, so what they queue comes first there too.
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_at(loop.time(), _set_done, future)
    return future


def _set_done(future: "asyncio.Future[None]") -> None:
    if not future.done():  # cancelled meanwhile
        future.set_result(None)
