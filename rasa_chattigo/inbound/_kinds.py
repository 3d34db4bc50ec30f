"""What the bot receives for each kind of Cloud API message: its text and its metadata."""

import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Type

from rasa_chattigo.compat.pydantic_api import ModelT, dump_model
from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.inbound._limits import (
    MAX_ENTITY_CHARS,
    MAX_ENTITY_NAME_CHARS,
    MAX_FLOW_ENTITIES,
    MAX_FLOW_JSON_CHARS,
    MAX_TEXT_CHARS,
    clean_json,
    cut,
)
from rasa_chattigo.inbound._models import (
    ButtonObject,
    FlowReplyObject,
    InteractiveObject,
    LocationObject,
    MediaObject,
    OrderObject,
    ReactionObject,
    ReplyObject,
    SharedContacts,
    SystemObject,
    TextObject,
    UnsupportedObject,
)
from rasa_chattigo.inbound._types import validate

logger = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")

#: Flow response fields that become entities must be plain identifiers, so that no
#: name can confuse Rasa's `/intent{json}` parser or a domain's entity list.
_ENTITY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Always in metadata, never an entity: it identifies the flow session, not user input.
_FLOW_NOT_ENTITIES = frozenset({"flow_token"})


@dataclass(frozen=True)
class KindResult:
    """A message kind mapped for the bot.

    Attributes:
        text: what Rasa receives.
        intent_key: the key of `settings.intent_for` this message used (also checked against
            `ignore`): the message type, `voice` for voice notes, `nfm_reply` for Flows.
        details: kind-specific metadata merged into `InboundMessage.metadata`.
    """

    text: str
    intent_key: str
    details: Dict[str, Any]


def intent_text(intent: str, entities: Optional[Mapping[str, Any]] = None) -> str:
    """`/intent` or `/intent{"entity":value,...}`, the form Rasa's RegexMessageHandler reads.

    String values are cut at `MAX_ENTITY_CHARS`; entities that would take the text past
    `MAX_TEXT_CHARS` are left out (they stay in the message's metadata).
    """
    text = f"/{intent}"
    if not entities:
        return text
    kept = {name: cut(value, MAX_ENTITY_CHARS) if isinstance(value, str) else value
            for name, value in entities.items()}
    while kept:
        full = text + json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
        if len(full) <= MAX_TEXT_CHARS:
            return full
        kept.popitem()
    return text


def unsupported_result(intents: Mapping[str, str]) -> KindResult:
    """What the bot receives for a message that cannot be mapped: the `unsupported` intent."""
    return KindResult(intent_text(intents["unsupported"]), "unsupported", {})


def _part(message: Dict[str, Any], key: str, model: Type[ModelT], path: str) -> ModelT:
    return validate(model, message.get(key), f"{path}.{key}")


