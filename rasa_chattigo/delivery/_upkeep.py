"""Keeps this instance's lease alive and takes over what stopped instances left, periodically."""

import asyncio
import logging
from typing import Awaitable, Callable, List, Optional

from rasa_chattigo.errors import Unavailable

logger = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]


class Upkeep:
    """Every third of `lease_seconds`: renews the leases (`beats`), then runs `tick`.

    Args:
        lease_seconds: how long a lease lasts without renewal.
        beats: renew this instance's lease in each store.
        tick: takes over and resumes what dead instances left.
    """

    def __init__(self, lease_seconds: float, beats: List[Step], tick: Step) -> None:
        self._period = lease_seconds / 3
        self._beats = beats
        self._tick = tick
        self._task: Optional[asyncio.Task[None]] = None

    async def start(self) -> None:
        """Runs one round now (errors logged), then keeps running in the background."""
        await self._round()
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._period)
            await self._round()

    async def _round(self) -> None:
        try:
            for beat in self._beats:
                await beat()
            await self._tick()
        except Unavailable as exc:
            logger.warning("Delivery upkeep skipped a round: %s", exc)
        except Exception:  # a bug must not end the rounds: leases would lapse for good
            logger.exception("Delivery upkeep failed a round; trying again in %.0f s",
                             self._period)

    async def stop(self) -> None:
        """Stops the background rounds."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
