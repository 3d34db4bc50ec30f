"""Rasa bot responses as Chattigo send requests: text, media, menus, elements and custom JSON."""

import itertools
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from rasa_chattigo.outbound._handoff import HANDOFF_KINDS, handoff_body
from rasa_chattigo.outbound._mediatypes import DEFAULT_FILE_TYPE, DEFAULT_IMAGE_TYPE
from rasa_chattigo.outbound._menus import (
    compose_menu,
    menu_buttons,
    render_menu,
    resolve_menu_answer,
)
from rasa_chattigo.outbound._native import native_message
from rasa_chattigo.outbound._responses import (
    Button,
    InvalidResponse,
    Media,
    parse_buttons,
    parse_media,
    text_of,
)
from rasa_chattigo.outbound._templates import cloud_template, hsm_body
from rasa_chattigo.outbound._textsplit import split_text, utf16_len
from rasa_chattigo.settings import CHATTIGO_TEXT_LIMIT, ChattigoSettings

__all__ = [
    "CHATTIGO_SEND_PATH",
    "InvalidResponse",
    "OutboundRequest",
    "SendContext",
    "build_requests",
    "menu_buttons",
    "new_message_id",
    "render_menu",
    "resolve_menu_answer",
    "split_text",
    "template_request",
]

logger = logging.getLogger(__name__)

#: Where Chattigo's own send format is posted (relative to the base URL).
CHATTIGO_SEND_PATH = "/webhooks/inbound"

#: WhatsApp's limit for an image, video or document caption.
CAPTION_LIMIT = 1024


@dataclass(frozen=True)
class SendContext:
    """Who sends to whom: the business number, the user's number, the bot's display name."""

    did: str
    msisdn: str
    bot_name: str
    channel: str = "WHATSAPP"
    #: `max_text_length`: longer texts go out as several messages.
    text_limit: int = CHATTIGO_TEXT_LIMIT


@dataclass(frozen=True)
class OutboundRequest:
    """One HTTP request to send one message; retries must reuse `json` unchanged.

    Attributes:
        path: "/webhooks/inbound", or "/{cloud_api_version}/{did}/messages" for Cloud API JSON.
        json: the exact body; Chattigo payloads carry their unique "id".
        recipient: the user's number, for logs.
        message_id: the body's "id"; for Cloud API JSON (which has no id field) a fresh id
            that only names the message in logs.
        kind: `message` (free-form: only inside WhatsApp's 24-hour window), `template`, or
            a hand-off send (`transfer`, `group`, `close`, `timeout`), which reaches no phone.
    """

    path: str
    json: Dict[str, Any]
    recipient: str
    message_id: str = field(default="", compare=False)
    kind: str = field(default="message", compare=False)


_id_lock = threading.Lock()
_id_state: Dict[str, Any] = {}


def new_message_id() -> str:
    """A message id unique across calls, threads, processes and restarts.

    The form is `<epoch ms>-<process token>-<counter>`, e.g. `1732475000123-5f0c9a1e2b7d-00002a`:
    the millisecond prefix keeps Chattigo's timestamp look and sorts roughly by time, the
    48-bit random token differs between processes (regenerated in a forked child), and the
    counter makes every id of one process distinct even within one millisecond or if the
    clock steps back.
    """
    pid = os.getpid()
    with _id_lock:
        if _id_state.get("pid") != pid:
            _id_state.update(pid=pid, token=secrets.token_hex(6), counter=itertools.count(1))
        token, number = _id_state["token"], next(_id_state["counter"])
    return f"{time.time_ns() // 1_000_000}-{token}-{number:06x}"


