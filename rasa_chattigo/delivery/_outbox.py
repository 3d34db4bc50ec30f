"""The outbox: replies Chattigo did not take are kept and retried in order, per conversation."""

import asyncio
import logging
import time
from collections import deque
from typing import Awaitable, Callable, Deque, Dict, Optional, Set

from rasa_chattigo.client import ChattigoClient
from rasa_chattigo.delivery._owner import dead_owners
from rasa_chattigo.delivery._records import GIVEN_UP, OUTBOX, PENDING, Record
from rasa_chattigo.delivery._store import BoxStore
from rasa_chattigo.errors import (
    AuthenticationError,
    ChattigoError,
    RateLimited,
    ServerError,
    StoreError,
    TransportError,
    Unavailable,
)
from rasa_chattigo.logsafe import shown
from rasa_chattigo.outbound import HANDOFF_KINDS, PAUSING_KINDS, OutboundRequest
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

#: Failures worth waiting out: Chattigo down, slow, rate limiting, or its login failing.
RETRYABLE = (ServerError, RateLimited, TransportError, AuthenticationError, StoreError)

#: What `Outbox.send` did with a reply.
SENT, KEPT, REFUSED = "sent", "kept", "refused"

#: Told of a kept reply once it is delivered: (did, conversation, request).
Delivered = Callable[[str, str, OutboundRequest], Awaitable[None]]


