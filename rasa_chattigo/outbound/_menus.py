"""Numbered menus: buttons written as text, and a typed answer turned back into a payload."""

import logging
import re
import unicodedata
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from rasa_chattigo.outbound._responses import Button, parse_buttons, selectable_buttons

logger = logging.getLogger(__name__)

_KEYCAP = re.compile(r"(\d)\ufe0f?\u20e3")
_NUMBER = re.compile(
    r"(?:#|n[°º.]?|nro\.?|opci[oó]n|option)?\s*(\d{1,3})\s*[.):\-]?", re.IGNORECASE
)
_NUMBERED_TITLE = re.compile(r"(\d{1,3})\s*[.):\-]\s*(.+)", re.DOTALL)


def menu_lines(buttons: Iterable[Button], start: int = 1) -> List[str]:
    """One line per button: "1. Sí" for a choice, "Web: https://…" for a link (not numbered)."""
    lines = []
    number = start
    for button in buttons:
        if button.selectable:
            lines.append(f"{number}. {button.title}")
            number += 1
        else:
            lines.append(f"{button.title}: {button.link}")
    return lines


def compose_menu(text: str, buttons: Sequence[Button], start: int = 1) -> str:
    """`text`, a blank line, then the menu lines; just the lines when `text` is blank."""
    lines = menu_lines(buttons, start)
    if not lines:
        return text.strip()
    menu = "\n".join(lines)
    return f"{text.strip()}\n\n{menu}" if text.strip() else menu


def render_menu(text: str, buttons: Sequence[Mapping[str, Any]], *, start: int = 1) -> str:
    """A text with its buttons as a numbered menu, the form the `buttons: menu` mode sends.

    >>> render_menu("¿Confirmás?", [{"title": "Sí", "payload": "/affirm"},
    ...                              {"title": "No", "payload": "/deny"}])
    '¿Confirmás?\\n\\n1. Sí\\n2. No'

    Args:
        text: the message text (may be empty).
        buttons: Rasa buttons or quick replies (`title`, `payload`; `type: web_url` + `url`
            for links, which are listed as "title: url" and get no number).
        start: the number of the first choice (menus continued across messages).

    Raises:
        InvalidResponse: for a button without a title or a link without an http(s) URL.
    """
    return compose_menu(text, parse_buttons(buttons, "buttons"), start)


def menu_buttons(response: Mapping[str, Any]) -> List[Dict[str, str]]:
    """The choices of every numbered menu in one bot response, in the order they are numbered.

    Quick replies win over buttons (as in Rasa), then each element's buttons continue the
    numbering. Each choice is `{"title", "payload"}`; pass the list to `resolve_menu_answer`.
    """
    groups = [response.get("quick_replies") or response.get("buttons")]
    elements = response.get("elements") or []
    groups += [el.get("buttons") for el in elements if isinstance(el, Mapping)]
    return [
        {"title": button.title, "payload": button.payload}
        for group in groups
        for button in selectable_buttons(group)
    ]


def _normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: "¡Sí, claro!" -> "si claro"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = re.sub(r"[^\w\s]|_", " ", bare.casefold()).split()
    return " ".join(words)


def _same_title(answer: str, title: str) -> bool:
    wanted = _normalise(title)
    if wanted:
        return _normalise(answer) == wanted
    # a title of emoji or punctuation only: compare as typed
    return answer.strip().casefold() == title.strip().casefold()


def _numbered(answer: str) -> str:
    return _KEYCAP.sub(r"\1", answer.replace("\U0001f51f", "10")).strip()


def resolve_menu_answer(answer: str, buttons: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """The payload of the button a typed answer picks from a numbered menu, else None.

    Accepted, in this order: the number ("2", " 2 ", "2.", "2)", "#2", "opción 2", the keycap
    emoji "2️⃣"); the menu line itself ("2. No", number and title must agree); the title,
    ignoring case, accents, punctuation and emoji ("si" picks "Sí"); the payload as is. Link
    buttons are never picked. An answer matching several different payloads picks none.

    Args:
        answer: what the user typed.
        buttons: the menu's Rasa buttons, as sent (unusable items are skipped).
    """
    if not isinstance(answer, str) or not answer.strip():
        return None
    choices = selectable_buttons(buttons)
    typed = _numbered(answer)
    number = _NUMBER.fullmatch(typed)
    if number and 0 < int(number.group(1)) <= len(choices):
        return choices[int(number.group(1)) - 1].payload
    line = _NUMBERED_TITLE.fullmatch(typed)
    if line:
        index = int(line.group(1)) - 1
        if 0 <= index < len(choices) and _same_title(line.group(2), choices[index].title):
            return choices[index].payload
    payloads = {b.payload for b in choices if _same_title(answer, b.title)}
    if len(payloads) == 1:
        return payloads.pop()
    if not payloads and answer.strip() in {b.payload for b in choices}:
        return answer.strip()
    return None
