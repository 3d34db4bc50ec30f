"""Wires the inbox, the outbox and their upkeep for one channel instance."""

import logging
from typing import TYPE_CHECKING, Awaitable, Callable, List, Optional

from rasa_chattigo.client import ChattigoClient
from rasa_chattigo.delivery._inbox import Inbox
from rasa_chattigo.delivery._intake import Intake
from rasa_chattigo.delivery._outbox import Outbox
from rasa_chattigo.delivery._owner import new_owner_id
from rasa_chattigo.delivery._store import BoxStore, open_store, store_url
from rasa_chattigo.delivery._upkeep import Step, Upkeep
from rasa_chattigo.errors import Unavailable
from rasa_chattigo.settings import ChattigoSettings

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.dedup import DedupStore

logger = logging.getLogger(__name__)


class Delivery:
    """The inbox and outbox of one channel instance, on the store `inbox_store` names.

    Built at start-up (no I/O); `start` resumes what was left and starts the upkeep, `stop`
    keeps what shutdown did not finish, `aclose` closes the store.

    Args:
        settings: the channel settings.
        client: sends replies (outbox).
        dedup: the claims (the intake settles them).
        store: a store to use instead of the one the settings name.
    """

    def __init__(self, settings: ChattigoSettings, client: ChattigoClient, dedup: "DedupStore",
                 *, store: Optional[BoxStore] = None) -> None:
        self.owner = getattr(dedup, "owner", None) or new_owner_id()
        self.store = store or open_store(store_url(settings), settings.store_namespace)
        self.inbox = Inbox(self.store, self.owner)
        self.intake = Intake(dedup, self.inbox)
        self.outbox = Outbox(self.store, self.owner, client, settings)
        self._dedup = dedup
        self._lease = settings.delivery_lease_seconds
        self._upkeep: Optional[Upkeep] = None
        self._renewed = [self.owner]

    def __repr__(self) -> str:
        return f"Delivery(store={self.store.label!r}, owner={self.owner!r})"

    async def start(self, resume: Callable[[], Awaitable[None]]) -> None:
        """Renews the lease, resumes the inbox (via `resume`) and the outbox, and keeps doing
        so every third of `delivery_lease_seconds`.
        """
        async def tick() -> None:
            try:
                await resume()
            finally:  # whatever the inbox did, kept replies are still taken over
                await self.outbox.adopt()

        self._upkeep = Upkeep(self._lease, self._beats(), tick)
        await self._upkeep.start()

    def renew_also(self, owner: str) -> None:
        """Renews `owner`'s lease in the store too, from `start` on: the webhook front's,
        whose kept messages no instance may take over while this one runs (in a store both
        share; a front of its own file never meets this store's other instances)."""
        self._renewed.append(owner)

    def _beats(self) -> List[Step]:
        beats: List[Step] = [self._renew]
        heartbeat = getattr(self._dedup, "heartbeat", None)
        if heartbeat is not None:
            beats.append(heartbeat)
        return beats

    async def _renew(self) -> None:
        for owner in self._renewed:
            await self.store.heartbeat(owner, self._lease)

    async def stop(self) -> None:
        """After the dispatcher drained: releases unfinished claims (their messages stay in
        the inbox), stops retrying replies, and ends the leases so the next start, or another
        instance, takes over at once.
        """
        if self._upkeep is not None:
            await self._upkeep.stop()
        await self.intake.abandon()
        await self.outbox.stop()
        try:
            await self.store.retire(self.owner)
            retire = getattr(self._dedup, "retire", None)
            if retire is not None:
                await retire()
        except Unavailable as exc:
            logger.warning("Could not end this instance's lease (taken over once it expires): "
                           "%s", exc)

    async def aclose(self) -> None:
        """Closes the store."""
        await self.store.aclose()