class Outbox:
    """Sends replies; one Chattigo refused after the client's quick retries is kept and
    retried with backoff (or after its Retry-After) for up to `outbox_max_age_seconds`.

    A conversation's later replies queue behind its undelivered one; other conversations
    are not held up. What is given up stays in the store, visible to `rasa-chattigo outbox`.

    Args:
        store: where undelivered replies are kept.
        owner: this channel instance's owner id.
        client: sends to Chattigo.
        settings: `outbox_*` settings.
        clock: wall-clock seconds; injectable for tests.

    Attributes:
        delivered: awaited when a kept reply goes out at last (the channel pauses the bot
            for a hand-off then); its errors are logged.
    """

    def __init__(self, store: BoxStore, owner: str, client: ChattigoClient,
                 settings: ChattigoSettings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.owner = owner
        self._client = client
        self._settings = settings
        self._clock = clock
        self._queues: Dict[str, Deque[Record]] = {}
        self._workers: Set[asyncio.Task[None]] = set()
        self.delivered: Optional[Delivered] = None
        self._settled: Set[str] = set()  # since the last `adopt` began

    @property
    def waiting(self) -> int:
        """Replies kept and not yet delivered by this instance."""
        return sum(len(queue) for queue in self._queues.values())

    async def send(self, did: str, conversation: str, request: OutboundRequest) -> str:
        """Sends now, or keeps the reply when it cannot go (yet); never raises.

        Returns:
            SENT (Chattigo took it), KEPT (in the outbox; `delivered` hears when it goes) or
            REFUSED (Chattigo refused it for good, or it could not be kept: logged).
        """
        if conversation not in self._queues:
            try:
                await self._client.send(did, request)
                return SENT
            except RETRYABLE as exc:
                error: ChattigoError = exc
            except ChattigoError as exc:
                logger.error("Reply %s to %s from DID %s was not delivered: %s",
                             shown(request.message_id), shown(request.recipient),
                             shown(did), exc)
                return REFUSED
        else:
            error = ChattigoError("waiting behind an earlier undelivered reply")
        return KEPT if await self._keep(did, conversation, request, error) else REFUSED

    async def _keep(self, did: str, conversation: str, request: OutboundRequest,
                    error: ChattigoError) -> bool:
        body = {"did": did, "path": request.path, "json": request.json, "kind": request.kind,
                "recipient": request.recipient, "message_id": request.message_id}
        record = Record(OUTBOX, request.message_id, conversation, body, owner=self.owner,
                        created_at=self._clock(), error=str(error)[:300])
        delay = self._delay(record, error)
        record.next_at = self._clock() + delay
        try:
            await self.store.put(record)
        except Unavailable as exc:
            logger.error("Reply %s to %s lost: Chattigo failed (%s) and the outbox too (%s)",
                         shown(request.message_id), shown(request.recipient), error, exc)
            return False
        logger.warning("Reply %s to %s kept in the outbox, retrying in %.1fs: %s",
                       shown(record.key), shown(request.recipient), delay, error)
        self._queue(record)
        return True

    def _queue(self, record: Record) -> None:
        queue = self._queues.get(record.conversation)
        if queue is None:
            queue = self._queues[record.conversation] = deque()
            worker = asyncio.ensure_future(self._work(record.conversation, queue))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        queue.append(record)

    async def _work(self, conversation: str, queue: Deque[Record]) -> None:
        try:
            while queue:
                record = queue[0]
                await asyncio.sleep(max(0.0, record.next_at - self._clock()))
                if await self._attempt(record):
                    self._settled.add(record.key)
                    queue.popleft()
        except Unavailable as exc:
            logger.error("Outbox for %s paused, store unavailable: %s", shown(conversation), exc)
        finally:
            del self._queues[conversation]

    async def _attempt(self, record: Record) -> bool:
        """One more try; True when the record is settled (sent or given up)."""
        if self._clock() - record.created_at > self._settings.outbox_max_age_seconds:
            return await self._give_up(record, "outbox_max_age_seconds passed")
        request = OutboundRequest(record.body["path"], record.body["json"],
                                  record.body["recipient"], record.body["message_id"],
                                  record.body.get("kind", "message"))
        try:
            await self._client.send(record.body["did"], request)
        except RETRYABLE as exc:
            record.attempts += 1
            record.error = str(exc)[:300]
            record.next_at = self._clock() + self._delay(record, exc)
            await self.store.save(record)
            return False
        except ChattigoError as exc:
            return await self._give_up(record, str(exc))
        await self.store.remove(OUTBOX, record.key)
        logger.info("Reply %s to %s delivered from the outbox after %d more attempt(s)",
                    shown(record.key), shown(record.body["recipient"]), record.attempts + 1)
        if request.kind in PAUSING_KINDS:
            await self._silence_behind(record)
        await self._tell_delivered(record, request)
        return True

    async def _silence_behind(self, transfer: Record) -> None:
        """A hand-off went out late: the bot's replies queued behind it would reach the user
        after an agent took the chat (the bot is paused from now on), so they are given up."""
        queue = self._queues.get(transfer.conversation, deque())
        for record in [r for r in queue if r is not transfer]:
            if record.body.get("kind", "message") not in HANDOFF_KINDS:
                queue.remove(record)
                self._settled.add(record.key)
                await self._give_up(record, "the chat went to an agent before it could go")

    async def _tell_delivered(self, record: Record, request: OutboundRequest) -> None:
        if self.delivered is None:
            return
        try:
            await self.delivered(record.body["did"], record.conversation, request)
        except Exception:  # a reply delivered stays delivered, whatever the listener does
            logger.exception("After delivering reply %s from the outbox", shown(record.key))

    async def _give_up(self, record: Record, why: str) -> bool:
        record.state, record.error = GIVEN_UP, why[:300]
        await self.store.save(record)
        logger.error("Reply %s to %s given up after %d attempt(s): %s; see `rasa-chattigo "
                     "outbox list`", shown(record.key), shown(record.body["recipient"]),
                     record.attempts, why)
        return True

    def _delay(self, record: Record, error: ChattigoError) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after  # however long: only this conversation waits
        base = self._settings.outbox_backoff_seconds * 2 ** min(record.attempts, 30)
        return min(base, self._settings.outbox_max_backoff_seconds)

    async def adopt(self) -> int:
        """Takes over undelivered replies of stopped instances (and ones released by
        `outbox retry`) and queues every pending reply this instance owns; how many were new.
        """
        owners = await self.store.owners(OUTBOX)
        await self.store.reassign(OUTBOX, dead_owners(owners, await self.store.alive(owners),
                                                      self.owner), self.owner)
        self._settled.clear()
        records = await self.store.records(OUTBOX)
        # Read after that await: a reply kept meanwhile is queued already, one delivered or
        # given up meanwhile may still be in what the store returned.
        skip = self._settled | {r.key for queue in self._queues.values() for r in queue}
        new = [r for r in records if r.owner == self.owner and r.state == PENDING
               and r.key not in skip]
        for record in new:
            self._queue(record)
        return len(new)

    async def stop(self) -> Optional[int]:
        """Stops retrying (replies stay kept for the next start); how many were waiting."""
        waiting = self.waiting
        for worker in list(self._workers):
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if waiting:
            logger.warning("%d undelivered reply(ies) kept in the outbox %s for the next start",
                           waiting, self.store.label)
        return waiting
