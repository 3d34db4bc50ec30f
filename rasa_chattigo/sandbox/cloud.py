"""Validation of Meta Cloud API sends (`POST /v15.0/{did}/messages`), with WhatsApp's limits."""

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Set

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.fields import Fields

TO = re.compile(r"\+?[0-9][0-9 ()-]*")
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
CAPTIONED = ("image", "video", "document")


@dataclass(frozen=True)
class CloudSend:
    """A Cloud API send that passed validation.

    Attributes:
        to: the recipient as sent (`input` in the answer).
        wa_id: its digits, the user's WhatsApp id.
        kind: the message `type`.
        payload: the request body as received.
    """

    to: str
    wa_id: str
    kind: str
    payload: Dict[str, Any]


#: message `type` -> validator of the message (given its type); add one to support a new type.
CLOUD_TYPES: Dict[str, Callable[[Fields, str], None]] = {}
#: `interactive.type` -> validator of the interactive object (given its type).
INTERACTIVE_TYPES: Dict[str, Callable[[Fields, str], None]] = {}


def _register(table: Dict[str, Callable[[Fields, str], None]], *names: str) -> Callable[..., Any]:
    def register(func: Callable[[Fields, str], None]) -> Callable[[Fields, str], None]:
        for name in names:
            table[name] = func
        return func

    return register


def validate_cloud(body: Any) -> CloudSend:
    """Checks a Cloud API message body as Meta documents it.

    Raises:
        InvalidPayload: naming the first wrong field (answered 400).
    """
    fields = Fields(body)
    fields.text("messaging_product", choices=("whatsapp",))
    fields.text("recipient_type", required=False, choices=("individual",))
    to = fields.text(
        "to", non_empty=True, pattern=TO, pattern_help="must be a phone number (digits, '+')"
    )
    kind = fields.text("type", required=False, choices=tuple(CLOUD_TYPES)) or "text"
    context = fields.obj("context", required=False)
    if context is not None:
        context.text("message_id", non_empty=True)
    assert to is not None
    CLOUD_TYPES[kind](fields, kind)
    return CloudSend(to, re.sub(r"\D", "", to), kind, body)


@_register(CLOUD_TYPES, "text")
def _text(message: Fields, kind: str) -> None:
    text = _content(message, kind)
    text.text("body", non_empty=True, max_len=4096)
    text.flag("preview_url", required=False)


@_register(CLOUD_TYPES, *MEDIA_TYPES)
def _media(message: Fields, kind: str) -> None:
    media = _content(message, kind)
    if media.has("id") == media.has("link"):
        raise InvalidPayload(media.path, "must have exactly one of 'id' or 'link'")
    media.text("id", required=False, non_empty=True)
    media.url("link", required=False)
    if kind in CAPTIONED:
        media.text("caption", required=False, max_len=1024)
    else:
        media.absent("caption", f"is not allowed for {kind}")
    if kind == "document":
        media.text("filename", required=False, non_empty=True)
    else:
        media.absent("filename", "is only allowed for document")


@_register(CLOUD_TYPES, "location")
def _location(message: Fields, kind: str) -> None:
    location = _content(message, kind)
    latitude = location.number("latitude")
    longitude = location.number("longitude")
    if latitude is not None and not -90 <= latitude <= 90:
        raise InvalidPayload(location.at("latitude"), "must be between -90 and 90")
    if longitude is not None and not -180 <= longitude <= 180:
        raise InvalidPayload(location.at("longitude"), "must be between -180 and 180")
    location.text("name", required=False)
    location.text("address", required=False)


@_register(CLOUD_TYPES, "reaction")
def _reaction(message: Fields, kind: str) -> None:
    reaction = _content(message, kind)
    reaction.text("message_id", non_empty=True)
    reaction.text("emoji")


@_register(CLOUD_TYPES, "template")
def _template(message: Fields, kind: str) -> None:
    template = _content(message, kind)
    template.text("name", non_empty=True, max_len=512)
    language = template.obj("language")
    assert language is not None
    language.text("code", non_empty=True)
    template.objects("components", required=False)


