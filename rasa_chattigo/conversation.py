"""Reads the conversation so far: which numbered menu a user's answer refers to."""

import logging
from typing import Any, Optional

from rasa.shared.core.events import BotUttered, UserUttered

from rasa_chattigo.outbound import menu_buttons, resolve_menu_answer

logger = logging.getLogger(__name__)

#: Longer texts are never menu answers, so the tracker is not read for them.
MAX_MENU_ANSWER_LENGTH = 100


async def menu_payload_from_tracker(tracker_store: Any, sender_id: str, text: str) -> Optional[str]:
    """The payload of the button `text` picks from the bot's latest menu, if it picks one.

    The menu is the buttons (or quick replies) of the bot messages since the user's last
    message, read from the tracker store: so the mapping survives a restart and works when
    several Rasa instances share one tracker store.

    Args:
        tracker_store: Rasa's tracker store (None outside `rasa run`: nothing is resolved).
        sender_id: the conversation.
        text: what the user typed.
    """
    if tracker_store is None or not text or len(text) > MAX_MENU_ANSWER_LENGTH:
        return None
    if text.startswith("/"):
        return None
    tracker = await tracker_store.retrieve(sender_id)
    if tracker is None:
        return None
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return None
        if isinstance(event, BotUttered):
            buttons = menu_buttons(event.data)
            if buttons:
                return resolve_menu_answer(text, buttons)
    return None
