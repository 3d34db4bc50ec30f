"""Native WhatsApp buttons and lists as Cloud API JSON (the opt-in `buttons: native` mode)."""

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from rasa_chattigo.outbound._menus import menu_lines
from rasa_chattigo.outbound._responses import Button
from rasa_chattigo.outbound._textsplit import TEXT_LIMIT, split_text, truncate, utf16_len

logger = logging.getLogger(__name__)

# Limits from Meta's reply-button and list message pages. The list body may be 4096 on the
# current page but was 1024 for every interactive body before: 1024 is safe for both.
MAX_REPLY_BUTTONS = 3
MAX_LIST_ROWS = 10
BODY_LIMIT = 1024
REPLY_TITLE_LIMIT = 20
REPLY_ID_LIMIT = 256
ROW_TITLE_LIMIT = 24
ROW_ID_LIMIT = 200
LIST_BUTTON_LIMIT = 20
SECTION_TITLE_LIMIT = 24

#: The label of the button that opens a list, and the title of its one section.
LIST_BUTTON_LABEL = "Opciones"
LIST_SECTION_TITLE = "Opciones"


def _body_parts(text: str, links: Sequence[Button]) -> List[str]:
    """The text (and link lines) as messages, the last one short enough for a body."""
    lines = menu_lines(links)
    full = "\n\n".join(part for part in (text.strip(), "\n".join(lines)) if part)
    parts = split_text(full, TEXT_LIMIT)
    if parts and utf16_len(parts[-1]) > BODY_LIMIT:
        parts[-1:] = split_text(parts[-1], BODY_LIMIT)
    return parts


def _unique(values: List[str]) -> bool:
    return len(set(values)) == len(values)


def _action(choices: Sequence[Button]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The interactive type and action for the choices; None when no native form fits."""
    if len(choices) <= MAX_REPLY_BUTTONS:
        titles = [truncate(b.title, REPLY_TITLE_LIMIT) for b in choices]
        ids = [truncate(b.payload, REPLY_ID_LIMIT, ellipsis="") for b in choices]
        if _unique(titles) and _unique(ids):
            replies = [{"id": i, "title": t} for i, t in zip(ids, titles)]
            return "button", {"buttons": [{"type": "reply", "reply": r} for r in replies]}
    if len(choices) <= MAX_LIST_ROWS:
        titles = [truncate(b.title, ROW_TITLE_LIMIT) for b in choices]
        ids = [truncate(b.payload, ROW_ID_LIMIT, ellipsis="") for b in choices]
        if _unique(ids):
            rows = [{"id": i, "title": t} for i, t in zip(ids, titles)]
            section = {"title": truncate(LIST_SECTION_TITLE, SECTION_TITLE_LIMIT), "rows": rows}
            label = truncate(LIST_BUTTON_LABEL, LIST_BUTTON_LIMIT)
            return "list", {"button": label, "sections": [section]}
    return None


def native_message(
    text: str, buttons: Sequence[Button], to: str
) -> Optional[Tuple[List[str], Dict[str, Any]]]:
    """Cloud API JSON for a text with buttons, and any text that must go before it.

    Up to 3 choices become reply buttons (titles cut to 20, ids to 256), 4 to 10 a list
    (row titles cut to 24, ids to 200). Link buttons, which WhatsApp buttons cannot carry,
    become "title: url" lines of the text. A text longer than the 1024-character body goes
    out first as plain messages, so nothing is lost. Button ids are the payloads, so a tap
    reaches the bot as the payload.

    Args:
        text: the message text.
        buttons: the buttons, in order.
        to: the recipient's number.

    Returns:
        (texts to send first, the interactive message), or None when there is no native form:
        no text, no choice, more than 10 choices, or ids (or reply titles) not unique once cut.
    """
    choices = [b for b in buttons if b.selectable]
    parts = _body_parts(text, [b for b in buttons if not b.selectable])
    action = _action(choices) if choices and parts else None
    if action is None:
        return None
    kind, content = action
    message = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {"type": kind, "body": {"text": parts[-1]}, "action": content},
    }
    return parts[:-1], message
