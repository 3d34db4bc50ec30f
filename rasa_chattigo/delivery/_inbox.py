"""The durable inbox: each accepted message is kept before the 200 and forgotten once handled."""

import logging
from typing import List, NamedTuple

from rasa_chattigo.delivery._owner import dead_owners
from rasa_chattigo.delivery._records import INBOX, Record
from rasa_chattigo.delivery._store import BoxStore
from rasa_chattigo.errors import Unavailable
from rasa_chattigo.inbound import InboundMessage
from rasa_chattigo.logsafe import escape, shown

logger = logging.getLogger(__name__)

class Kept(NamedTuple):
    """A kept message: its dedup key, the Rasa sender id, the message, and when it was kept
    (wall-clock seconds)."""

    key: str
    sender_id: str
    message: InboundMessage
    kept_at: float


class Inbox:
    """Messages acknowledged to Chattigo and not yet handled by the bot.

    Args:
        store: where they are kept (SQLite file, PostgreSQL, Redis or memory).
        owner: this channel instance's owner id.
    """

    def __init__(self, store: BoxStore, owner: str) -> None:
        self.store = store
        self.owner = owner
        self._unreadable: set[str] = set()  # logged once each

    async def keep(self, key: str, sender_id: str, message: InboundMessage) -> None:
        """Writes the message durably; returns once the store has it.

        Raises:
            DeliveryUnavailable: the store could not keep it (answer 503: Chattigo redelivers).
        """
        body = {"sender_id": sender_id, "message": message.as_dict()}
        await self.store.put(Record(INBOX, key, sender_id, body, owner=self.owner))

    async def forget(self, key: str) -> None:
        """Removes a handled message; a store failure is logged (the message may run again)."""
        try:
            await self.store.remove(INBOX, key)
        except Unavailable as exc:
            logger.error("Message %s was handled but stays in the inbox: %s", shown(key), exc)

    async def adopt(self, skip: "set[str]") -> List[Kept]:
        """Takes over what stopped or dead instances left; returns every kept message this
        instance owns and is not handling (keys in `skip`), in arrival order.
        """
        dead = dead_owners(await self.store.owners(INBOX),
                           await self.store.alive(await self.store.owners(INBOX)), self.owner)
        taken = await self.store.reassign(INBOX, dead, self.owner)
        if taken:
            logger.warning("Took over %d message(s) from stopped instance(s) %s: %s", len(taken),
                           ", ".join(sorted(dead)) or "-", describe([r.key for r in taken]))
        mine = [r for r in await self.store.records(INBOX)
                if r.owner == self.owner and r.key not in skip]
        kept: List[Kept] = []
        for record in mine:
            try:
                kept.append(Kept(record.key, record.body["sender_id"],
                                 InboundMessage(**record.body["message"]), record.created_at))
            except (KeyError, TypeError) as exc:  # written by another version of the package
                if record.key not in self._unreadable:
                    self._unreadable.add(record.key)
                    logger.error("Message %s stays in the inbox %s unprocessed: its record "
                                 "cannot be read (%s: %s)", shown(record.key), self.store.label,
                                 type(exc).__name__, shown(exc))
        return kept


def describe(keys: List[str], limit: int = 20) -> str:
    """Message keys for a log line: all of them, or the first `limit` and how many more."""
    named = ", ".join(escape(key) for key in keys[:limit])
    return named if len(keys) <= limit else f"{named} and {len(keys) - limit} more"