def _text(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    body = _part(message, "text", TextObject, path).body
    if not body.strip():
        raise InvalidPayload(f"{path}.text.body", "is empty")
    return KindResult(body, "text", {})


def _media(kind: str) -> Callable[[Dict[str, Any], str, Mapping[str, str]], KindResult]:
    def mapper(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
        media = _part(message, kind, MediaObject, path)
        key = "voice" if kind == "audio" and media.voice else kind
        caption = media.caption if media.caption and media.caption.strip() else None
        details = media_details(kind, url=media.url, caption=caption, mime_type=media.mime_type,
                                filename=media.filename, media_id=media.id, sha256=media.sha256,
                                voice=bool(media.voice), animated=bool(media.animated))
        return KindResult(caption or intent_text(intents[key]), key, details)

    return mapper


def media_details(
    kind: str, *, url: Optional[str], caption: Optional[str], mime_type: Optional[str],
    filename: Optional[str], media_id: Optional[str] = None, sha256: Optional[str] = None,
    voice: bool = False, animated: bool = False,
) -> Dict[str, Any]:
    """The `media` metadata of a photo, video, document, audio or sticker, in either format."""
    return {"media": {
        "type": kind, "id": media_id, "mime_type": mime_type, "sha256": sha256, "url": url,
        "caption": caption, "filename": filename, "voice": voice, "animated": animated,
    }}


def location_result(location: LocationObject, intents: Mapping[str, str]) -> KindResult:
    """`/<location intent>{latitude, longitude, name, address}` with only the keys present."""
    found = dump_model(location)
    entities: Dict[str, Any] = {
        k: found[k] for k in ("latitude", "longitude", "name", "address") if k in found
    }
    shown = {k: v for k, v in found.items() if k in ("url", *entities)}
    return KindResult(intent_text(intents["location"], entities), "location", {"location": shown})


def _location(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    return location_result(_part(message, "location", LocationObject, path), intents)


def _interactive(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    interactive = _part(message, "interactive", InteractiveObject, path)
    reply_type = interactive.type
    reply_path = f"{path}.interactive"
    if reply_type in ("button_reply", "list_reply"):
        reply = _part(message["interactive"], reply_type, ReplyObject, reply_path)
        text = reply.id if reply.id.strip() else (reply.title or "")
        if not text.strip():
            raise InvalidPayload(f"{reply_path}.{reply_type}.id", "is empty and there is no title")
        shown: Dict[str, Any] = {"type": reply_type, "id": reply.id, "title": reply.title}
        if reply_type == "list_reply":
            shown["description"] = reply.description
        return KindResult(text, "interactive", {"interactive": shown})
    if reply_type == "nfm_reply":
        flow = _part(message["interactive"], "nfm_reply", FlowReplyObject, reply_path)
        response = _flow_response(flow.response_json, f"{reply_path}.nfm_reply.response_json")
        shown = {"name": flow.name, "body": flow.body, "response": response}
        text = intent_text(intents["nfm_reply"], flow_entities(response))
        return KindResult(text, "nfm_reply", {"flow": shown})
    return KindResult(
        intent_text(intents["unknown"]), "unknown", {"interactive": message["interactive"]}
    )


def _flow_response(response_json: Optional[str], path: str) -> Optional[Dict[str, Any]]:
    if response_json is None:
        return None
    if len(response_json) > MAX_FLOW_JSON_CHARS:
        logger.warning("%s is longer than %d characters; the flow reply arrives without "
                       "entities", path, MAX_FLOW_JSON_CHARS)
        return {"truncated": True, "chars": len(response_json),
                "start": response_json[:MAX_ENTITY_CHARS]}
    try:
        response = json.loads(response_json)
    except (ValueError, RecursionError):
        logger.warning("%s is not valid JSON; the flow reply arrives without entities", path)
        return None
    if not isinstance(response, dict):
        logger.warning("%s is not a JSON object; the flow reply arrives without entities", path)
        return None
    return clean_json(response, depth=1)


def flow_entities(response: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The entities taken from a parsed Flow response: top-level scalars with plain names.

    Strings, booleans and finite numbers whose names match `[A-Za-z_][A-Za-z0-9_]*` (at most
    `MAX_ENTITY_NAME_CHARS` long) qualify, the first `MAX_FLOW_ENTITIES` of them; `flow_token`,
    nulls, lists, objects and the rest stay in metadata only.
    """
    if not response or response.get("truncated") is True:
        return {}
    entities: Dict[str, Any] = {}
    for name, value in response.items():
        if len(entities) >= MAX_FLOW_ENTITIES:
            break
        if (
            name not in _FLOW_NOT_ENTITIES
            and len(name) <= MAX_ENTITY_NAME_CHARS
            and _ENTITY_NAME.match(name)
            and (
                isinstance(value, (str, bool, int))
                or (isinstance(value, float) and math.isfinite(value))
            )
        ):
            entities[name] = value
    return entities


def _button(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    button = _part(message, "button", ButtonObject, path)
    text = button.payload if button.payload and button.payload.strip() else button.text
    if not text or not text.strip():
        raise InvalidPayload(f"{path}.button.payload", "is empty and so is button.text")
    return KindResult(text, "button", {"button": {"payload": button.payload, "text": button.text}})


def _reaction(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    reaction = _part(message, "reaction", ReactionObject, path)
    emoji = reaction.emoji or ""
    shown = {"message_id": reaction.message_id, "emoji": emoji, "removed": not emoji}
    text = intent_text(intents["reaction"], {"emoji": emoji} if emoji else None)
    return KindResult(text, "reaction", {"reaction": shown})


def _contacts(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    cards = validate(SharedContacts, {"contacts": message.get("contacts")}, path).contacts
    return KindResult(intent_text(intents["contacts"]), "contacts", {"contacts": cards})


def _order(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    order = dump_model(_part(message, "order", OrderObject, path))
    return KindResult(intent_text(intents["order"]), "order", {"order": order})


def _system(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    system = dump_model(_part(message, "system", SystemObject, path))
    return KindResult(intent_text(intents["system"]), "system", {"system": system})


def _unsupported(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    raw = message.get("unsupported")
    shown = dump_model(_part(message, "unsupported", UnsupportedObject, path)) if raw else {}
    return KindResult(intent_text(intents["unsupported"]), "unsupported", {"unsupported": shown})


def _welcome(message: Dict[str, Any], path: str, intents: Mapping[str, str]) -> KindResult:
    return KindResult(intent_text(intents["request_welcome"]), "request_welcome", {})


_MAPPERS: Dict[str, Callable[[Dict[str, Any], str, Mapping[str, str]], KindResult]] = {
    "text": _text,
    "interactive": _interactive,
    "button": _button,
    "location": _location,
    "contacts": _contacts,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "unsupported": _unsupported,
    "request_welcome": _welcome,
    **{kind: _media(kind) for kind in MEDIA_KINDS},
}


def map_kind(
    kind: str, message: Dict[str, Any], path: str, intents: Mapping[str, str]
) -> KindResult:
    """Maps one Cloud API message of type `kind`; an unknown type gets the `unknown` intent.

    Args:
        kind: the lower-cased message type.
        message: the raw message object.
        path: its dotted path, for errors.
        intents: `settings.intent_for`.

    Raises:
        InvalidPayload: the type's own object is missing or broken.
    """
    mapper = _MAPPERS.get(kind)
    if mapper is None:
        return KindResult(intent_text(intents["unknown"]), "unknown", {})
    return mapper(message, path, intents)
