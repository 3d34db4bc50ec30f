"""Pure builder of Chattigo's legacy flat inbound payload (rare, still sent by some set-ups)."""

import hashlib
import secrets
from typing import Any, Dict, Optional

from rasa_chattigo.errors import InvalidPayload

#: kind -> the capitalised `type` Chattigo writes.
LEGACY_TYPES = {
    "text": "Text",
    "image": "Image",
    "audio": "Audio",
    "video": "Video",
    "document": "Document",
    "location": "Location",
    # Chattigo's own events, lower case as its bot API documents them: the agent gave the chat
    # back (`transfer`) or closed it (`close`).
    "transfer": "transfer",
    "close": "close",
}
_MIME = {
    "image": "image/jpeg",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/pdf",
}
_FIELDS = {
    "text": {"text"},
    "image": {"caption", "media_url", "mime_type", "filename"},
    "audio": {"media_url", "mime_type", "filename"},
    "video": {"caption", "media_url", "mime_type", "filename"},
    "document": {"caption", "media_url", "mime_type", "filename"},
    "location": {"latitude", "longitude"},
    "transfer": {"text"},
    "close": {"text"},
}
_COMMON = {"chat_type", "state_agent", "id_chat", "channel_id", "channel_provider", "id_campaign"}


def _stable_number(*parts: str) -> int:
    return int(hashlib.sha256(":".join(parts).encode()).hexdigest(), 16) % 9_000_000 + 1_000_000


def build_legacy_webhook(
    kind: str,
    *,
    did: str,
    msisdn: str,
    name: str = "Usuario",
    message_id: Optional[str] = None,
    **fields: Any,
) -> Dict[str, Any]:
    """The legacy flat JSON Chattigo posts for a user message.

    Args:
        kind: text, image, audio, video, document, location; or transfer (the agent hands the
            chat back to the bot) and close (Chattigo closed the chat), with an optional `text`.
        did: the business number.
        msisdn: the user's number.
        name: the user's name.
        message_id: Chattigo's message id; a fresh one when omitted.
        **fields: `text` (text); `caption`, `media_url`, `mime_type`, `filename` (media);
            `latitude`, `longitude` (location, sent as "lat,lng" in `content`); and, for any kind,
            `chat_type` ("OUTBOUND" makes an echo of a bot message), `state_agent`, `id_chat`,
            `channel_id`, `channel_provider`, `id_campaign`.

    Raises:
        InvalidPayload: unknown kind, unknown field, missing or wrongly typed field.
    """
    _check_fields(kind, fields)
    content = _content_fields(kind, message_id or "", fields)
    return {
        **_sender_fields(did, msisdn, name, message_id, fields),
        **content,
        **_routing_fields(did, fields),
    }


def _check_fields(kind: str, fields: Dict[str, Any]) -> None:
    if kind not in LEGACY_TYPES:
        raise InvalidPayload(
            "type", f"must be one of {', '.join(LEGACY_TYPES)} for the legacy format"
        )
    for key in fields:
        if key not in _FIELDS[kind] | _COMMON:
            raise InvalidPayload(key, f"is not a field of legacy kind {kind}")


def _sender_fields(
    did: str, msisdn: str, name: str, message_id: Optional[str], fields: Dict[str, Any]
) -> Dict[str, Any]:
    return {
        "id": message_id or str(secrets.randbelow(9 * 10**17) + 10**17),
        "idChat": fields.get("id_chat", _stable_number(did, msisdn)),
        "did": did,
        "msisdn": msisdn,
        "name": name,
    }


def _content_fields(kind: str, message_id: str, fields: Dict[str, Any]) -> Dict[str, Any]:
    content, attachment = _content(kind, message_id, fields)
    return {
        "content": content,
        "type": LEGACY_TYPES[kind],
        "isAttachment": attachment is not None,
        "attachment": attachment,
    }


def _routing_fields(did: str, fields: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "chatType": _choice(
            "chat_type", fields.get("chat_type", "INBOUND"), ("INBOUND", "OUTBOUND")
        ),
        "channel": "WHATSAPP",
        "channelId": fields.get("channel_id", _stable_number(did)),
        "channelProvider": fields.get("channel_provider", "WHATSAPP_CLOUD"),
        "idCampaign": fields.get("id_campaign", "1"),
        "stateAgent": _choice("state_agent", fields.get("state_agent", "BOT"), ("BOT", "AGENT")),
    }


def _content(kind: str, message_id: str, fields: Dict[str, Any]) -> Any:
    if kind in ("transfer", "close"):
        text = fields.get("text", "")
        if not isinstance(text, str):
            raise InvalidPayload("text", "must be a string")
        return text, None
    if kind == "text":
        text = fields.get("text")
        if not isinstance(text, str) or not text:
            raise InvalidPayload("text", "is required for kind text (a non-empty string)")
        return text, None
    if kind == "location":
        latitude, longitude = fields.get("latitude"), fields.get("longitude")
        for key, value in (("latitude", latitude), ("longitude", longitude)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidPayload(key, "is required for kind location (a number)")
        return f"{latitude},{longitude}", None
    caption = fields.get("caption") or ""
    if not isinstance(caption, str):
        raise InvalidPayload("caption", "must be a string")
    extension = _MIME[kind].split("/")[1]
    name = fields.get("filename") or f"{kind}-{secrets.token_hex(4)}.{extension}"
    attachment = {
        "mediaUrl": fields.get("media_url") or f"https://media.sandbox.invalid/{kind}/{name}",
        "mimeType": fields.get("mime_type") or _MIME[kind],
        "fileName": name,
    }
    return caption, attachment


def _choice(field: str, value: Any, allowed: tuple) -> str:
    if value not in allowed:
        raise InvalidPayload(field, f"must be one of {', '.join(allowed)}")
    return str(value)
