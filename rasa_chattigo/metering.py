"""A job's own time on the event loop, and its place behind the network (adaptive start)."""

import asyncio
import contextlib
import time
from typing import Any, Callable, Coroutine, Dict, Generator, Iterator, Optional, Tuple

#: The longest a webhook's handling holds job steps back (`WebhooksInProgress`): a stream of
#: webhooks, or one whose store answers slowly, slows the bot, never stops it.
WEBHOOK_HOLD_SECONDS = 0.05


class WebhooksInProgress:
    """The webhooks whose handling (parse, claim, keep) is under way on the loop; job steps let
    them finish first (`Metered`), each webhook for at most `hold` seconds from its start.

    A webhook's handling spans several turns of the loop (its claim, the inbox's commit). A
    job step (Rasa's NLU or prediction, tens of milliseconds) queued between two of them would
    otherwise delay the answer by a step per turn; with this it waits at most for the step
    already running. Only the handling counts, from a body fully read to the answer's content:
    a client slow to send its body, or an `ack: inline` webhook waiting for its turn, holds no
    job back; nor does a webhook waiting on a slow store past its `hold`.

    Args:
        hold: seconds from a webhook's start during which it holds job steps back.
    """

    def __init__(self, hold: float = WEBHOOK_HOLD_SECONDS) -> None:
        self._hold = hold
        # The webhooks under way, each with its start's loop time (oldest first: a dict keeps
        # insertion order, so the last one is the newest still being handled).
        self._starts: Dict[object, float] = {}
        self._cleared: Optional[asyncio.Future[None]] = None

    @property
    def busy(self) -> bool:
        """Whether a webhook is being handled."""
        return bool(self._starts)

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """Counts one webhook's handling for the length of the block."""
        token = object()
        self._starts[token] = asyncio.get_running_loop().time()
        try:
            yield
        finally:
            del self._starts[token]
            # The newest webhook under way may be another, older one now: waiters look again.
            if self._cleared is not None:
                if not self._cleared.done():
                    self._cleared.set_result(None)
                self._cleared = None

    async def cleared(self) -> None:
        """Returns once no webhook is being handled, or once the newest one still being handled
        has held job steps back for `hold` seconds (a stuck one, however many others come and
        go meanwhile, holds them back for its own `hold` only: helper-28's case)."""
        loop = asyncio.get_running_loop()
        while self._starts:
            left = next(reversed(self._starts.values())) + self._hold - loop.time()
            if left <= 0:
                return
            if self._cleared is None:
                self._cleared = loop.create_future()
            # `asyncio.wait`, not `wait_for`: on 3.10 and 3.11 `wait_for` loses a cancellation
            # that comes as its future completes, and the job's next step would run regardless.
            await asyncio.wait((self._cleared,), timeout=left)


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
    job still waiting for its start). With `webhooks` too, each such step then lets the
    webhooks being handled finish (`WebhooksInProgress`).
    """

    __slots__ = ("_clock", "_coro", "_network_first", "_webhooks", "busy")

    def __init__(self, coro: Coroutine[Any, Any, Any],
                 clock: Callable[[], float] = time.perf_counter, *,
                 network_first: bool = False,
                 webhooks: Optional[WebhooksInProgress] = None) -> None:
        self._coro = coro
        self._clock = clock
        self._network_first = network_first
        self._webhooks = webhooks
        self.busy = 0.0  #: seconds

    def __await__(self) -> Generator[Any, Any, Any]:
        message: Any = None
        error: Optional[BaseException] = None
        network_turn = self._network_first  # the first step follows a wait too (the gate's)
        while True:
            if network_turn:
                _, error = yield from self._suspend(_after_network_events().__await__())
                if error is None and self._webhooks is not None and self._webhooks.busy:
                    _, error = yield from self._suspend(self._webhooks.cleared().__await__())
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