def _chattigo_request(
    ctx: SendContext, content: str, attachment: Optional[Dict[str, str]] = None
) -> OutboundRequest:
    """One message in Chattigo's own send format: a text, or media when `attachment` is given."""
    message_id = new_message_id()
    body: Dict[str, Any] = {
        "id": message_id,
        "did": ctx.did,
        "msisdn": ctx.msisdn,
        "type": "text" if attachment is None else "media",
        "channel": ctx.channel,
        "content": content,
        "name": ctx.bot_name,
        "isAttachment": attachment is not None,
    }
    if attachment is not None:
        body["attachment"] = attachment
    return OutboundRequest(CHATTIGO_SEND_PATH, body, ctx.msisdn, message_id)


def _texts(text: str, ctx: SendContext) -> List[OutboundRequest]:
    return [_chattigo_request(ctx, part) for part in split_text(text, ctx.text_limit)]


def _media(media: Media, ctx: SendContext) -> List[OutboundRequest]:
    """A media message; a caption WhatsApp cannot show (audio, too long) follows as text."""
    caption = media.caption.strip()
    fits = not media.mime_type.startswith("audio/") and utf16_len(caption) <= CAPTION_LIMIT
    attachment = {"mediaUrl": media.url, "mimeType": media.mime_type}
    if media.file_name:
        attachment["fileName"] = media.file_name
    requests = [_chattigo_request(ctx, caption if fits else "", attachment)]
    return requests if fits else requests + _texts(caption, ctx)


def _cloud_path(ctx: SendContext, settings: ChattigoSettings) -> str:
    return f"/{settings.cloud_api_version}/{ctx.did}/messages"


def _with_buttons(
    text: str, buttons: List[Button], ctx: SendContext, settings: ChattigoSettings
) -> List[OutboundRequest]:
    if settings.buttons == "native":
        native = native_message(text, buttons, ctx.msisdn)
        if native is not None:
            leading, message = native
            cloud = OutboundRequest(_cloud_path(ctx, settings), message, ctx.msisdn,
                                    new_message_id())
            return [_chattigo_request(ctx, part) for part in leading] + [cloud]
        logger.debug("No native form for %d buttons; sending a numbered menu", len(buttons))
    return _texts(compose_menu(text, buttons), ctx)


def _custom(custom: Any, ctx: SendContext, settings: ChattigoSettings) -> OutboundRequest:
    if not isinstance(custom, Mapping):
        raise InvalidResponse("custom", "must be an object: a Chattigo payload or Cloud API JSON")
    kind = custom.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise InvalidResponse("custom.type", "is required (e.g. 'text', 'media', 'HSM')")
    try:
        # a deep copy that cannot share state with the domain, and proof it can be sent
        payload = json.loads(json.dumps(custom, allow_nan=False))  # NaN is not JSON
    except (TypeError, ValueError) as exc:
        raise InvalidResponse("custom", f"is not JSON: {exc}") from None
    if payload.get("messaging_product") == "whatsapp":
        payload.setdefault("to", ctx.msisdn)
        kind = "template" if payload.get("type") == "template" else "message"
        return OutboundRequest(_cloud_path(ctx, settings), payload, str(payload["to"]),
                               new_message_id(), kind)
    filled = {"id": new_message_id(), "did": ctx.did, "msisdn": ctx.msisdn,
              "channel": ctx.channel, "name": ctx.bot_name}
    if kind == "HSM":
        return _template(payload, filled, ctx, settings)
    if kind in HANDOFF_KINDS:
        body = handoff_body(payload, filled)
        return OutboundRequest(CHATTIGO_SEND_PATH, body, ctx.msisdn, str(body["id"]), kind)
    body = {**filled, **payload}
    return OutboundRequest(CHATTIGO_SEND_PATH, body, str(body["msisdn"]), str(body["id"]))


def _template(
    custom: Mapping[str, Any], filled: Dict[str, Any], ctx: SendContext,
    settings: ChattigoSettings,
) -> OutboundRequest:
    """A template: Chattigo's HSM send, or Meta's template JSON with `buttons: native`."""
    if settings.buttons == "native":
        cloud = cloud_template(custom.get("hsm") or {}, ctx.msisdn)
        return OutboundRequest(_cloud_path(ctx, settings), cloud, ctx.msisdn,
                               str(filled["id"]), "template")
    body = hsm_body(custom, filled, ctx.msisdn)
    return OutboundRequest(CHATTIGO_SEND_PATH, body, ctx.msisdn, str(body["id"]), "template")


