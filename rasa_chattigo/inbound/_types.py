"""The parsed shapes of a webhook (messages, statuses) and the collector that builds them."""

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Type

from rasa_chattigo.compat.pydantic_api import ModelT, parse_model
from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.inbound._limits import (
    MAX_BUSINESS_DIGITS,
    MAX_NAME_CHARS,
    MAX_SENDER_CHARS,
    MAX_TEXT_CHARS,
    bounded_id,
    bounded_metadata,
    cut,
)
from rasa_chattigo.logsafe import shown
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

_NOT_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class InboundMessage:
    """One user message, ready to become a Rasa `UserMessage`.

    Attributes:
        sender_id: the user as received: `from`, else the contact's `wa_id`, else the
            business-scoped user id (`from_user_id` / `user_id`); legacy: `msisdn`.
        text: what Rasa receives: the text, a reply id or payload, a caption, or
            `/intent{json entities}`.
        message_id: the wamid (Cloud API) or the legacy `id`, as a string.
        business_number: the business number in digits (`display_phone_number` or `did`).
        kind: the message type, lower-case (`text`, `image`, `interactive`, ...).
        metadata: JSON-serialisable details; see docs/inbound.md.
    """

    sender_id: str
    text: str
    message_id: str
    business_number: str
    kind: str
    metadata: Dict[str, Any]

    def as_dict(self) -> Dict[str, Any]:
        """The fields as a JSON-ready dict, which `InboundMessage(**d)` reads back.

        Cheaper than `dataclasses.asdict`, which copies every nested value: only the
        metadata's top level is copied, as nothing changes a message's metadata once parsed.
        """
        return {"sender_id": self.sender_id, "text": self.text, "message_id": self.message_id,
                "business_number": self.business_number, "kind": self.kind,
                "metadata": dict(self.metadata)}


@dataclass(frozen=True)
class StatusUpdate:
    """The delivery status of a message the bot sent; acknowledged, never given to the bot."""

    id: str
    status: str
    recipient_id: Optional[str]
    timestamp: Optional[int]
    errors: List[Dict[str, Any]]
    conversation: Optional[Dict[str, Any]] = None
    pricing: Optional[Dict[str, Any]] = None
    business_number: Optional[str] = None
    phone_number_id: Optional[str] = None
    recipient_user_id: Optional[str] = None
    biz_opaque_callback_data: Optional[str] = None


@dataclass(frozen=True)
class ParsedWebhook:
    """Everything one webhook body held.

    Attributes:
        messages: for the bot, in payload order.
        statuses: delivery statuses (a `failed` one is already logged at WARNING).
        problems: broken items of a batch; the good items are still delivered.
        ignored: ids of messages acknowledged but dropped (echoes, ignored kinds).
        errors: value-level error objects (already logged at WARNING).
        format: `cloud_api` or `legacy`.
    """

    messages: List[InboundMessage]
    statuses: List[StatusUpdate]
    problems: List[InvalidPayload]
    ignored: List[str]
    errors: List[Dict[str, Any]] = field(default_factory=list)
    format: str = "cloud_api"


class Batch:
    """What one parse has collected so far, and the settings it reads."""

    def __init__(self, settings: ChattigoSettings, now: int) -> None:
        self.settings = settings
        self.intents = settings.intent_for
        self.ignored_kinds = frozenset(settings.ignored_kinds)
        self.now = now
        self.messages: List[InboundMessage] = []
        self.statuses: List[StatusUpdate] = []
        self.problems: List[InvalidPayload] = []
        self.ignored: List[str] = []
        self.errors: List[Dict[str, Any]] = []

    def guarded(self, step: Callable[..., None], *args: Any) -> None:
        """Runs one step of the walk; a broken part becomes a problem, the walk goes on."""
        try:
            step(*args)
        except InvalidPayload as exc:
            logger.warning("Skipping a broken part of a webhook: %s", shown(exc))
            self.problems.append(exc)

    def ignore(self, message_id: str, why: str) -> None:
        """Acknowledges a message without giving it to the bot."""
        logger.debug("Ignoring message %s: %s", shown(message_id), why)
        self.ignored.append(bounded_id(message_id))

    def problem(self, problem: InvalidPayload) -> None:
        """Lists a broken part that still reached the bot (as `unsupported`)."""
        logger.warning("A message that cannot be mapped goes to the bot as unsupported: %s",
                       shown(problem))
        self.problems.append(problem)

    def add(self, message: InboundMessage) -> None:
        """Adds a message for the bot, held to the caps of `_limits`.

        Raises:
            InvalidPayload: the sender or the business number is longer than anyone's.
        """
        if len(message.sender_id) > MAX_SENDER_CHARS:
            raise InvalidPayload("from", f"is longer than {MAX_SENDER_CHARS} characters")
        if len(message.business_number) > MAX_BUSINESS_DIGITS:
            raise InvalidPayload("business_number", f"has more than {MAX_BUSINESS_DIGITS} digits")
        message_id = bounded_id(message.message_id)
        text = cut(message.text, MAX_TEXT_CHARS)
        metadata = dict(message.metadata, message_id=message_id)
        if isinstance(metadata.get("name"), str):
            metadata["name"] = cut(metadata["name"], MAX_NAME_CHARS)
        metadata, truncated = bounded_metadata(metadata)
        if truncated or text != message.text:
            logger.warning("Message %s was cut to the limits (text %d chars)", shown(message_id),
                           len(message.text))
            metadata["truncated"] = True
        self.messages.append(InboundMessage(message.sender_id, text, message_id,
                                            message.business_number, message.kind, metadata))


def validate(model: Type[ModelT], data: Any, path: str) -> ModelT:
    """`parse_model` that also refuses non-objects (pydantic v1 would coerce pairs)."""
    if not isinstance(data, dict):
        got = "is missing" if data is None else f"must be an object, got {json_type(data)}"
        raise InvalidPayload(path, got)
    return parse_model(model, data, prefix=path)


def business_digits(number: Optional[str]) -> str:
    """A business number as digits only (`+54 9 11 4000-1234` -> `5491140001234`)."""
    return _NOT_DIGITS.sub("", number or "")


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__
