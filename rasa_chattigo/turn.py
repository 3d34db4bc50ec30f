"""Each accepted message's turn: to Rasa once its agent is loaded, then settled in the inbox
and the dedup store. A hand-back from Chattigo's agents goes to the hand-off logic instead."""

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import OutputChannel, UserMessage

from rasa_chattigo.compat import nlu_ahead, rasa_api
from rasa_chattigo.conversation import MenuMemory, menu_payload
from rasa_chattigo.delivery import Intake
from rasa_chattigo.errors import ProcessingFailed, Unavailable
from rasa_chattigo.inbound import InboundMessage
from rasa_chattigo.inbound._legacy import HANDBACK_KINDS
from rasa_chattigo.logsafe import shown
from rasa_chattigo.settings import ChattigoSettings

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.contact_center import Conversations

logger = logging.getLogger(__name__)

#: The first wait before a turn is tried again while a store is down; it doubles up to the max.
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class Turns:
    """Hands accepted messages to Rasa, once `open` says its agent is loaded.

    Args:
        channel_name: Rasa's name of the input channel.
        settings: the parsed channel settings.
        intake: settles each message's claim and inbox copy.
        output: makes the output channel a message's replies go through.
        menus: the numbered menus this instance sent, when it is the only instance.
        conversations: hand-offs, WhatsApp's window and failed deliveries.
    """

    def __init__(
        self, channel_name: str, settings: ChattigoSettings, intake: Intake,
        output: Callable[[], OutputChannel], menus: Optional[MenuMemory],
        conversations: Optional["Conversations"],
    ) -> None:
        self._channel_name = channel_name
        self._settings = settings
        self._intake = intake
        self._output = output
        self._menus = menus
        self._conversations = conversations
        self._opened: Optional[asyncio.Event] = None

    def open(self) -> None:
        """Lets queued messages reach the bot (Rasa's agent is loaded by now)."""
        self._ready.set()

    @property
    def _ready(self) -> asyncio.Event:
        if self._opened is None:  # made on the serving loop, at first use
            self._opened = asyncio.Event()
        return self._opened

    def job(self, message: InboundMessage, sender_id: str, key: str,
            on_new_message: OnNewMessage, app: Any) -> "_Job":
        """The message's turn, to queue behind the same user's earlier messages."""
        return _Job(self, message, sender_id, key, on_new_message, app)

    async def handle(
        self, message: InboundMessage, sender_id: str, key: str,
        on_new_message: OnNewMessage, app: Any,
    ) -> None:
        """Hands one message to Rasa, and settles it in the inbox and the dedup store.

        A store the bot needs being down (Rasa's tracker or lock store, the dedup store)
        before the turn sent anything is a passing failure: the turn is tried again, with
        backoff, for up to an hour, holding the user's later messages behind it (`ack:
        inline` answers 503 instead, and the message waits in the inbox for the next upkeep
        round or Chattigo's redelivery). Any other failure, or one after the turn replied,
        is a poison message: logged with its id and reason, marked done all the same (a
        redelivery would fail again, for ever, or repeat the replies) and answered with
        `fallback_reply` if the turn had said nothing. A shutdown keeps it in the inbox for
        the next start, unless its turn had replied.

        Raises:
            ProcessingFailed: `ack: inline` after a passing failure (the dispatcher's future
                carries it to the webhook, which answers 503).
        """
        output = self._output()  # one for every try: a try that spoke is the last
        # settled once it replies: a crash later in the turn must not repeat the reply
        _on_first_reply(output, functools.partial(self._intake.done, key))
        try:
            await self._ready.wait()
            await self._turn(message, sender_id, key, output, on_new_message, app)
        except ProcessingFailed:
            raise
        except Exception as exc:
            logger.error("The bot failed on message %s from %s (%s: %s); not redelivered",
                         shown(message.message_id), shown(sender_id), type(exc).__name__,
                         shown(exc), exc_info=logger.isEnabledFor(logging.DEBUG))
            await self._intake.done(key)
            if not _spoke(output):
                await self._fallback(sender_id)
            return
        except BaseException:  # cancelled at shutdown
            await self._cut_short(message, sender_id, key, output)
            raise
        await self._intake.done(key)

    async def _cut_short(
        self, message: InboundMessage, sender_id: str, key: str, output: OutputChannel
    ) -> None:
        """Kept in the inbox for the next start, unless its replies went out (they would go
        twice)."""
        if _spoke(output):
            logger.warning("Message %s from %s was cut short by shutdown after its turn "
                           "replied; not kept", shown(message.message_id), shown(sender_id))
            await self._intake.done(key)
        else:
            logger.warning("Message %s from %s was not processed before shutdown",
                           shown(message.message_id), shown(sender_id))
            await self._intake.stopped(key)

    async def _turn(
        self, message: InboundMessage, sender_id: str, key: str, output: OutputChannel,
        on_new_message: OnNewMessage, app: Any,
    ) -> None:
        """One turn, tried again while a store is down and the turn has said nothing yet."""
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                await self._deliver(message, sender_id, output, on_new_message, app)
                return
            except Exception as exc:
                passing = isinstance(exc, Unavailable) or rasa_api.is_transient(exc)
                if not passing or _spoke(output) or not self._intake.may_retry(key):
                    raise
                failure = exc
            if self._settings.ack == "inline":
                _log_passing(message, sender_id, failure,
                             "kept in the inbox; Chattigo is asked to redeliver")
                await self._intake.retry_later(key)
                raise ProcessingFailed("a store the bot needs is down; redeliver")
            _log_passing(message, sender_id, failure, f"trying again in {delay:.1f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def _fallback(self, sender_id: str) -> None:
        try:
            await self._output().send_text_message(sender_id, self._settings.fallback_reply)
        except Exception as exc:  # the output channel logs its own failures; this is a bug
            logger.error("Fallback reply to %s failed: %s", shown(sender_id), type(exc).__name__)

    async def _deliver(
        self, message: InboundMessage, sender_id: str, output: OutputChannel,
        on_new_message: OnNewMessage, app: Any,
    ) -> None:
        """A hand-back to the bot's hand-off logic; a user message to Rasa (issue 14, 15)."""
        conversations = self._conversations
        if conversations is None:
            await on_new_message(await self._user_message(message, sender_id, output, app))
            return
        conversations.bind(app)
        handback = message.kind in HANDBACK_KINDS and message.metadata.get("format") == "legacy"
        if handback and (rasa_api.app_agent(app) is not None or message.kind == "close"):
            await conversations.handoffs.hand_back(sender_id, output, message.kind)
            return
        if not handback:  # without a Rasa agent (a custom server) the bot gets it as a message
            conversations.window.user_wrote(sender_id)
            await conversations.handoffs.expire(sender_id)
        await on_new_message(await self._user_message(message, sender_id, output, app))
        await conversations.handoffs.settle(sender_id)

    async def _user_message(
        self, message: InboundMessage, sender_id: str, output: OutputChannel, app: Any
    ) -> UserMessage:
        text = message.text
        payload = await menu_payload(
            text, sender_id, typed=message.kind == "text", memory=self._menus,
            tracker_store=rasa_api.app_tracker_store(app))
        if payload is not None:
            logger.debug("Menu answer %r from %s becomes %r", shown(text), shown(sender_id),
                         shown(payload))
            text = payload
        user_message = UserMessage(
            text=text, output_channel=output, sender_id=sender_id,
            input_channel=self._channel_name, message_id=message.message_id,
            metadata=message.metadata,
        )
        if self._settings.parse_ahead:
            parsed_by = await nlu_ahead.parse_ahead(rasa_api.app_agent(app), user_message)
            if parsed_by is not None:
                await asyncio.sleep(0)  # the rest of the turn is a step of its own: webhooks first
                # the agent read again: `PUT /model` replaces it
                nlu_ahead.drop_if_replaced(parsed_by, rasa_api.app_agent(app), user_message)
        return user_message


class _Job:
    """One message's processing, queued behind the same user's earlier messages."""

    __slots__ = ("_args", "_handler")

    def __init__(self, handler: Turns, *args: Any) -> None:
        self._handler = handler
        self._args = args

    def __call__(self) -> Awaitable[None]:
        return self._handler.handle(*self._args)


def _spoke(output: Any) -> bool:
    """Whether the turn sent (or kept in the outbox) anything through `output`."""
    return bool(getattr(output, "spoke", False))


def _on_first_reply(output: Any, settle: Callable[[], Awaitable[None]]) -> None:
    """Has `output` (when it is Chattigo's) settle the message after its first reply."""
    if hasattr(output, "on_first_reply"):
        output.on_first_reply = settle


def _log_passing(message: InboundMessage, sender_id: str, exc: Exception, then: str) -> None:
    logger.warning("Message %s from %s not processed for now (%s: %s); %s",
                   shown(message.message_id), shown(sender_id), type(exc).__name__, shown(exc),
                   then)