@_register(CLOUD_TYPES, "contacts")
def _contacts(message: Fields, kind: str) -> None:
    for card in message.objects(kind, min_len=1):
        name = card.obj("name")
        assert name is not None
        name.text("formatted_name", non_empty=True)
        for phone in card.objects("phones", required=False):
            phone.text("phone", non_empty=True)


@_register(CLOUD_TYPES, "interactive")
def _interactive(message: Fields, kind: str) -> None:
    interactive = _content(message, kind)
    sub_kind = interactive.text("type", choices=tuple(INTERACTIVE_TYPES))
    assert sub_kind is not None
    INTERACTIVE_TYPES[sub_kind](interactive, sub_kind)


def _content(message: Fields, kind: str) -> Fields:
    content = message.obj(kind)
    assert content is not None
    return content


def _common(interactive: Fields, *, body_max: int, header_types: tuple) -> None:
    body = interactive.obj("body")
    assert body is not None
    body.text("text", non_empty=True, max_len=body_max)
    footer = interactive.obj("footer", required=False)
    if footer is not None:
        footer.text("text", non_empty=True, max_len=60)
    if not header_types:
        interactive.absent("header", "is not allowed for this interactive type")
    header = interactive.obj("header", required=False)
    if header is not None:
        kind = header.text("type", choices=header_types)
        if kind == "text":
            header.text("text", non_empty=True, max_len=60)
        elif kind is not None:
            _media(header, kind)


def _unique(seen: Set[str], value: str, field: str, what: str) -> None:
    if value in seen:
        raise InvalidPayload(field, f"duplicate {what} {value!r}")
    seen.add(value)


@_register(INTERACTIVE_TYPES, "button")
def _buttons(interactive: Fields, kind: str) -> None:
    _common(interactive, body_max=1024, header_types=("text", "image", "video", "document"))
    action = interactive.obj("action")
    assert action is not None
    ids: Set[str] = set()
    titles: Set[str] = set()
    for button in action.objects("buttons", min_len=1, max_len=3):
        button.text("type", choices=("reply",))
        reply = button.obj("reply")
        assert reply is not None
        _unique(ids, reply.text("id", non_empty=True, max_len=256) or "", reply.at("id"), "id")
        title = reply.text("title", non_empty=True, max_len=20) or ""
        _unique(titles, title, reply.at("title"), "title")


@_register(INTERACTIVE_TYPES, "list")
def _list(interactive: Fields, kind: str) -> None:
    _common(interactive, body_max=1024, header_types=("text",))
    action = interactive.obj("action")
    assert action is not None
    action.text("button", non_empty=True, max_len=20)
    sections = action.objects("sections", min_len=1, max_len=10)
    rows: List[Fields] = []
    ids: Set[str] = set()
    for section in sections:
        section.text("title", required=len(sections) > 1, non_empty=True, max_len=24)
        for row in section.objects("rows", min_len=1):
            rows.append(row)
            _unique(ids, row.text("id", non_empty=True, max_len=200) or "", row.at("id"), "id")
            row.text("title", non_empty=True, max_len=24)
            row.text("description", required=False, max_len=72)
    if len(rows) > 10:
        raise InvalidPayload(
            action.at("sections"), f"must hold at most 10 rows in all (got {len(rows)})"
        )


@_register(INTERACTIVE_TYPES, "cta_url")
def _cta_url(interactive: Fields, kind: str) -> None:
    _common(interactive, body_max=1024, header_types=("text", "image", "video", "document"))
    action = interactive.obj("action")
    assert action is not None
    action.text("name", choices=("cta_url",))
    parameters = action.obj("parameters")
    assert parameters is not None
    parameters.text("display_text", non_empty=True, max_len=20)
    parameters.url("url")


@_register(INTERACTIVE_TYPES, "location_request_message")
def _location_request(interactive: Fields, kind: str) -> None:
    _common(interactive, body_max=1024, header_types=())
    action = interactive.obj("action")
    assert action is not None
    action.text("name", choices=("send_location",))
