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
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import (
    ChattigoError,
    DispatcherClosed,
    InvalidPayload,
    ProcessingFailed,
    Unavailable,
    UnknownBusinessNumber,
    WebhookRejected,
)
from rasa_chattigo.guard import WebhookGuard
from rasa_chattigo.inbound import InboundMessage, ParsedWebhook, parse_webhook
from rasa_chattigo.inbound._legacy import HANDBACK_KINDS
from rasa_chattigo.settings import ChattigoSettings

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.channel import Conversations

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


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
        conversations: hand-offs, WhatsApp's window and failed deliveries.
    """

    def __init__(
        self, channel_name: str, settings: ChattigoSettings, credentials: CredentialsProvider,
        dedup: DedupStore, dispatcher: Dispatcher, output: Callable[[], OutputChannel],
        menus: Optional[MenuMemory], conversations: Optional["Conversations"] = None,
    ) -> None:
        self._channel_name = channel_name
        self._settings = settings
        self._credentials = credentials
        self._dedup = dedup
        self._dispatcher = dispatcher
        self._output = output
        self._menus = menus
        self._conversations = conversations
        self._guard = WebhookGuard(settings)

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
            logger.warning("Webhook body refused: %s", exc)
            return _error(400, exc.reason, field=exc.field)
        except UnknownBusinessNumber as exc:
            logger.warning("Webhook for business number %s refused: no enabled credentials",
                           exc.did)
            return _error(403, str(exc))
        except Unavailable as exc:
            return _error(503, str(exc))
        except ChattigoError as exc:  # credentials store down, a row no key opens, ...
            logger.error("Webhook not processed: %s", exc)
            return _error(503, str(exc))
        return sanic_api.json_response(summary)

    async def _verify(self, request: Any) -> bytes:
        self._guard.check_content_length(request.headers.get("content-length"))
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
                           message.message_id, did)
            return False
        return True

    async def _accept(
        self, message: InboundMessage, did: str, on_new_message: OnNewMessage, app: Any
    ) -> "Optional[asyncio.Future[None]]":
        """Claims the message and queues it; None when it was claimed already (a redelivery)."""
        key = f"{did}:{message.message_id}"
        if not self._dispatcher.accepting:
            raise DispatcherClosed("shutting down, not accepting new messages")
        if not await self._dedup.claim(key):
            logger.debug("Message %s already handled, ignoring redelivery", key)
            return None
        sender_id = self._sender_id(did, message.sender_id)
        job = _Job(self, message, sender_id, key, on_new_message, app)
        try:
            return self._dispatcher.submit(sender_id, job)
        except DispatcherClosed:
            await self._settle(self._dedup.release, key)  # so a redelivery is processed
            raise

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
        """Hands one message to Rasa; marks it done, or releases it for redelivery on failure."""
        try:
            await self._deliver(message, sender_id, on_new_message, app)
        except BaseException as exc:  # cancelled at shutdown too: Chattigo must redeliver it
            if isinstance(exc, Exception):
                logger.exception("The bot failed on message %s from %s", message.message_id,
                                 sender_id)
            else:
                logger.error("Message %s from %s was not processed before shutdown",
                             message.message_id, sender_id)
            await self._settle(self._dedup.release, key)
            raise
        await self._settle(self._dedup.complete, key)

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
            logger.debug("Menu answer %r from %s becomes %r", text, sender_id, payload)
            text = payload
        return UserMessage(
            text=text, output_channel=self._output(), sender_id=sender_id,
            input_channel=self._channel_name, message_id=message.message_id,
            metadata=message.metadata,
        )

    @staticmethod
    async def _settle(mark: Callable[[str], Awaitable[None]], key: str) -> None:
        # The message was handled (or failed); a dedup store gone away since the claim must
        # not turn that into an error: the in-flight claim simply expires.
        try:
            await mark(key)
        except Unavailable as exc:
            logger.error("Could not record the outcome of message %s: %s", key, exc)


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
        except Exception:
            raise ProcessingFailed("the bot failed on a message; redeliver") from None


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


def _error(status: int, reason: str, **extra: Any) -> Any:
    return sanic_api.json_response({"status": "error", "reason": reason, **extra}, status=status)
