"""Reads the conversation so far: which numbered menu a user's answer refers to."""

import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from rasa.shared.core.events import BotUttered, UserUttered

from rasa_chattigo.outbound._build import menu_buttons, resolve_menu_answer

logger = logging.getLogger(__name__)

#: Longer texts are never menu answers, so the tracker is not read for them.
MAX_MENU_ANSWER_LENGTH = 100

Buttons = List[Dict[str, str]]


class MenuMemory:
    """The menus this process sent since each user's last message, to spare a tracker read.

    Only sound when this process is the only one serving the number (`dedup_store: memory`):
    another instance could have answered in between. A conversation not seen since start-up
    (after a restart, or evicted) is unknown, and the tracker is read instead.

    Args:
        max_entries: conversations remembered; the least recently active are forgotten first.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._menus: OrderedDict[str, Optional[Buttons]] = OrderedDict()
        self._max_entries = max_entries

    def __len__(self) -> int:
        return len(self._menus)

    def remember(self, sender_id: str, response: Dict[str, Any]) -> None:
        """Notes a bot response sent to `sender_id`; only one with a menu changes anything."""
        buttons = menu_buttons(response)
        if buttons:
            self._put(sender_id, buttons)

    def take(self, sender_id: str) -> Tuple[bool, Optional[Buttons]]:
        """On a user message: (whether the conversation is known, its pending menu or None).

        The menu applies to this message only, so it is forgotten as it is taken.
        """
        if sender_id not in self._menus:
            self._put(sender_id, None)
            return False, None
        buttons = self._menus[sender_id]
        self._put(sender_id, None)
        return True, buttons

    def _put(self, sender_id: str, buttons: Optional[Buttons]) -> None:
        self._menus[sender_id] = buttons
        self._menus.move_to_end(sender_id)
        while len(self._menus) > self._max_entries:
            self._menus.popitem(last=False)


def could_be_menu_answer(text: str) -> bool:
    """Cheap test first: commands and long texts never pick a button."""
    return bool(text) and len(text) <= MAX_MENU_ANSWER_LENGTH and not text.startswith("/")


async def menu_from_tracker(tracker_store: Any, sender_id: str) -> Optional[Buttons]:
    """The buttons (or quick replies) the bot sent since the user's last message, if any.

    Read from the tracker store, so the mapping survives a restart and works when several
    Rasa instances share one tracker store.

    Args:
        tracker_store: Rasa's tracker store (None outside `rasa run`: nothing is found).
        sender_id: the conversation.
    """
    if tracker_store is None:
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
                return buttons
    return None


async def menu_payload(
    text: str, sender_id: str, *, typed: bool, memory: Optional[MenuMemory], tracker_store: Any
) -> Optional[str]:
    """The payload of the button `text` picks from the bot's latest menu, if it picks one.

    Call it for every user message, typed or not: any message ends the previous menu.

    Args:
        text: what Rasa would receive.
        sender_id: the conversation.
        typed: whether the user typed `text` (a WhatsApp text message).
        memory: this process's menus when it alone serves the number, else None.
        tracker_store: Rasa's tracker store, read when memory cannot answer.
    """
    known, buttons = memory.take(sender_id) if memory is not None else (False, None)
    if not typed or not could_be_menu_answer(text):
        return None
    if not known:
        buttons = await menu_from_tracker(tracker_store, sender_id)
    return resolve_menu_answer(text, buttons) if buttons else None
