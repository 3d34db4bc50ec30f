"""Runs message handling in the background: one user at a time in order, users in parallel."""

import asyncio
import contextlib
import functools
import logging
from collections import deque
from typing import (
    Any,
    Awaitable,
    Callable,
    ContextManager,
    Coroutine,
    Deque,
    Dict,
    Optional,
    Protocol,
    Set,
    Tuple,
)

from rasa_chattigo.errors import DispatcherClosed

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Gate(Protocol):
    """Decides when a queued job starts (`rasa_chattigo.pacing.StartGate`)."""

    async def run(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Runs `job` once it may start."""

    def handling(self) -> ContextManager[None]:
        """Counts one webhook's handling, which the running jobs let finish first."""

    def close(self) -> None:
        """Called once the dispatcher has drained."""


class Dispatcher:
    """Keeps one ordered queue per conversation and a tracked worker task for each busy one.

    `submit` never blocks: it queues the job and returns a future that resolves once the job
    ran (with its exception, if it failed), so an inline webhook can await it and a background
    one can ignore it.

    Args:
        gate: consulted before each job starts (adaptive start); without one, a job starts as
            soon as its conversation's earlier jobs are done.
    """

    def __init__(self, gate: Optional[Gate] = None) -> None:
        self._gate = gate
        self._queues: Dict[str, Deque[Tuple[Job, asyncio.Future[None]]]] = {}
        self._workers: Set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return sum(len(queue) for queue in self._queues.values())

    @property
    def accepting(self) -> bool:
        """False once shutdown has begun."""
        return not self._closed

    def handling(self) -> ContextManager[None]:
        """Wraps one webhook's handling: with a gate, running jobs let it finish first."""
        return contextlib.nullcontext() if self._gate is None else self._gate.handling()

    def submit(self, key: str, job: Job) -> "asyncio.Future[None]":
        """Queues `job` behind earlier jobs of the same `key` (a conversation).

        Raises:
            DispatcherClosed: once `drain` has begun.
        """
        if self._closed:
            raise DispatcherClosed("shutting down, not accepting new messages")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            queue.append((job, done))
            worker = asyncio.ensure_future(self._work(key, queue))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        else:
            queue.append((job, done))
        return done

    async def _work(self, key: str, queue: Deque[Tuple[Job, "asyncio.Future[None]"]]) -> None:
        try:
            while queue:
                job, done = queue[0]
                if self._gate is None:
                    await _run(job, done)
                else:
                    await self._gate.run(functools.partial(_run, job, done))
                queue.popleft()
        finally:
            # Cancelled at shutdown: whatever is still queued will never run.
            for _, done in queue:
                done.cancel()
            del self._queues[key]

    async def drain(self, grace_seconds: float) -> int:
        """Stops accepting, waits up to `grace_seconds` for queued work, cancels the rest.

        Returns:
            How many jobs were cancelled unfinished (0 when everything finished in time).
        """
        self._closed = True
        try:
            return await self._finish(grace_seconds)
        finally:
            if self._gate is not None:
                self._gate.close()

    async def _finish(self, grace_seconds: float) -> int:
        if not self._workers:
            return 0
        logger.info("Finishing %d acknowledged message(s) before shutdown", self.pending)
        _, unfinished = await asyncio.wait(set(self._workers), timeout=grace_seconds)
        left = self.pending
        for worker in unfinished:
            worker.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            logger.error(
                "Shutdown grace of %.1fs ran out; %d acknowledged message(s) not processed",
                grace_seconds, left,
            )
        return left if unfinished else 0


async def _run(job: Job, done: "asyncio.Future[None]") -> None:
    """Runs one job and settles its future with the outcome."""
    try:
        await job()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if not done.done():
            done.set_exception(exc)
            done.exception()  # retrieved: nobody awaits a background job
    else:
        if not done.done():
            done.set_result(None)
