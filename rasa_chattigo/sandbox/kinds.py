"""The message part of each inbound Cloud API kind, as Meta documents it: one builder a kind."""

import base64
import hashlib
import json
import secrets
from typing import Any, Callable, Dict, List, Optional, Union

from rasa_chattigo.errors import InvalidPayload

#: kind -> builder of the message's own fields (everything but from/id/timestamp/context).
#: A builder's keyword arguments are the kind's fields; those without a default are required.
CLOUD_KINDS: Dict[str, Callable[..., Dict[str, Any]]] = {}
MEDIA_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg; codecs=opus",
    "document": "application/pdf",
    "sticker": "image/webp",
}
Builder = Callable[..., Dict[str, Any]]


def cloud_kind(name: str) -> Callable[[Builder], Builder]:
    """Registers the builder of one inbound kind."""

    def register(func: Builder) -> Builder:
        CLOUD_KINDS[name] = func
        return func

    return register


def _str(field: str, value: Any, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value):
        raise InvalidPayload(
            field, "must be a non-empty string" if not empty_ok else "must be a string"
        )
    return value


def _num(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidPayload(field, "must be a number")
    return value


def _obj(field: str, value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload(field, "must be an object")
    return value


def _optional(**values: Any) -> Dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@cloud_kind("text")
def _text(text: str) -> Dict[str, Any]:
    return {"type": "text", "text": {"body": _str("text", text)}}


@cloud_kind("referral")
def _referral_text(text: str, referral: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    ad = referral or {
        "source_url": "https://fb.me/sandbox",
        "source_id": "120226305854810726",
        "source_type": "ad",
        "body": "Ofertas de la semana",
        "headline": "Escribinos por WhatsApp",
        "media_type": "image",
        "image_url": "https://example.com/ad.jpg",
        "ctwa_clid": secrets.token_urlsafe(24),
    }
    return {**_text(text), "referral": _obj("referral", ad)}


def _media(kind: str, **values: Any) -> Dict[str, Any]:
    media_id = values.pop("media_id", None) or str(secrets.randbelow(9 * 10**15) + 10**15)
    media = _optional(
        caption=values.pop("caption", None),
        filename=values.pop("filename", None),
        mime_type=values.pop("mime_type", None) or MEDIA_MIME[kind],
        sha256=base64.b64encode(hashlib.sha256(media_id.encode()).digest()).decode(),
        id=_str("media_id", media_id),
        url=values.pop("url", None),
        **values,
    )
    return {"type": kind, kind: media}


@cloud_kind("image")
def _image(
    caption: Optional[str] = None,
    media_id: Optional[str] = None,
    mime_type: Optional[str] = None,
    url: Optional[str] = None,
) -> Dict[str, Any]:
    return _media("image", caption=caption, media_id=media_id, mime_type=mime_type, url=url)


@cloud_kind("video")
def _video(
    caption: Optional[str] = None,
    media_id: Optional[str] = None,
    mime_type: Optional[str] = None,
    url: Optional[str] = None,
) -> Dict[str, Any]:
    return _media("video", caption=caption, media_id=media_id, mime_type=mime_type, url=url)


@cloud_kind("audio")
def _audio(
    voice: bool = False,
    media_id: Optional[str] = None,
    mime_type: Optional[str] = None,
    url: Optional[str] = None,
) -> Dict[str, Any]:
    if not isinstance(voice, bool):
        raise InvalidPayload("voice", "must be a boolean")
    return _media("audio", media_id=media_id, mime_type=mime_type, url=url, voice=voice)


@cloud_kind("document")
def _document(
    filename: str = "documento.pdf",
    caption: Optional[str] = None,
    media_id: Optional[str] = None,
    mime_type: Optional[str] = None,
    url: Optional[str] = None,
) -> Dict[str, Any]:
    return _media(
        "document",
        filename=_str("filename", filename),
        caption=caption,
        media_id=media_id,
        mime_type=mime_type,
        url=url,
    )


@cloud_kind("sticker")
def _sticker(
    animated: bool = False, media_id: Optional[str] = None, url: Optional[str] = None
) -> Dict[str, Any]:
    if not isinstance(animated, bool):
        raise InvalidPayload("animated", "must be a boolean")
    return _media("sticker", media_id=media_id, url=url, animated=animated)


@cloud_kind("location")
def _location(
    latitude: float,
    longitude: float,
    place_name: Optional[str] = None,
    address: Optional[str] = None,
    url: Optional[str] = None,
) -> Dict[str, Any]:
    # `name` is taken by the user's profile name, hence `place_name` for the location's name.
    place = _optional(
        address=address,
        latitude=_num("latitude", latitude),
        longitude=_num("longitude", longitude),
        name=place_name,
        url=url,
    )
    return {"type": "location", "location": place}


@cloud_kind("contacts")
def _contacts(
    contacts: Optional[List[Dict[str, Any]]] = None,
    contact_name: Optional[str] = None,
    phone: Optional[str] = None,
) -> Dict[str, Any]:
    if contacts is None:
        formatted = _str("contact_name", contact_name)
        digits = "".join(ch for ch in _str("phone", phone) if ch.isdigit())
        first, _, last = formatted.partition(" ")
        contacts = [
            {
                "name": _optional(
                    formatted_name=formatted, first_name=first, last_name=last or None
                ),
                "phones": [{"phone": phone, "wa_id": digits, "type": "CELL"}],
            }
        ]
    if not isinstance(contacts, list) or not contacts:
        raise InvalidPayload("contacts", "must be a non-empty array of contact cards")
    return {
        "type": "contacts",
        "contacts": [_obj(f"contacts.{i}", c) for i, c in enumerate(contacts)],
    }


@cloud_kind("button_reply")
def _button_reply(reply_id: str, title: str) -> Dict[str, Any]:
    reply = {"id": _str("reply_id", reply_id), "title": _str("title", title)}
    return {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": reply}}


@cloud_kind("list_reply")
def _list_reply(reply_id: str, title: str, description: Optional[str] = None) -> Dict[str, Any]:
    reply = _optional(
        id=_str("reply_id", reply_id), title=_str("title", title), description=description
    )
    return {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": reply}}


@cloud_kind("nfm_reply")
def _nfm_reply(
    response_json: Union[str, Dict[str, Any]], name: str = "flow", body: str = "Sent"
) -> Dict[str, Any]:
    encoded = (
        response_json
        if isinstance(response_json, str)
        else json.dumps(
            _obj("response_json", response_json), separators=(",", ":"), ensure_ascii=False
        )
    )
    reply = {"name": _str("name", name), "body": _str("body", body), "response_json": encoded}
    return {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": reply}}


@cloud_kind("button")
def _button(payload: str, text: Optional[str] = None) -> Dict[str, Any]:
    label = _str("text", payload if text is None else text)
    return {"type": "button", "button": {"payload": _str("payload", payload), "text": label}}


@cloud_kind("reaction")
def _reaction(reacted_to: str, emoji: Optional[str] = None) -> Dict[str, Any]:
    reaction = {"message_id": _str("reacted_to", reacted_to)}
    if emoji is not None:  # "" is the older removal shape; omitting it, the current one
        reaction["emoji"] = _str("emoji", emoji, empty_ok=True)
    return {"type": "reaction", "reaction": reaction}


@cloud_kind("order")
def _order(
    product_items: List[Dict[str, Any]],
    catalog_id: str = "194836987003835",
    text: Optional[str] = None,
) -> Dict[str, Any]:
    if not isinstance(product_items, list) or not product_items:
        raise InvalidPayload("product_items", "must be a non-empty array")
    items = [_obj(f"product_items.{i}", item) for i, item in enumerate(product_items)]
    return {
        "type": "order",
        "order": _optional(catalog_id=catalog_id, text=text, product_items=items),
    }


@cloud_kind("request_welcome")
def _request_welcome() -> Dict[str, Any]:
    return {"type": "request_welcome"}


@cloud_kind("system")
def _system(
    new_wa_id: str, body: Optional[str] = None, system_type: str = "user_changed_number"
) -> Dict[str, Any]:
    text = body or f"User changed number to {_str('new_wa_id', new_wa_id)}"
    return {"type": "system", "system": {"body": text, "wa_id": new_wa_id, "type": system_type}}


@cloud_kind("unsupported")
def _unsupported(unsupported_type: str = "poll_creation") -> Dict[str, Any]:
    error = {
        "code": 131051,
        "title": "Message type unknown",
        "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."},
    }
    return {
        "type": "unsupported",
        "unsupported": {"type": _str("unsupported_type", unsupported_type)},
        "errors": [error],
    }
