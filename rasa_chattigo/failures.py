"""Failed deliveries the bot hears about: messages we sent, and `failed` statuses as intents."""

import asyncio
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.dedup import DedupStore
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import Unavailable
from rasa_chattigo.inbound import StatusUpdate
from rasa_chattigo.notes import Notes
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)


def failure_entities(status: StatusUpdate, message_id: str) -> Dict[str, str]:
    """The entities of `/whatsapp_delivery_failed`: the first error's code and title."""
    error = status.errors[0] if status.errors and isinstance(status.errors[0], dict) else {}
    title = error.get("title") or error.get("message") or ""
    return {"code": str(error.get("code", "")), "title": str(title)[:200],
            "message_id": message_id}


class FailedDeliveries:
    """Hands each `failed` status of a message the bot sent to that conversation's bot.

    The bot receives the external intent `/whatsapp_delivery_failed` (the `intents` setting
    renames it) with entities `code`, `title` and `message_id`; being external, it neither
    opens WhatsApp's window nor counts as the user writing. Each failure is handed over once
    (deduplicated like messages) and in order with the user's messages.

    Args:
        settings: `delivery_failed_intent`, `intents`, `did`.
        sent: which conversation each message we sent went to (`<did>:<id>` keys), kept
            `dedup_ttl_seconds`.
        dedup: the store of handled ids.
        dispatcher: the per-conversation queues.
        output: makes the output channel the bot's answer goes through.
    """

    def __init__(self, settings: ChattigoSettings, sent: Notes, dedup: DedupStore,
                 dispatcher: Dispatcher, output: Callable[[], Any]) -> None:
        self._enabled = settings.delivery_failed_intent
        self._intent = settings.intent_for["delivery_failed"]
        self._did = settings.did or ""
        self._sent = sent
        self._dedup = dedup
        self._dispatcher = dispatcher
        self._output = output
        self.app: Any = None

    async def accept(self, statuses: List[StatusUpdate]) -> List["asyncio.Future[None]"]:
        """Queues the failures among `statuses`; the futures of the queued ones."""
        queued = []
        for status in statuses:
            if status.status != "failed" or not self._enabled:
                continue
            found = await self._conversation(status)
            if found is None:
                continue
            sender_id, message_id, did = found
            key = f"{did}:failed:{status.id}"
            if not await self._dedup.claim(key):
                continue
            entities = failure_entities(status, message_id)
            queued.append(self._dispatcher.submit(sender_id, _Job(self, sender_id, entities, key)))
        return queued

    async def _conversation(self, status: StatusUpdate) -> Optional[Tuple[str, str, str]]:
        did = status.business_number or self._did
        for message_id in (status.biz_opaque_callback_data, status.id):
            if message_id:
                sender_id = await self._sent.get(f"{did}:{message_id}")
                if sender_id is not None:
                    return sender_id, message_id, did
        logger.info("Failed status for message %r, which this bot did not send (or sent more "
                    "than dedup_ttl_seconds ago): not handed to the bot", status.id)
        return None

    async def tell_bot(self, sender_id: str, entities: Dict[str, str], key: str) -> None:
        """Triggers the intent in the conversation; the status counts as handled after it."""
        agent = rasa_api.app_agent(self.app)
        try:
            if agent is None:
                logger.warning("Delivery failure in %r not handed over: no Rasa agent", sender_id)
            else:
                _, told = await rasa_api.update_conversation(
                    agent, sender_id, [], intent=self._intent, entities=entities,
                    output=self._output())
                logger.info("Delivery of %r to %r failed (error %r): intent %s %s",
                            entities["message_id"], sender_id, entities["code"], self._intent,
                            "triggered" if told else "is not in the bot's domain")
        except BaseException:
            await _settle(self._dedup.release, key)
            raise
        await _settle(self._dedup.complete, key)


class _Job:
    """One failure's hand-over, queued behind the conversation's earlier messages."""

    __slots__ = ("_args", "_owner")

    def __init__(self, owner: FailedDeliveries, *args: Any) -> None:
        self._owner = owner
        self._args = args

    def __call__(self) -> Any:
        return self._owner.tell_bot(*self._args)


async def _settle(mark: Callable[[str], Any], key: str) -> None:
    try:
        await mark(key)
    except Unavailable as exc:
        logger.error("Could not record the outcome of status %s: %s", key, exc)
