"""The contact-center side of a conversation: who holds it (the bot or an agent), WhatsApp's
24-hour window, and the messages sent whose failure the bot should hear about.

`Conversations` bundles them for the channel: the webhook consults it before a message
reaches the bot, and every reply Chattigo takes is reported to it (`sent_out`).
"""

import logging
from dataclasses import dataclass
from typing import Any, Optional

from rasa_chattigo.dedup import DedupStore
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import ChattigoError
from rasa_chattigo.failures import FailedDeliveries
from rasa_chattigo.handoff import Handoffs
from rasa_chattigo.logsafe import shown
from rasa_chattigo.notes import Notes, notes_from_settings
from rasa_chattigo.outbound._build import OutboundRequest
from rasa_chattigo.outbound._handoff import PAUSING_KINDS
from rasa_chattigo.settings import ChattigoSettings
from rasa_chattigo.window import Window, WindowPolicy

logger = logging.getLogger(__name__)


@dataclass
class Conversations:
    """What replies consult and update: hand-offs, WhatsApp's window, the messages sent."""

    handoffs: Handoffs
    window: Window
    policy: WindowPolicy
    sent: Notes
    failures: Optional[FailedDeliveries] = None
    track_failures: bool = False

    async def sent_out(self, did: str, recipient_id: str, request: OutboundRequest) -> None:
        """Chattigo took `request`: a hand-off pauses the bot; a message is noted so that a
        failed delivery reported later can reach the bot (`delivery_failed_intent`)."""
        if request.kind in PAUSING_KINDS:
            self.handoffs.bot_handed_off(recipient_id)
        elif self.track_failures:
            try:
                await self.sent.put(f"{did}:{request.message_id}", recipient_id)
            except ChattigoError as exc:
                logger.warning("Message %s sent, but a failure would not reach the bot: %s",
                               shown(request.message_id), shown(exc))

    def bind(self, app: Any) -> None:
        """Lets them reach the Rasa agent of the server `app` (tracker and lock stores)."""
        self.handoffs.app = self.window.app = app
        if self.failures is not None:
            self.failures.app = app


def conversations_from_settings(
    settings: ChattigoSettings, dedup: DedupStore, dispatcher: Dispatcher, output: Any
) -> Conversations:
    """Hand-offs, the window and failed deliveries; in memory only when one instance serves.

    Raises:
        ConfigError: naming `dedup_store` when its Redis URL is unusable.
    """
    shared = settings.dedup_store != "memory"
    window = Window(shared=shared)
    sent = notes_from_settings(settings, "sent", settings.dedup_ttl_seconds)
    # A pause outlives its timeout by a day in the notes, so the timeout always finds it.
    paused = notes_from_settings(settings, "paused", settings.handoff_timeout_seconds + 86400)
    return Conversations(
        Handoffs(settings, paused, shared=shared), window, WindowPolicy(settings, window), sent,
        FailedDeliveries(settings, sent, dedup, dispatcher, output),
        track_failures=bool(settings.delivery_failed_intent))
