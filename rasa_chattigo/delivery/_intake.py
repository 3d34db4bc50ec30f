"""How a message is accepted and settled: a dedup claim, and its copy in the inbox."""

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List

from rasa_chattigo.delivery._inbox import Inbox, Kept, describe
from rasa_chattigo.errors import Unavailable
from rasa_chattigo.inbound import InboundMessage

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.dedup import DedupStore

logger = logging.getLogger(__name__)


class Intake:
    """Claims each message in the dedup store and keeps it in the inbox until it is settled.

    Every way a claim ends leaves the message handled or claimable again: `done` (handled:
    claim completed, copy forgotten), `failed` (the bot raised: claim released, copy
    forgotten), `stopped` (cancelled or never started at shutdown: claim released, copy kept
    for the next start or a live instance).

    Args:
        dedup: the claims.
        inbox: the kept copies.
    """

    def __init__(self, dedup: "DedupStore", inbox: Inbox) -> None:
        self.dedup = dedup
        self.inbox = inbox
        self._pending: Dict[str, str] = {}
        self._stopped: List[str] = []

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
        try:
            await self.inbox.keep(key, sender_id, message)
        except Unavailable:
            await _settle(self.dedup.release, key)
            self._pending.pop(key, None)
            raise
        return True

    async def done(self, key: str) -> None:
        """The bot handled the message."""
        await _settle(self.dedup.complete, key)
        await self.inbox.forget(key)
        self._pending.pop(key, None)

    async def failed(self, key: str) -> None:
        """The bot raised: a redelivery may try again."""
        await _settle(self.dedup.release, key)
        await self.inbox.forget(key)
        self._pending.pop(key, None)

    async def stopped(self, key: str) -> None:
        """Not handled before shutdown: released, and kept in the inbox."""
        await _settle(self.dedup.release, key)
        if self._pending.pop(key, None) is not None:
            self._stopped.append(key)

    async def resume(self) -> List[Kept]:
        """Claims what the inbox holds for this instance (left by a crash, a stop or a dead
        instance); returns what to hand to the bot, in order. A message handled already is
        forgotten; one another live instance is handling stays for a later look.
        """
        ready = []
        for key, sender_id, message in await self.inbox.adopt(set(self._pending)):
            if await self.dedup.claim(key):
                self._pending[key] = sender_id
                ready.append((key, sender_id, message))
            elif await self.dedup.state(key) == "done":
                await self.inbox.forget(key)
        if ready:
            logger.info("Resuming %d message(s) kept in the inbox: %s", len(ready),
                        describe([key for key, _, _ in ready]))
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
        logger.error("Could not record the outcome of message %s: %s", key, exc)