def template_request(
    hsm: Mapping[str, Any], ctx: SendContext, settings: ChattigoSettings
) -> OutboundRequest:
    """One template to one user (the `window_template` sent in place of a reply)."""
    filled = {"id": new_message_id(), "did": ctx.did, "msisdn": ctx.msisdn,
              "channel": ctx.channel, "name": ctx.bot_name}
    return _template({"type": "HSM", "hsm": dict(hsm)}, filled, ctx, settings)


def _element(element: Any, where: str, start: int) -> Tuple[str, Optional[Media], int]:
    """An element's text (title, subtitle, menu), its image, and the next menu number."""
    if not isinstance(element, Mapping):
        raise InvalidResponse(where, "must be an object with a title")
    title = text_of(element.get("title"), f"{where}.title").strip()
    subtitle = text_of(element.get("subtitle"), f"{where}.subtitle").strip()
    buttons = parse_buttons(element.get("buttons"), f"{where}.buttons")
    image = None
    if element.get("image_url"):
        image = parse_media(element["image_url"], f"{where}.image_url",
                            default_type=DEFAULT_IMAGE_TYPE, named=False)
    heading = f"*{title}*" if title and "*" not in title else title
    text = compose_menu("\n".join(p for p in (heading, subtitle) if p), buttons, start)
    return text, image, start + sum(1 for b in buttons if b.selectable)


def _elements(elements: Any, ctx: SendContext, start: int) -> List[OutboundRequest]:
    if not isinstance(elements, (list, tuple)):
        raise InvalidResponse("elements", "must be a list of objects")
    requests: List[OutboundRequest] = []
    for index, element in enumerate(elements):
        text, image, start = _element(element, f"elements.{index}", start)
        if image is not None:
            requests += _media(Media(image.url, image.mime_type, None, text), ctx)
        else:
            requests += _texts(text, ctx)
    return requests


def build_requests(
    response: Mapping[str, Any], ctx: SendContext, settings: ChattigoSettings
) -> List[OutboundRequest]:
    """Every request needed to deliver one Rasa bot response, in the order to send them.

    Follows Rasa's own order: the text (with its quick replies or, failing those, buttons),
    then `custom`, `image`, `attachment` and `elements`. Other keys Rasa adds
    (`template_name`, `response_ids`, `utter_action`, ...) are ignored.

    Args:
        response: the dict Rasa passes to `OutputChannel.send_response`.
        ctx: sender, recipient and bot name.
        settings: the channel settings (`buttons`, `cloud_api_version`).

    Raises:
        InvalidResponse: naming the first unusable field, e.g. `buttons.0.title`.
    """
    if not isinstance(response, Mapping):
        raise InvalidResponse("response", "must be an object")
    text = text_of(response.get("text"), "text")
    key = "quick_replies" if response.get("quick_replies") else "buttons"
    buttons = parse_buttons(response.get(key) or None, key)
    requests = _with_buttons(text, buttons, ctx, settings) if buttons else _texts(text, ctx)
    if response.get("custom"):
        requests.append(_custom(response["custom"], ctx, settings))
    if response.get("image"):
        requests += _media(parse_media(response["image"], "image",
                                       default_type=DEFAULT_IMAGE_TYPE, named=False), ctx)
    if response.get("attachment"):
        requests += _media(parse_media(response["attachment"], "attachment",
                                       default_type=DEFAULT_FILE_TYPE, named=True), ctx)
    if response.get("elements"):
        first = sum(1 for button in buttons if button.selectable) + 1
        requests += _elements(response["elements"], ctx, first)
    return requests
