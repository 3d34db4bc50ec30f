"""Chattigo's legacy flat inbound format: its kinds, its locations and its metadata."""

import hashlib
import json
import logging
import re
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.inbound._kinds import (
    MEDIA_KINDS,
    KindResult,
    intent_text,
    location_result,
    media_details,
    unsupported_result,
)
from rasa_chattigo.inbound._models import LocationObject, UnixTime, Wire, WireId
from rasa_chattigo.inbound._types import Batch, InboundMessage, business_digits, validate
from rasa_chattigo.logsafe import shown
from rasa_chattigo.settings import RAW_KINDS

logger = logging.getLogger(__name__)

#: Any of these at the top level marks a body as legacy Chattigo format.
LEGACY_KEYS = ("msisdn", "did", "idChat", "chatType")
#: Chattigo's own routing fields, copied to `metadata["chattigo"]` when present.
_CHATTIGO_KEYS = (
    "idChat",
    "chatType",
    "channel",
    "channelId",
    "channelProvider",
    "idCampaign",
    "stateAgent",
    "isAttachment",
    "attachment",
)
_GENERIC_MEDIA = ("media", "attachment", "file")
#: Chattigo's own legacy webhooks after a hand-off: the chat is the bot's again, or closed.
HANDBACK_KINDS = ("transfer", "close")
_COORDINATES = re.compile(r"(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)")
_LATITUDE_KEYS = ("latitude", "lat")
_LONGITUDE_KEYS = ("longitude", "lng", "lon", "long")


class LegacyAttachment(Wire):
    """`attachment` of a legacy message."""

    mediaUrl: Optional[str] = None
    mimeType: Optional[str] = None
    fileName: Optional[str] = None


class LegacyMessage(Wire):
    """Chattigo's flat legacy message."""

    id: WireId
    did: WireId
    msisdn: WireId
    name: Optional[str] = None
    content: Any = None  # text, caption, or a location in one of several shapes
    type: Optional[str] = None
    isAttachment: Optional[bool] = None
    attachment: Optional[LegacyAttachment] = None
    chatType: Optional[str] = None
    timestamp: Optional[UnixTime] = None


def validate_legacy(body: Dict[str, Any]) -> LegacyMessage:
    """The legacy message, with a non-empty sender and business number.

    Raises:
        InvalidPayload: naming the missing or wrong field (`id`, `did`, `msisdn`, ...).
    """
    message = validate(LegacyMessage, body, "")
    if not message.msisdn.strip():
        raise InvalidPayload("msisdn", "is empty: the sender is unknown")
    if not business_digits(message.did):
        raise InvalidPayload("did", "must hold the business number's digits")
    return message


def is_echo(message: LegacyMessage) -> bool:
    """True for `chatType: OUTBOUND`: Chattigo echoing a message we (or an agent) sent."""
    return (message.chatType or "").strip().upper() == "OUTBOUND"


def legacy_kind(message: LegacyMessage) -> str:
    """The lower-cased `type`; generic media (and text carrying a file) typed by MIME type."""
    kind = (message.type or "").strip().lower()
    attachment = message.attachment
    has_file = bool(attachment and attachment.mediaUrl)
    if kind in _GENERIC_MEDIA or (kind in ("", "text") and has_file and message.isAttachment):
        mime = ((attachment.mimeType if attachment else None) or "").lower()
        major = mime.split("/", 1)[0]
        return major if major in ("image", "audio", "video") else "document"
    if not kind:
        return "text"
    return kind


def map_legacy(kind: str, message: LegacyMessage, intents: Mapping[str, str]) -> KindResult:
    """What the bot receives for a legacy message of `kind`.

    Raises:
        InvalidPayload: a text message without content.
    """
    content = message.content
    if kind in HANDBACK_KINDS:
        # Chattigo itself, not the user: the agent gave the chat back, or the chat was closed.
        return KindResult(intent_text(intents["transfer"]) if kind == "transfer" else "", kind, {})
    if kind == "text":
        if isinstance(content, (int, float)) and not isinstance(content, bool):
            content = str(content)
        if not isinstance(content, str) or not content.strip():
            raise InvalidPayload("content", "is missing or empty in a text message")
        return KindResult(content, "text", {})
    if kind in MEDIA_KINDS:
        return _media(kind, message, intents)
    if kind == "location":
        location = legacy_location(message)
        if location is not None:
            return location_result(location, intents)
        logger.warning("Legacy location message %s: no coordinates could be read",
                       shown(message.id))
        found = {"content": content if isinstance(content, (str, dict)) else None}
        return KindResult(intent_text(intents["location"]), "location", {"location": found})
    return KindResult(intent_text(intents["unknown"]), "unknown", {})


