"""Rasa glue: the `chattigo` input channel (webhook) and output channel (Chattigo send API)."""

import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel

from rasa_chattigo.client import ChattigoClient, CredentialsProvider
from rasa_chattigo.compat import sanic_api
from rasa_chattigo.contact_center import Conversations, conversations_from_settings
from rasa_chattigo.conversation import MenuMemory
from rasa_chattigo.credentials._providers import default_did, provider_from_settings
from rasa_chattigo.dedup import DedupStore, dedup_store_from_settings
from rasa_chattigo.delivery import SENT, Delivery, Outbox
from rasa_chattigo.delivery._owner import new_owner_id
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import ChattigoError, ChattigoStartupError, UnknownBusinessNumber
from rasa_chattigo.logsafe import install_redaction, shown
from rasa_chattigo.outbound._build import OutboundRequest, SendContext, build_requests
from rasa_chattigo.pacing import start_gate
from rasa_chattigo.runtime import freeze_startup_heap
from rasa_chattigo.settings import ChattigoSettings, parse_settings
from rasa_chattigo.webhook import OnNewMessage, WebhookHandler

logger = logging.getLogger(__name__)

CHANNEL_NAME = "chattigo"


class ChattigoOutput(OutputChannel):
    """Sends everything the bot says through Chattigo's send API.

    The recipient id is the user's number, or `<did>:<number>` when several business numbers
    are served, so replies leave from the number the user wrote to.

    Attributes:
        spoke: whether a response reached `send_response` (a turn that spoke is never retried).
        on_first_reply: awaited once, after the first response went out (or was kept, or
            refused), unless it handed the chat to an agent: the turn then settles its
            message, so a crash later in the turn does not have another instance repeat what
            it said.
    """

    def __init__(
        self,
        client: ChattigoClient,
        settings: ChattigoSettings,
        credentials: CredentialsProvider,
        menus: Optional[MenuMemory] = None,
        outbox: Optional[Outbox] = None,
        conversations: Optional[Conversations] = None,
    ) -> None:
        super().__init__()  # Rasa Pro keeps response-delivery state there; Rasa 3.6 has none
        self.spoke = False
        self.on_first_reply: Optional[Callable[[], Awaitable[None]]] = None
        self._client = client
        self._settings = settings
        self._credentials = credentials
        self._menus = menus
        self._outbox = outbox
        self._conversations = conversations

    @classmethod
    def name(cls) -> str:
        """The channel's name, as Rasa's `output_channel` query parameter uses it."""
        return CHANNEL_NAME

    @property
    def wants_tracker_state(self) -> bool:
        """Rasa Pro: no serialized tracker state is needed to send (saves its cost per turn)."""
        return False

    def _address(self, recipient_id: str) -> "tuple[str, str]":
        did, sep, msisdn = recipient_id.rpartition(":")
        if sep:
            return did, msisdn
        fallback = default_did(self._credentials, self._settings)
        if fallback is None:
            raise UnknownBusinessNumber("(none: recipient id names no business number)")
        return fallback, recipient_id

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Sends one bot response (any mix of kinds); a failure is logged, never raised."""
        try:
            did, msisdn = self._address(recipient_id)
            login = await self._credentials.get(did)
            context = SendContext(did=did, msisdn=msisdn, bot_name=login.bot_name,
                                  channel=self._settings.channel,
                                  text_limit=self._settings.max_text_length)
            requests = build_requests(message, context, self._settings)
        except ChattigoError as exc:
            logger.error("Cannot send a reply to %s: %s", shown(recipient_id), shown(exc))
            return
        self.spoke = True  # the turn says something: trying it again would repeat it
        if self._menus is not None:
            self._menus.remember(recipient_id, message)
        await self._say(did, recipient_id, requests, str(message.get("text") or ""), context)
        first_reply, self.on_first_reply = self.on_first_reply, None
        if first_reply is not None and not self._handing_off(recipient_id):
            await first_reply()

    def _handing_off(self, recipient_id: str) -> bool:
        """Whether this reply handed the chat to an agent: its message is then settled only
        once the pause is in the tracker (a crash before would leave the bot answering)."""
        conversations = self._conversations
        return conversations is not None and conversations.handoffs.handing_off(recipient_id)

    async def _say(self, did: str, recipient_id: str, requests: List[OutboundRequest],
                   text: str, context: SendContext) -> None:
        if self._conversations is not None:
            try:
                requests = await self._conversations.policy.apply(
                    recipient_id, requests, text, context)
            except ChattigoError as exc:
                logger.error("Cannot send a reply to %s: %s", shown(recipient_id), shown(exc))
                return
        for request in requests:
            if await self._send(did, recipient_id, request) and self._conversations is not None:
                await self._conversations.sent_out(did, recipient_id, request)

    async def _send(self, did: str, recipient_id: str, request: OutboundRequest) -> bool:
        """Sends one request; False when it did not go out now (refused, test mode, or kept
        in the outbox, which tells `Conversations.sent_out` once it goes)."""
        if not self._settings.sending_enabled:
            logger.info("[TEST MODE] would send to %s via %s: %s", shown(request.recipient),
                        request.path, shown(json.dumps(request.json, ensure_ascii=False),
                                            limit=10_000))
            return False
        if self._outbox is not None:  # keeps and retries, in order, what Chattigo does not take
            return await self._outbox.send(did, recipient_id, request) == SENT
        try:
            await self._client.send(did, request)
        except ChattigoError as exc:
            logger.error("Reply %s to %s from DID %s was not delivered: %s",
                         request.message_id, shown(request.recipient), shown(did), shown(exc))
            return False
        return True

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Sends a text (split when longer than WhatsApp allows)."""
        await self.send_response(recipient_id, {"text": text})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        """Sends an image by URL."""
        await self.send_response(recipient_id, {"image": image})

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        """Sends a file by URL (or a dict with url, mime type, filename, caption)."""
        await self.send_response(recipient_id, {"attachment": attachment})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """Sends a text with buttons (a numbered menu unless `buttons: native`)."""
        await self.send_response(recipient_id, {"text": text, "buttons": buttons})

    async def send_buttons(
        self, recipient_id: str, buttons: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """Rasa Pro: buttons without text (after a text sent on its own): the menu alone."""
        if buttons:
            await self.send_response(recipient_id, {"text": "", "buttons": buttons})

    async def hangup(self, recipient_id: str, **kwargs: Any) -> None:
        """Rasa Pro: the bot ends the conversation. A WhatsApp chat has no call to hang up."""
        logger.debug("Conversation with %s ended by the bot", recipient_id)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """Sends a text with quick replies, like buttons."""
        await self.send_response(recipient_id, {"text": text, "quick_replies": quick_replies})

    async def send_elements(
        self, recipient_id: str, elements: List[Dict[str, Any]], **kwargs: Any
    ) -> None:
        """Sends generic-template elements as a sequence of messages."""
        await self.send_response(recipient_id, {"elements": elements})

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        """Sends a Chattigo payload as written, filling in the addressing fields."""
        await self.send_response(recipient_id, {"custom": json_message})


class ChattigoInput(InputChannel):
    """Receives Chattigo's webhooks (WhatsApp Cloud API JSON, or the legacy flat format).

    Args:
        settings: the parsed channel settings.
        credentials: finds each business number's login.
        client: the Chattigo client; one is made from the settings when not given.
        dedup: the store of processed message ids; made from `dedup_store` at start-up.
        delivery: the inbox and outbox; made from `inbox_store` at start-up.
    """

    def __init__(
        self,
        settings: ChattigoSettings,
        credentials: CredentialsProvider,
        *,
        client: Optional[ChattigoClient] = None,
        dedup: Optional[DedupStore] = None,
        delivery: Optional[Delivery] = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.client = client or ChattigoClient(settings, credentials)
        self.dispatcher = Dispatcher(start_gate(settings))
        self.dedup = dedup or dedup_store_from_settings(settings, owner=new_owner_id())
        self.delivery = delivery or Delivery(settings, self.client, self.dedup)
        # Menus held in memory are only sound when no other instance serves these numbers.
        self.menus = MenuMemory() if settings.dedup_store == "memory" else None
        self.conversations = conversations_from_settings(
            settings, self.dedup, self.dispatcher, self.get_output_channel)
        self.delivery.outbox.delivered = self.conversations.sent_out  # a kept hand-off
        self.webhook = WebhookHandler(CHANNEL_NAME, settings, credentials, self.dedup,
                                      self.dispatcher, self.get_output_channel, self.menus,
                                      self.delivery.intake, self.conversations)

    @classmethod
    def name(cls) -> str:
        """The channel's name: webhooks live under /webhooks/chattigo/."""
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "ChattigoInput":
        """Builds the channel and everything it uses from its block of credentials.yml.

        Every setting is checked here, and every store and client is built here, so a wrong
        one stops `rasa run` with one line naming the key instead of failing on the first
        webhook.

        Raises:
            ChattigoStartupError: naming the setting that is wrong.
        """
        try:
            settings = parse_settings(credentials)
            return cls(settings, provider_from_settings(settings))
        except ChattigoError as exc:
            # Rasa prints a RasaException as one line and exits: no traceback at start-up.
            raise ChattigoStartupError(exc) from None

    def get_output_channel(self) -> OutputChannel:
        """The output channel for proactive messages (`trigger_intent?output_channel=chattigo`)."""
        return ChattigoOutput(self.client, self.settings, self.credentials, self.menus,
                              self.delivery.outbox, self.conversations)

    def blueprint(self, on_new_message: OnNewMessage) -> sanic_api.Blueprint:
        """The webhook routes: a health check and the webhook itself."""
        bp = sanic_api.new_blueprint(f"chattigo_webhook_{id(self)}")
        install_redaction(self.settings.webhook_token or "")
        sanic_api.guard_content_length(bp)

        @bp.get("/")
        async def health(request: sanic_api.Request) -> sanic_api.HTTPResponse:
            return sanic_api.json_response({"status": "ok"})

        @bp.post("/webhook", stream=True)  # read here, so an oversized body is never buffered
        async def webhook(request: sanic_api.Request) -> sanic_api.HTTPResponse:
            return await self.webhook.receive(request, on_new_message)

        sanic_api.add_listener(bp, "before_server_start", self._resume(on_new_message))
        sanic_api.add_listener(bp, "after_server_start", self._ready)
        sanic_api.add_listener(bp, "before_server_stop", self._finish)
        sanic_api.add_listener(bp, "after_server_stop", self._close)
        _add_admin_routes(bp, self)
        return bp

    def _resume(self, on_new_message: OnNewMessage) -> Callable[[Any], Awaitable[None]]:
        async def resume(app: Any) -> None:
            self.conversations.bind(app)
            await self.delivery.start(lambda: self.webhook.resume(on_new_message, app))

        return resume

    async def _ready(self, app: Any) -> None:
        # Rasa's own start-up has loaded the model by now.
        if self.settings.gc_freeze:
            freeze_startup_heap()
        self.webhook.open()  # queued messages may reach the agent now

    async def _finish(self, app: Any) -> None:
        await self.dispatcher.drain(self.settings.shutdown_grace_seconds)
        await self.conversations.handoffs.close()
        await self.delivery.stop()

    async def _close(self, app: Any) -> None:
        await self.client.aclose()
        await self.dedup.aclose()
        await self.delivery.aclose()
        await self.conversations.sent.aclose()
        await self.conversations.handoffs.notes.aclose()
        store = getattr(self.credentials, "store", None)
        if store is not None:
            store.close()


def _add_admin_routes(bp: sanic_api.Blueprint, channel: ChattigoInput) -> None:
    """Mounts the credentials admin API when an admin token is configured (parse_settings
    refuses one without a credentials_store, whose provider holds the `store`)."""
    store = getattr(channel.credentials, "store", None)
    if not channel.settings.admin_token or store is None:
        return
    from rasa_chattigo.credentials._admin_api import add_admin_routes

    async def login_check(did: str) -> None:
        channel.client.forget(did)
        await channel.client.login(did)

    add_admin_routes(bp, store, admin_token=channel.settings.admin_token,
                     login_check=login_check)
