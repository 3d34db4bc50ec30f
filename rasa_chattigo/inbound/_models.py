"""Wire models (pydantic v1 API, through compat) of the webhook bodies Chattigo forwards to us."""

import math
from typing import Any, Callable, Dict, Iterator, List, Optional, Type, TypeVar

from rasa_chattigo.compat.pydantic_api import BaseModel, Extra, Field, validator

#: Timestamps above this are taken as milliseconds (10**11 seconds is the year 5138).
_MILLISECONDS_ABOVE = 10**11
_LATEST_TIMESTAMP = 10**14

WireT = TypeVar("WireT", bound="Wire")


class WireId(str):
    """An identifier or number sent as a JSON string or integer (never a bool, list or object)."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], str]]:
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> str:
        """Accepts str and int; an int becomes its decimal string."""
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise TypeError("must be a string")


class UnixTime(int):
    """Unix time in seconds, sent as a string or a number; milliseconds are converted."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], int]]:
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> int:
        """Returns whole seconds since the epoch."""
        number: float
        if isinstance(value, bool):
            raise TypeError("must be Unix time in seconds")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and math.isfinite(value):
            number = value
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ValueError("must be Unix time in seconds") from None
            if not math.isfinite(number):
                raise ValueError("must be Unix time in seconds")
        else:
            raise TypeError("must be Unix time in seconds")
        if not 0 <= number < _LATEST_TIMESTAMP:
            raise ValueError("must be Unix time in seconds")
        seconds = int(number)
        return seconds // 1000 if seconds > _MILLISECONDS_ABOVE else seconds


class Wire(BaseModel):
    """Base of every wire model: unknown fields are accepted and kept."""

    class Config:
        extra = Extra.allow

    @classmethod
    def validate(cls: Type[WireT], value: Any) -> WireT:
        """As a nested field: only a JSON object (pydantic v1 would turn `[]` into `{}`)."""
        if not isinstance(value, (dict, cls)):
            raise TypeError("value is not a valid dict")
        return super().validate(value)


# --- Cloud API envelope ------------------------------------------------------------------


class CloudEnvelope(Wire):
    """The top level: `object` and the list of `entry`; entries are validated one by one."""

    object: str
    entry: List[Any]


class Entry(Wire):
    """One WhatsApp Business Account's changes."""

    id: Optional[WireId] = None
    changes: List[Any] = []


class Change(Wire):
    """One change; `field` is `messages` for inbound messages and statuses."""

    field: Optional[str] = None
    value: Any = None  # validated once, as a Value, only when `field` is `messages`


class BusinessMetadata(Wire):
    """The business number a change concerns."""

    display_phone_number: Optional[WireId] = None
    phone_number_id: Optional[WireId] = None


class Value(Wire):
    """A change's value; messages, statuses and contacts are validated one by one."""

    metadata: Optional[BusinessMetadata] = None
    contacts: List[Any] = []
    messages: List[Any] = []
    statuses: List[Any] = []
    errors: List[Any] = []


class Profile(Wire):
    """A sender's WhatsApp profile."""

    name: Optional[str] = None
    username: Optional[str] = None
    country_code: Optional[str] = None


class Contact(Wire):
    """Who sent the messages of a change (`value.contacts[]`)."""

    wa_id: Optional[WireId] = None
    user_id: Optional[WireId] = None
    profile: Optional[Profile] = None


class WireError(Wire):
    """An error object (value-level, message-level or on a status)."""

    code: Optional[int] = None
    title: Optional[str] = None
    message: Optional[str] = None
    details: Optional[str] = None


class Context(Wire):
    """What a message answers or forwards."""

    from_: Optional[WireId] = Field(None, alias="from")
    id: Optional[WireId] = None
    forwarded: Optional[bool] = None
    frequently_forwarded: Optional[bool] = None
    referred_product: Optional[Dict[str, Any]] = None


class CloudMessage(Wire):
    """The fields every inbound message shares; the per-type object is validated separately."""

    from_: Optional[WireId] = Field(None, alias="from")
    from_user_id: Optional[WireId] = None
    id: WireId
    timestamp: Optional[UnixTime] = None
    type: Optional[str] = None
    context: Optional[Context] = None
    referral: Optional[Dict[str, Any]] = None
    identity: Optional[Dict[str, Any]] = None
    errors: List[WireError] = []


class Status(Wire):
    """The delivery status of a message we sent."""

    id: WireId
    status: str
    timestamp: Optional[UnixTime] = None
    recipient_id: Optional[WireId] = None
    recipient_user_id: Optional[WireId] = None
    errors: List[WireError] = []
    conversation: Optional[Dict[str, Any]] = None
    pricing: Optional[Dict[str, Any]] = None
    biz_opaque_callback_data: Optional[str] = None


# --- Cloud API per-type objects ----------------------------------------------------------


class TextObject(Wire):
    """`text`."""

    body: str


class MediaObject(Wire):
    """`image`, `video`, `audio`, `document` and `sticker`."""

    id: Optional[WireId] = None
    mime_type: Optional[str] = None
    sha256: Optional[str] = None
    url: Optional[str] = None
    caption: Optional[str] = None
    filename: Optional[str] = None
    voice: Optional[bool] = None
    animated: Optional[bool] = None


class LocationObject(Wire):
    """`location`: coordinates are required, the rest is optional."""

    latitude: float
    longitude: float
    name: Optional[str] = None
    address: Optional[str] = None
    url: Optional[str] = None

    @validator("latitude")
    def _latitude(cls, value: float) -> float:
        if not (math.isfinite(value) and -90.0 <= value <= 90.0):
            raise ValueError("must be between -90 and 90")
        return value

    @validator("longitude")
    def _longitude(cls, value: float) -> float:
        if not (math.isfinite(value) and -180.0 <= value <= 180.0):
            raise ValueError("must be between -180 and 180")
        return value


class ReplyObject(Wire):
    """`interactive.button_reply` and `interactive.list_reply`."""

    id: WireId
    title: Optional[str] = None
    description: Optional[str] = None


class FlowReplyObject(Wire):
    """`interactive.nfm_reply` (a WhatsApp Flow completion); `response_json` is a JSON string."""

    name: Optional[str] = None
    body: Optional[str] = None
    response_json: Optional[str] = None


class InteractiveObject(Wire):
    """`interactive`: the reply object is named by `type`."""

    type: str


class ButtonObject(Wire):
    """`button`: a template quick-reply."""

    payload: Optional[str] = None
    text: Optional[str] = None


class ReactionObject(Wire):
    """`reaction`; a removed reaction has no emoji or an empty one."""

    message_id: Optional[WireId] = None
    emoji: Optional[str] = None


class OrderObject(Wire):
    """`order`: products picked from a catalog."""

    catalog_id: Optional[WireId] = None
    text: Optional[str] = None
    product_items: List[Dict[str, Any]] = []


class SharedContacts(Wire):
    """A `contacts` message: the cards the user shared."""

    contacts: List[Dict[str, Any]]


class SystemObject(Wire):
    """`system`: the user changed number or identity."""

    type: Optional[str] = None
    body: Optional[str] = None
    wa_id: Optional[WireId] = None
    user_id: Optional[WireId] = None


class UnsupportedObject(Wire):
    """`unsupported`: names what the user sent that the Cloud API cannot show."""

    type: Optional[str] = None
