"""Rasa's output channel for Chattigo: every bot response out through Chattigo's send API."""

import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import OutputChannel

from rasa_chattigo.client import ChattigoClient, CredentialsProvider
from rasa_chattigo.contact_center import Conversations
from rasa_chattigo.conversation import MenuMemory
from rasa_chattigo.credentials._providers import default_did
from rasa_chattigo.delivery import SENT, Outbox
from rasa_chattigo.errors import ChattigoError, UnknownBusinessNumber
from rasa_chattigo.logsafe import shown
from rasa_chattigo.outbound._build import OutboundRequest, SendContext, build_requests
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

#: Rasa's name of the channel, input and output alike.
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
