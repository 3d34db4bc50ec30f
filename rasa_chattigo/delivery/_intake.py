"""How a message is accepted and settled: a dedup claim, and its copy in the inbox."""

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List

from rasa_chattigo.delivery._inbox import Inbox, Kept, describe
from rasa_chattigo.errors import Unavailable
from rasa_chattigo.inbound import InboundMessage
from rasa_chattigo.logsafe import shown

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.dedup import DedupStore

logger = logging.getLogger(__name__)

#: How old a kept message may be and still be retried after a passing failure (a store
#: down); older, it is treated as a poison message. Counted from when it was kept, so a
#: restart does not start the hour again.
RETRY_FOR_SECONDS = 3600.0


class Intake:
    """Claims each message in the dedup store and keeps it in the inbox until it is settled.

    Every way a claim ends leaves the message handled or claimable again: `done` (handled,
    or a poison message: claim completed, copy forgotten), `retry_later` (`ack: inline` and a
    store the bot needs is down: claim released, copy kept, so the next upkeep round or a
    redelivery tries again), `stopped` (cancelled or never started at shutdown: claim released, copy
    kept for the next start or a live instance).

    Args:
        dedup: the claims.
        inbox: the kept copies.
        clock: wall-clock seconds; injectable for tests.
    """

    def __init__(self, dedup: "DedupStore", inbox: Inbox,
                 clock: Callable[[], float] = time.time) -> None:
        self.dedup = dedup
        self.inbox = inbox
        self._clock = clock
        self._pending: Dict[str, str] = {}
        self._stopped: List[str] = []
        self._kept_at: Dict[str, float] = {}  # each pending key: when it was kept

    @property
    def pending(self) -> List[str]:
        """Keys accepted and not settled yet, oldest first."""
        return list(self._pending)

    async def accept(self, key: str, sender_id: str, message: InboundMessage) -> bool:
        """Claims `key` and keeps the message; False when it was claimed already.

        Raises:
            Unavailable: the dedup store or the inbox failed; nothing is kept or claimed.
        """
        if not await self.dedup.claim(key):
            return False
        self._pending[key] = sender_id
        self._kept_at[key] = self._clock()
        try:
            await self.inbox.keep(key, sender_id, message)
        except BaseException:  # the inbox failed, or the webhook was cancelled meanwhile
            await asyncio.shield(self._unclaim(key))
            raise
        return True

    async def _unclaim(self, key: str) -> None:
        """Undoes a claim whose message was not acknowledged: no copy, the claim released,
        so Chattigo's redelivery is processed once."""
        self._pending.pop(key, None)
        self._kept_at.pop(key, None)
        await self.inbox.forget(key)  # a keep cancelled late may have written it
        await _settle(self.dedup.release, key)

    async def done(self, key: str) -> None:
        """The bot handled the message (or it is a poison message); once is enough."""
        if key not in self._pending:  # settled already: when its turn first replied
            return
        await _settle(self.dedup.complete, key)
        await self.inbox.forget(key)
        self._pending.pop(key, None)
        self._kept_at.pop(key, None)

    async def handled_elsewhere(self, key: str) -> None:
        """Another process accepted the message and the bot handled it (a webhook front
        that stopped before `rasa run` reported back): completed and forgotten here too."""
        self._pending.pop(key, None)
        self._kept_at.pop(key, None)
        await _settle(self.dedup.complete, key)
        await self.inbox.forget(key)

    def may_retry(self, key: str) -> bool:
        """Whether `key` is young enough to retry after a passing failure (`RETRY_FOR_SECONDS`
        since it was kept)."""
        return self._clock() - self._kept_at.get(key, self._clock()) < RETRY_FOR_SECONDS

    async def retry_later(self, key: str) -> None:
        """A store the bot needs is down: released and kept, for the next upkeep round."""
        await _settle(self.dedup.release, key)
        self._pending.pop(key, None)
        self._kept_at.pop(key, None)

    async def stopped(self, key: str) -> None:
        """Not handled before shutdown: released, and kept in the inbox."""
        await _settle(self.dedup.release, key)
        self._kept_at.pop(key, None)
        if self._pending.pop(key, None) is not None:
            self._stopped.append(key)

    async def resume(self) -> List[Kept]:
        """Claims what the inbox holds for this instance (left by a crash, a stop or a dead
        instance); returns what to hand to the bot, in order. A message handled already is
        forgotten; one another live instance is handling stays for a later look.
        """
        ready = []
        for kept in await self.inbox.adopt(set(self._pending)):
            if await self.dedup.claim(kept.key):
                self._pending[kept.key] = kept.sender_id
                self._kept_at[kept.key] = kept.kept_at
                ready.append(kept)
            elif await self.dedup.state(kept.key) == "done":
                await self.inbox.forget(kept.key)
        if ready:
            logger.info("Resuming %d message(s) kept in the inbox: %s", len(ready),
                        describe([kept.key for kept in ready]))
        return ready

    async def abandon(self) -> List[str]:
        """At shutdown, after the dispatcher drained: releases every unsettled claim (queued
        jobs that never started included). The messages stay in the inbox; their keys.
        """
        for key in self.pending:
            await self.stopped(key)
        left, self._stopped = self._stopped, []
        if left:
            logger.warning("%d acknowledged message(s) kept in the inbox %s for the next start: "
                           "%s", len(left), self.inbox.store.label, describe(left))
        return left


async def _settle(mark: Callable[[str], Awaitable[Any]], key: str) -> None:
    # A dedup store gone away since the claim must not turn the outcome into an error: the
    # claim then expires, or is taken over once this instance's lease ends.
    try:
        await mark(key)
    except Unavailable as exc:
        logger.error("Could not record the outcome of message %s: %s", shown(key), exc)