def _media(kind: str, message: LegacyMessage, intents: Mapping[str, str]) -> KindResult:
    attachment = message.attachment
    content = message.content if isinstance(message.content, str) else None
    url = attachment.mediaUrl if attachment else None
    if url is None and content and content.strip().startswith(("http://", "https://")):
        url, content = content.strip(), None
    caption = content if content and content.strip() else None
    details = media_details(kind, url=url, caption=caption,
                            mime_type=attachment.mimeType if attachment else None,
                            filename=attachment.fileName if attachment else None)
    return KindResult(caption or intent_text(intents[kind]), kind, details)


def legacy_location(message: LegacyMessage) -> Optional[LocationObject]:
    """Coordinates from a legacy location message, or None.

    Accepted, in order: top-level `latitude`/`longitude` (or `lat`/`lng`) fields; `content` as
    an object or a JSON object string with those keys (plus `name`, `address`, `url`);
    `content` holding "lat,lng" anywhere, such as "-34.60,-58.38" or a maps link.
    """
    for candidate in _location_candidates(message):
        try:
            return validate(LocationObject, candidate, "content")
        except InvalidPayload:
            continue
    return None


def _location_candidates(message: LegacyMessage) -> Iterator[Dict[str, Any]]:
    # Top-level `name` is the user's name, so only coordinates are taken from there.
    yield _location_fields(message.dict(), labels=False)
    content = message.content
    if isinstance(content, str) and content.strip().startswith("{"):
        try:
            content = json.loads(content)
        except (ValueError, RecursionError):
            content = None
    if isinstance(content, dict):
        yield _location_fields(content, labels=True)
    elif isinstance(content, str):
        match = _COORDINATES.search(content)
        if match:
            yield {"latitude": match.group(1), "longitude": match.group(2)}


def _location_fields(source: Dict[str, Any], *, labels: bool) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for target, keys in (("latitude", _LATITUDE_KEYS), ("longitude", _LONGITUDE_KEYS)):
        for key in keys:
            if source.get(key) is not None:
                found[target] = source[key]
                break
    if len(found) < 2 or not labels:
        return found
    for key in ("name", "address", "url"):
        if isinstance(source.get(key), str):
            found[key] = source[key]
    return found


def legacy_metadata(
    message: LegacyMessage, body: Dict[str, Any], kind: str, now: int
) -> Dict[str, Any]:
    """The metadata every legacy message carries (same keys as the Cloud API ones)."""
    return {
        "format": "legacy",
        "message_id": message.id,
        "message_type": kind,
        "timestamp": now if message.timestamp is None else message.timestamp,
        "name": message.name,
        "wa_id": message.msisdn,
        "user_id": None,
        "business_number": business_digits(message.did),
        "phone_number_id": None,
        "waba_id": None,
        "chattigo": {key: body[key] for key in _CHATTIGO_KEYS if key in body},
    }


def parse_legacy(body: Dict[str, Any], batch: Batch) -> None:
    """Adds a legacy message to the batch (or ignores it: echoes, ignored kinds).

    A message with a sender and a business number that cannot be mapped reaches the bot as
    `unsupported`, with the problem in metadata and in `batch.problems`.

    Raises:
        InvalidPayload: naming the broken field, when there is no sender or business number.
    """
    message, problem = _validated(body)
    if is_echo(message):
        batch.ignore(message.id, "legacy OUTBOUND echo of a message sent to the user")
        return
    kind = legacy_kind(message)
    if kind in batch.ignored_kinds:
        batch.ignore(message.id, f"kind {kind} is in 'ignore'")
        return
    try:
        if problem is not None:
            raise problem
        result = map_legacy(kind, message, batch.intents)
    except InvalidPayload as exc:
        problem = exc
        batch.problem(exc)
        result = unsupported_result(batch.intents)
    if result.intent_key in batch.ignored_kinds:
        batch.ignore(message.id, f"kind {result.intent_key} is in 'ignore'")
        return
    metadata = legacy_metadata(message, body, kind, batch.now)
    if batch.settings.metadata_raw or result.intent_key in RAW_KINDS:
        metadata["raw"] = body
    if problem is not None:
        metadata["problem"] = {"field": problem.field, "reason": problem.reason}
    metadata.update(result.details)
    batch.add(InboundMessage(
        message.msisdn, result.text, message.id, metadata["business_number"], kind, metadata))


def _validated(body: Dict[str, Any]) -> Tuple[LegacyMessage, Optional[InvalidPayload]]:
    """The legacy message; when broken beyond sender and number, just those and the problem."""
    try:
        return validate_legacy(body), None
    except InvalidPayload as exc:
        problem = exc
    salvaged = {key: body[key] for key in ("id", "did", "msisdn", "chatType", "type")
                if isinstance(body.get(key), (str, int)) and not isinstance(body[key], bool)}
    salvaged.setdefault("id", "sha256:" + hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str).encode("utf-8", "replace")).hexdigest())
    try:
        return validate_legacy(salvaged), problem
    except InvalidPayload:
        raise problem from None
