"""The webhook, in four steps: verify, parse, dispatch, respond; then each message to Rasa."""

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Tuple

from rasa.core.channels.channel import OutputChannel, UserMessage

from rasa_chattigo.client import CredentialsProvider
from rasa_chattigo.compat import rasa_api, sanic_api
from rasa_chattigo.conversation import MenuMemory, menu_payload
from rasa_chattigo.dedup import DedupStore
from rasa_chattigo.delivery import Inbox, Intake, MemoryStore
from rasa_chattigo.delivery._owner import new_owner_id
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import (
    ChattigoError,
    DispatcherClosed,
    InvalidPayload,
    Overloaded,
    ProcessingFailed,
    Unavailable,
    UnknownBusinessNumber,
    WebhookRejected,
)
from rasa_chattigo.guard import WebhookGuard
from rasa_chattigo.inbound import InboundMessage, ParsedWebhook, parse_webhook
from rasa_chattigo.inbound._legacy import HANDBACK_KINDS
from rasa_chattigo.logsafe import shown
from rasa_chattigo.settings import ChattigoSettings

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.contact_center import Conversations

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

#: The Retry-After of a 503 answered while `max_pending_messages` are waiting.
RETRY_AFTER_SECONDS = 5


class WebhookHandler:
    """Answers `POST /webhook` and hands each accepted message to Rasa, in order per user.

    Args:
        channel_name: Rasa's name of the input channel.
        settings: the parsed channel settings.
        credentials: finds each business number's login.
        dedup: where claimed and handled message ids are kept.
        dispatcher: the per-conversation queues.
        output: makes the output channel a message's replies go through.
        menus: the numbered menus this instance sent, when it is the only instance.
        intake: claims and keeps each message (delivery); an in-memory inbox when not given.
        conversations: hand-offs, WhatsApp's window and failed deliveries.
    """

    def __init__(
        self, channel_name: str, settings: ChattigoSettings, credentials: CredentialsProvider,
        dedup: DedupStore, dispatcher: Dispatcher, output: Callable[[], OutputChannel],
        menus: Optional[MenuMemory], intake: Optional[Intake] = None,
        conversations: Optional["Conversations"] = None,
    ) -> None:
        self._channel_name = channel_name
        self._settings = settings
        self._credentials = credentials
        self._intake = intake or Intake(dedup, Inbox(MemoryStore(), new_owner_id()))
        self._dispatcher = dispatcher
        self._output = output
        self._menus = menus
        self._conversations = conversations
        self._guard = WebhookGuard(settings)
        self._ready: Optional[asyncio.Event] = None

    async def receive(self, request: Any, on_new_message: OnNewMessage) -> Any:
        """Verify, parse, dispatch, respond; every failure becomes a JSON answer, never a 500."""
        try:
            body = await self._verify(request)
            parsed = parse_webhook(_decode(body), self._settings)
            summary = await self._dispatch(parsed, on_new_message, request.app)
        except WebhookRejected as exc:
            logger.warning("Webhook refused (%d): %s", exc.status, exc.reason)
            return _error(exc.status, exc.reason)
        except InvalidPayload as exc:
            logger.warning("Webhook body refused: %s", shown(exc))
            return _error(400, exc.reason, field=exc.field)
        except UnknownBusinessNumber as exc:
            logger.warning("Webhook for business number %s refused: no enabled credentials",
                           shown(exc.did))
            return _error(403, str(exc))
        except Overloaded as exc:
            logger.warning("Webhook refused for now: %s", exc)
            return _error(503, str(exc), headers={"Retry-After": str(exc.retry_after)})
        except Unavailable as exc:
            return _error(503, str(exc))
        except ChattigoError as exc:  # credentials store down, a row no key opens, ...
            logger.error("Webhook not processed: %s", shown(exc))
            return _error(503, str(exc))
        return sanic_api.json_response(summary)

    async def _verify(self, request: Any) -> bytes:
        try:
            self._guard.check_content_length(request.headers.get("content-length"))
        except WebhookRejected:
            sanic_api.refuse_body(request)  # never read (nor spin on) a body announced so
            raise
        body = await sanic_api.read_body(request, self._settings.max_body_bytes)
        self._guard.check(
            headers=request.headers, query=sanic_api.request_query(request),
            peer_ip=sanic_api.request_peer_ip(request), body=body,
        )
        return body

    async def _dispatch(
        self, parsed: ParsedWebhook, on_new_message: OnNewMessage, app: Any
    ) -> Dict[str, Any]:
        accepted: List[asyncio.Future[None]] = []
        duplicates, unknown = 0, []
        for message in parsed.messages:
            did = message.business_number or self._settings.did or ""
            if not await self._known(did, message):
                unknown.append((did, message.message_id))
                continue
            done = await self._accept(message, did, on_new_message, app)
            if done is None:
                duplicates += 1
            else:
                accepted.append(done)
        if unknown and not accepted and not duplicates:
            raise UnknownBusinessNumber(unknown[0][0])
        handled = len(accepted)
        failures = self._conversations.failures if self._conversations else None
        if failures is not None and parsed.statuses:
            accepted += await failures.accept(parsed.statuses)  # failed ones, to the bot
        if self._settings.ack == "inline":
            await _wait_inline(accepted)
        return _summary(parsed, handled, duplicates, unknown)

    async def _known(self, did: str, message: InboundMessage) -> bool:
        try:
            await self._credentials.get(did)
        except UnknownBusinessNumber:
            logger.warning("Message %s for business number %s refused: no enabled credentials",
                           shown(message.message_id), shown(did))
            return False
        return True

    async def _accept(
        self, message: InboundMessage, did: str, on_new_message: OnNewMessage, app: Any
    ) -> "Optional[asyncio.Future[None]]":
        """Claims, keeps and queues the message; None when it was claimed already."""
        key = f"{did}:{message.message_id}"
        if not self._dispatcher.accepting:
            raise DispatcherClosed("shutting down, not accepting new messages")
        pending = self._dispatcher.pending
        if pending >= self._settings.max_pending_messages:
            raise Overloaded(pending, RETRY_AFTER_SECONDS)
        sender_id = self._sender_id(did, message.sender_id)
        if not await self._intake.accept(key, sender_id, message):
            logger.debug("Message %s already handled or being handled, ignoring redelivery",
                         shown(key))
            return None
        return self._submit(message, sender_id, key, on_new_message, app)

    def _submit(self, message: InboundMessage, sender_id: str, key: str,
                on_new_message: OnNewMessage, app: Any) -> "asyncio.Future[None]":
        job = _Job(self, message, sender_id, key, on_new_message, app)
        return self._dispatcher.submit(sender_id, job)  # closed: `Delivery.stop` releases it

    async def resume(self, on_new_message: OnNewMessage, app: Any) -> None:
        """Queues what the inbox holds for this instance (left by a crash, a stop or a dead
        instance), in arrival order, before any new message of the same conversation.
        """
        for key, sender_id, message in await self._intake.resume():
            if self._dispatcher.accepting:
                self._submit(message, sender_id, key, on_new_message, app)

    def open(self) -> None:
        """Lets queued messages reach the bot (Rasa's agent is loaded by now)."""
        self._gate().set()

    def _gate(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    def _sender_id(self, did: str, number: str) -> str:
        # One number served: the user's number, exactly as received. Several: prefixed by the
        # business number, so the same person on two numbers is two conversations.
        if self._settings.credentials_store is None:
            return number
        return f"{did}:{number}"

    async def handle(
        self, message: InboundMessage, sender_id: str, key: str,
        on_new_message: OnNewMessage, app: Any,
    ) -> None:
        """Hands one message to Rasa, and settles it in the inbox and the dedup store.

        A store the bot needs being down (Rasa's tracker or lock store, the dedup store) is
        a passing failure: the message stays in the inbox and is tried again at the next
        upkeep round (and `ack: inline` answers 503), for up to an hour. Any other failure
        is a poison message: logged with its id and reason, marked done all the same (a
        redelivery would fail again, for ever) and answered with `fallback_reply`. Only a
        shutdown keeps it in the inbox, for the next start.

        Raises:
            ProcessingFailed: after a passing failure (the dispatcher's future carries it).
        """
        try:
            await self._gate().wait()
            await self._deliver(message, sender_id, on_new_message, app)
        except Exception as exc:
            passing = isinstance(exc, Unavailable) or rasa_api.is_transient(exc)
            if passing and self._intake.may_retry(key):
                logger.warning("Message %s from %s not processed for now (%s: %s); kept in the "
                               "inbox and tried again", shown(message.message_id),
                               shown(sender_id), type(exc).__name__, shown(exc))
                await self._intake.retry_later(key)
                raise ProcessingFailed("a store the bot needs is down; redeliver") from None
            logger.error("The bot failed on message %s from %s (%s: %s); answered with the "
                         "fallback reply, not redelivered", shown(message.message_id),
                         shown(sender_id), type(exc).__name__, shown(exc),
                         exc_info=logger.isEnabledFor(logging.DEBUG))
            await self._intake.done(key)
            await self._fallback(sender_id)
            return
        except BaseException:  # cancelled at shutdown: kept in the inbox for the next start
            logger.warning("Message %s from %s was not processed before shutdown",
                           shown(message.message_id), shown(sender_id))
            await self._intake.stopped(key)
            raise
        await self._intake.done(key)

    async def _fallback(self, sender_id: str) -> None:
        try:
            await self._output().send_text_message(sender_id, self._settings.fallback_reply)
        except Exception as exc:  # the output channel logs its own failures; this is a bug
            logger.error("Fallback reply to %s failed: %s", shown(sender_id), type(exc).__name__)

    async def _deliver(
        self, message: InboundMessage, sender_id: str, on_new_message: OnNewMessage, app: Any
    ) -> None:
        """A hand-back to the bot's hand-off logic; a user message to Rasa (issue 14, 15)."""
        conversations = self._conversations
        if conversations is None:
            await on_new_message(await self._user_message(message, sender_id, app))
            return
        conversations.bind(app)
        handback = message.kind in HANDBACK_KINDS and message.metadata.get("format") == "legacy"
        if handback and (rasa_api.app_agent(app) is not None or message.kind == "close"):
            await conversations.handoffs.hand_back(sender_id, self._output(), message.kind)
            return
        if not handback:  # without a Rasa agent (a custom server) the bot gets it as a message
            conversations.window.user_wrote(sender_id)
            await conversations.handoffs.expire(sender_id)
        await on_new_message(await self._user_message(message, sender_id, app))
        await conversations.handoffs.settle(sender_id)

    async def _user_message(
        self, message: InboundMessage, sender_id: str, app: Any
    ) -> UserMessage:
        text = message.text
        payload = await menu_payload(
            text, sender_id, typed=message.kind == "text", memory=self._menus,
            tracker_store=rasa_api.app_tracker_store(app))
        if payload is not None:
            logger.debug("Menu answer %r from %s becomes %r", shown(text), shown(sender_id),
                         shown(payload))
            text = payload
        return UserMessage(
            text=text, output_channel=self._output(), sender_id=sender_id,
            input_channel=self._channel_name, message_id=message.message_id,
            metadata=message.metadata,
        )


class _Job:
    """One message's processing, queued behind the same user's earlier messages."""

    __slots__ = ("_args", "_handler")

    def __init__(self, handler: WebhookHandler, *args: Any) -> None:
        self._handler = handler
        self._args = args

    def __call__(self) -> Awaitable[None]:
        return self._handler.handle(*self._args)


async def _wait_inline(accepted: List["asyncio.Future[None]"]) -> None:
    """`ack: inline`: answers only once every accepted message was handled."""
    for done in accepted:
        try:
            await done
        except asyncio.CancelledError:
            if not done.cancelled():
                raise  # this request itself was cancelled
            raise ProcessingFailed("shut down before the message was processed; "
                                   "redeliver") from None
        except Exception:  # a passing failure: the message waits in the inbox meanwhile
            raise ProcessingFailed("a store the bot needs is down; redeliver") from None


def _summary(
    parsed: ParsedWebhook, accepted: int, duplicates: int, unknown: List[Tuple[str, str]]
) -> Dict[str, Any]:
    problems = [{"field": p.field, "reason": p.reason} for p in parsed.problems]
    problems += [{"field": "business_number", "message_id": message_id,
                  "reason": f"no enabled credentials for {did}"}
                 for did, message_id in unknown]
    return {
        "status": "ok",
        "messages": accepted,
        "duplicates": duplicates,
        "statuses": len(parsed.statuses),
        "ignored": len(parsed.ignored),
        "problems": problems,
    }


def _decode(body: bytes) -> Any:
    if not body:
        raise InvalidPayload("body", "empty body: expected a JSON object")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload("body", "not valid JSON") from None
    except RecursionError:
        raise InvalidPayload("body", "JSON nested too deeply") from None


def _error(status: int, reason: str, headers: Optional[Dict[str, str]] = None,
           **extra: Any) -> Any:
    return sanic_api.json_response({"status": "error", "reason": reason, **extra}, status=status,
                                   headers=headers)
