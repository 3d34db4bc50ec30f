"""Strict validation of Chattigo's proprietary send format (`POST /webhooks/inbound`)."""

from dataclasses import dataclass
from typing import Any, Callable, Collection, Dict, List, Tuple

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.fields import MIME, Fields, NotPermitted

CHANNELS = ("WHATSAPP", "FACEBOOK", "WEBCHAT", "MESSENGER")
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_HSM_DESTINATIONS = 1000


@dataclass(frozen=True)
class AcceptedSend:
    """A send that passed validation.

    Attributes:
        message_id: the caller's `id`, the key of duplicate detection.
        did: the business number sending.
        recipients: user numbers it goes to (one, or every HSM destination).
        kind: what the user receives: text, image, video, audio, document or template; or
            transfer, group, close, timeout (hand-off sends, which reach no phone).
        payload: the request body as received.
    """

    message_id: str
    did: str
    recipients: List[str]
    kind: str
    payload: Dict[str, Any]


#: `type` -> validator returning (kind, recipients); add an entry to support a new type.
SendValidator = Callable[[Fields], Tuple[str, List[str]]]
SEND_TYPES: Dict[str, SendValidator] = {}


def send_type(name: str) -> Callable[[SendValidator], SendValidator]:
    """Registers the validator of one proprietary `type`."""

    def register(func: SendValidator) -> SendValidator:
        SEND_TYPES[name] = func
        return func

    return register


def validate_send(body: Any, allowed_dids: Collection[str]) -> AcceptedSend:
    """Checks a proprietary send exactly as Chattigo would.

    Args:
        body: the decoded JSON body.
        allowed_dids: business numbers the authenticated user may send from.

    Raises:
        InvalidPayload: naming the first wrong field (answered 400).
        NotPermitted: `did` is well-formed but not this user's (answered 403).
    """
    fields = Fields(body)
    message_id = fields.text("id", non_empty=True)
    did = fields.digits("did")
    kind_of = fields.text("type", non_empty=True, choices=tuple(SEND_TYPES))
    fields.text("channel", choices=CHANNELS)
    assert message_id is not None and did is not None and kind_of is not None
    kind, recipients = SEND_TYPES[kind_of](fields)
    if did not in allowed_dids:
        raise NotPermitted("did", f"business number {did} is not enabled for this user")
    return AcceptedSend(message_id, did, recipients, kind, body)


def _person(fields: Fields) -> str:
    msisdn = fields.digits("msisdn")
    fields.text("name")
    assert msisdn is not None
    return msisdn


@send_type("text")
def _text(fields: Fields) -> Tuple[str, List[str]]:
    msisdn = _person(fields)
    fields.text("content", non_empty=True, max_len=TEXT_LIMIT)
    if fields.flag("isAttachment"):
        raise InvalidPayload("isAttachment", "must be false when type is text")
    fields.absent("attachment", "is only allowed when type is media")
    return "text", [msisdn]


@send_type("media")
def _media(fields: Fields) -> Tuple[str, List[str]]:
    msisdn = _person(fields)
    fields.text("content", max_len=CAPTION_LIMIT)
    if not fields.flag("isAttachment"):
        raise InvalidPayload("isAttachment", "must be true when type is media")
    attachment = fields.obj("attachment")
    assert attachment is not None
    attachment.url("mediaUrl")
    mime = attachment.text(
        "mimeType", non_empty=True, pattern=MIME, pattern_help="must look like type/subtype"
    )
    attachment.text("fileName", required=False, non_empty=True)
    assert mime is not None
    return media_kind(mime), [msisdn]


@send_type("HSM")
def _hsm(fields: Fields) -> Tuple[str, List[str]]:
    hsm = fields.obj("hsm")
    assert hsm is not None
    # Chattigo's page names the template `template`; older integrations send `elementName`.
    hsm.text("elementName" if hsm.has("elementName") else "template", non_empty=True)
    hsm.text("namespace", required=False)
    hsm.text("languageCode", non_empty=True)
    _string_items(hsm, "parameters")
    recipients = []
    for destination in hsm.objects("destinations", min_len=1, max_len=MAX_HSM_DESTINATIONS):
        recipients.append(destination.digits("destination") or "")
        _string_items(destination, "parameters")
    fields.text("name", required=False)
    fields.text("content", required=False)
    if fields.flag("isAttachment", required=False):
        raise InvalidPayload("isAttachment", "must be false when type is HSM")
    return "template", recipients


def _control(fields: Fields, kind: str) -> Tuple[str, List[str]]:
    msisdn = fields.digits("msisdn")
    fields.text("name", required=False)
    fields.text("idCampaign", required=kind == "group", non_empty=True)
    fields.text("content", required=kind == "group", non_empty=kind == "group")
    fields.absent("attachment", f"is not allowed when type is {kind}")
    if fields.flag("isAttachment", required=False):
        raise InvalidPayload("isAttachment", f"must be false when type is {kind}")
    assert msisdn is not None
    return kind, [msisdn]


@send_type("transfer")
def _transfer(fields: Fields) -> Tuple[str, List[str]]:
    """Hands the chat to Chattigo's agents (`idCampaign` on multi-campaign accounts)."""
    return _control(fields, "transfer")


@send_type("group")
def _group(fields: Fields) -> Tuple[str, List[str]]:
    """Hands the chat to one group of agents: `idCampaign` and the group code in `content`."""
    return _control(fields, "group")


@send_type("close")
def _close(fields: Fields) -> Tuple[str, List[str]]:
    """The bot's flow has ended."""
    return _control(fields, "close")


@send_type("timeout")
def _timeout(fields: Fields) -> Tuple[str, List[str]]:
    """The user stopped answering."""
    return _control(fields, "timeout")


def _string_items(fields: Fields, key: str) -> None:
    for index, item in enumerate(fields.items(key, required=False)):
        if not isinstance(item, str):
            raise InvalidPayload(f"{fields.at(key)}.{index}", "must be a string")


def media_kind(mime: str) -> str:
    """The WhatsApp media kind a MIME type is delivered as."""
    major = mime.split("/", 1)[0].lower()
    return major if major in ("image", "video", "audio") else "document"
