"""The webhook, in four steps: verify, parse, dispatch, respond (each message's turn with
Rasa is `turn.Turns`)."""

import asyncio
import hashlib
import json
import logging
import traceback
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from rasa.core.channels.channel import OutputChannel

from rasa_chattigo.client import CredentialsProvider
from rasa_chattigo.compat import sanic_api
from rasa_chattigo.conversation import MenuMemory
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
from rasa_chattigo.inbound import InboundMessage, ParsedWebhook, StatusUpdate, parse_webhook
from rasa_chattigo.logsafe import shown
from rasa_chattigo.settings import ChattigoSettings
from rasa_chattigo.turn import OnNewMessage, Turns

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.contact_center import Conversations

logger = logging.getLogger(__name__)

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
        self._conversations = conversations
        self._guard = WebhookGuard(settings)
        self._turns = Turns(channel_name, settings, self._intake, output, menus, conversations)

    async def receive(self, request: Any, on_new_message: OnNewMessage) -> Any:
        """Verify, parse, dispatch, respond; every failure becomes a JSON answer, never a 500."""
        try:
            body = await self._verify(request)
            summary = await self._handle(body, on_new_message, request.app)
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
        except Exception as exc:  # a bug past the parser: asked again (dedup), never a 500
            logger.error("Webhook not processed, Chattigo is asked to send it again: %s",
                         _bug(exc))
            return _error(503, "internal error; send it again")
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

    async def _handle(self, body: bytes, on_new_message: OnNewMessage, app: Any
                      ) -> Dict[str, Any]:
        """Parses and dispatches, the running jobs letting that finish first (`handling`);
        then, with `ack: inline`, waits for the accepted messages' turns."""
        with self._dispatcher.handling():
            parsed = _parse(body, self._settings)
            summary, accepted = await self._dispatch(parsed, on_new_message, app)
        if self._settings.ack == "inline":
            await _wait_inline(accepted)
        return summary

    async def _dispatch(
        self, parsed: ParsedWebhook, on_new_message: OnNewMessage, app: Any
    ) -> Tuple[Dict[str, Any], List["asyncio.Future[None]"]]:
        """Claims, keeps and queues what `parsed` holds: the answer's content, and a future for
        each message or status accepted (`ack: inline` waits for them)."""
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
        if parsed.statuses:
            accepted += await self._pass_statuses(parsed.statuses)
        return _summary(parsed, handled, duplicates, unknown), accepted

    async def _pass_statuses(self, statuses: List[StatusUpdate]) -> List["asyncio.Future[None]"]:
        """Queues the failed deliveries among `statuses` for the bot; their futures."""
        failures = self._conversations.failures if self._conversations else None
        return [] if failures is None else await failures.accept(statuses)

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
        job = self._turns.job(message, sender_id, key, on_new_message, app)
        return self._dispatcher.submit(sender_id, job)  # closed: `Delivery.stop` releases it

    async def resume(self, on_new_message: OnNewMessage, app: Any) -> None:
        """Queues what the inbox holds for this instance (left by a crash, a stop or a dead
        instance), in arrival order, before any new message of the same conversation.
        """
        for key, sender_id, message, _ in await self._intake.resume():
            if self._dispatcher.accepting:
                self._submit(message, sender_id, key, on_new_message, app)

    def open(self) -> None:
        """Lets queued messages reach the bot (Rasa's agent is loaded by now)."""
        self._turns.open()

    def _sender_id(self, did: str, number: str) -> str:
        # One number served: the user's number, exactly as received. Several: prefixed by the
        # business number, so the same person on two numbers is two conversations.
        if self._settings.credentials_store is None:
            return number
        return f"{did}:{number}"


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


def _parse(body: bytes, settings: ChattigoSettings) -> ParsedWebhook:
    """The body's messages; a parser bug costs this request a 400 (logged), never a 500."""
    try:
        return parse_webhook(_decode(body), settings, raw=body)
    except ChattigoError:
        raise
    except Exception as exc:  # the fuzz tests look for these; one they missed lands here
        logger.error("Webhook body refused: the parser failed (%s); body of %d bytes, "
                     "sha256 %s", _bug(exc), len(body), hashlib.sha256(body).hexdigest()[:16])
        raise InvalidPayload("body", "could not be parsed") from None


def _bug(exc: Exception) -> str:
    """`Type: message, at file:line`, the line being the innermost one of this package."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [frame for frame in frames if "rasa_chattigo" in frame.filename] or frames[-1:]
    where = f", at {ours[-1].filename}:{ours[-1].lineno}" if ours else ""
    return f"{type(exc).__name__}: {shown(exc)}{where}"


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
