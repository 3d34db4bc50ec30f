"""Rasa glue: the `chattigo` input channel (webhook); its output channel is in `output`."""

import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel

from rasa_chattigo.client import ChattigoClient, CredentialsProvider
from rasa_chattigo.compat import rasa_api, sanic_api
from rasa_chattigo.contact_center import conversations_from_settings
from rasa_chattigo.conversation import MenuMemory
from rasa_chattigo.credentials._providers import provider_from_settings
from rasa_chattigo.dedup import DedupStore, dedup_store_from_settings
from rasa_chattigo.delivery import Delivery
from rasa_chattigo.delivery._owner import new_owner_id
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import ChattigoError, ChattigoStartupError
from rasa_chattigo.front import Front
from rasa_chattigo.logsafe import install_redaction
from rasa_chattigo.output import CHANNEL_NAME, ChattigoOutput
from rasa_chattigo.pacing import start_gate
from rasa_chattigo.runtime import freeze_startup_heap, warn_slow_action_check
from rasa_chattigo.settings import ChattigoSettings, parse_settings
from rasa_chattigo.turn import Turns
from rasa_chattigo.webhook import OnNewMessage, WebhookHandler

logger = logging.getLogger(__name__)

__all__ = ["CHANNEL_NAME", "ChattigoInput", "ChattigoOutput"]


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
        self.front = None if settings.front_port is None else Front(
            settings, self.dispatcher, self._turns, lambda: self.conversations.failures)
        if self.front is not None and self.front.shares_store:
            self.delivery.renew_also(self.front.owner)

    def _turns(self, intake: Any) -> Turns:
        """Turns settling through `intake` (the webhook front's messages)."""
        return Turns(CHANNEL_NAME, self.settings, intake, self.get_output_channel, self.menus,
                     self.conversations)

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
            if self.front is not None:
                await self.front.start(on_new_message, app)

        return resume

    async def _ready(self, app: Any) -> None:
        # Rasa's own start-up has loaded the model by now.
        if self.settings.gc_freeze:
            freeze_startup_heap()
        warn_slow_action_check(rasa_api.app_agent(app))
        self.webhook.open()  # queued messages may reach the agent now
        if self.front is not None:
            self.front.open()

    async def _finish(self, app: Any) -> None:
        if self.front is not None:
            self.front.close()
        await self.dispatcher.drain(self.settings.shutdown_grace_seconds)
        if self.front is not None:
            await self.front.stop()
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
