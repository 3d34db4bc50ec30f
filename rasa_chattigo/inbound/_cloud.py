"""The WhatsApp Cloud API webhook envelope, walked item by item into a Batch."""

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.inbound._kinds import map_kind
from rasa_chattigo.inbound._models import (
    Change,
    CloudEnvelope,
    CloudMessage,
    Contact,
    Entry,
    Status,
    Value,
    WireError,
)
from rasa_chattigo.inbound._types import (
    Batch,
    InboundMessage,
    StatusUpdate,
    business_digits,
    validate,
)
from rasa_chattigo.settings import RAW_KINDS

logger = logging.getLogger(__name__)

CLOUD_API_OBJECT = "whatsapp_business_account"
_NO_CONTACT = Contact()


@dataclass(frozen=True)
class _Business:
    waba_id: Optional[str]
    number: str
    phone_number_id: Optional[str]


def parse_cloud(body: Dict[str, Any], batch: Batch) -> None:
    """Walks a Cloud API envelope: every entry, change, status and message, in order.

    Raises:
        InvalidPayload: the top level (`object`, `entry`) is broken; deeper problems are
            collected in `batch.problems`.
    """
    envelope = validate(CloudEnvelope, body, "")
    if envelope.object != CLOUD_API_OBJECT:
        got = envelope.object[:60]
        raise InvalidPayload("object", f"must be '{CLOUD_API_OBJECT}', got {got!r}")
    for i, entry in enumerate(envelope.entry):
        batch.guarded(_parse_entry, entry, f"entry.{i}", batch)


def _parse_entry(raw: Any, path: str, batch: Batch) -> None:
    entry = validate(Entry, raw, path)
    for j, change in enumerate(entry.changes):
        batch.guarded(_parse_change, change, f"{path}.changes.{j}", entry.id, batch)


def _parse_change(raw: Any, path: str, waba_id: Optional[str], batch: Batch) -> None:
    change = validate(Change, raw, path)
    if change.field not in (None, "messages"):
        logger.debug("Ignoring %s: field %r is not 'messages'", path, change.field)
        return
    value_path = f"{path}.value"
    value = validate(Value, change.value, value_path)
    meta = value.metadata
    number = business_digits(meta.display_phone_number if meta else None)
    business = _Business(
        waba_id, number or batch.settings.did or "", meta.phone_number_id if meta else None
    )
    for k, error in enumerate(value.errors):
        batch.guarded(_value_error, error, f"{value_path}.errors.{k}", business, batch)
    contacts = _Contacts()
    for k, contact in enumerate(value.contacts):
        batch.guarded(contacts.add, contact, f"{value_path}.contacts.{k}")
    for k, status in enumerate(value.statuses):
        batch.guarded(_parse_status, status, f"{value_path}.statuses.{k}", business, batch)
    for k, message in enumerate(value.messages):
        path_k = f"{value_path}.messages.{k}"
        batch.guarded(_parse_message, message, path_k, business, contacts, batch)


def _value_error(raw: Any, path: str, business: _Business, batch: Batch) -> None:
    error = validate(WireError, raw, path)
    logger.warning(
        "WhatsApp reported error %s (%s) for business number %s",
        error.code,
        error.title or error.message,
        business.number,
    )
    batch.errors.append(raw)


def _parse_status(raw: Any, path: str, business: _Business, batch: Batch) -> None:
    status = validate(Status, raw, path)
    errors = raw.get("errors") or []
    if status.status == "failed":
        for error in status.errors or [WireError()]:
            logger.warning(
                "WhatsApp could not deliver message %s to %s: error %s (%s)",
                status.id,
                status.recipient_id or status.recipient_user_id,
                error.code,
                error.title or error.message,
            )
    batch.statuses.append(
        StatusUpdate(
            id=status.id,
            status=status.status,
            recipient_id=status.recipient_id,
            timestamp=status.timestamp,
            errors=errors,
            conversation=status.conversation,
            pricing=status.pricing,
            business_number=business.number or None,
            phone_number_id=business.phone_number_id,
            recipient_user_id=status.recipient_user_id,
            biz_opaque_callback_data=status.biz_opaque_callback_data,
        )
    )


class _Contacts:
    """The `contacts` of one change, looked up by `wa_id` or business-scoped user id."""

    def __init__(self) -> None:
        self.by_wa_id: Dict[str, Tuple[Contact, Dict[str, Any]]] = {}
        self.by_user_id: Dict[str, Tuple[Contact, Dict[str, Any]]] = {}
        self.anonymous: List[Tuple[Contact, Dict[str, Any]]] = []
        self.count = 0

    def add(self, raw: Any, path: str) -> None:
        contact = validate(Contact, raw, path)
        self.count += 1
        if contact.wa_id:
            self.by_wa_id.setdefault(contact.wa_id.lstrip("+"), (contact, raw))
        if contact.user_id:
            self.by_user_id.setdefault(contact.user_id, (contact, raw))
        if not contact.wa_id and not contact.user_id:
            self.anonymous.append((contact, raw))

    def match(self, message: CloudMessage) -> Optional[Tuple[Contact, Dict[str, Any]]]:
        found = None
        if message.from_:
            found = self.by_wa_id.get(message.from_.lstrip("+"))
        if found is None and message.from_user_id:
            found = self.by_user_id.get(message.from_user_id)
        # A lone contact naming nobody contradicts no one; one naming someone else is not ours.
        if found is None and self.count == 1 and self.anonymous:
            found = self.anonymous[0]
        return found


def _parse_message(
    raw: Any,
    path: str,
    business: _Business,
    contacts: _Contacts,
    batch: Batch,
) -> None:
    message = validate(CloudMessage, raw, path)
    kind = (message.type or "").strip().lower() or "unknown"
    matched = contacts.match(message)
    contact = matched[0] if matched else _NO_CONTACT
    sender = message.from_ or contact.wa_id or message.from_user_id or contact.user_id
    if not sender:
        raise InvalidPayload(f"{path}.from", "is missing or empty, and so is from_user_id")
    if not business.number:
        raise InvalidPayload(
            f"{path.rsplit('.messages.', 1)[0]}.metadata.display_phone_number",
            "is missing: cannot tell which business number the message is for",
        )
    if kind in batch.ignored_kinds:
        batch.ignore(message.id, f"kind {kind} is in 'ignore'")
        return
    result = map_kind(kind, raw, path, batch.intents)
    if result.intent_key in batch.ignored_kinds:
        batch.ignore(message.id, f"kind {result.intent_key} is in 'ignore'")
        return
    for error in message.errors:
        logger.info("Message %s carries error %s (%s)", message.id, error.code, error.title)
    profile = contact.profile
    metadata: Dict[str, Any] = {
        "format": "cloud_api",
        "message_id": message.id,
        "message_type": kind,
        "timestamp": batch.now if message.timestamp is None else message.timestamp,
        "name": profile.name if profile else None,
        "wa_id": contact.wa_id or message.from_ or None,
        "user_id": message.from_user_id or contact.user_id or None,
        "business_number": business.number,
        "phone_number_id": business.phone_number_id,
        "waba_id": business.waba_id,
    }
    if batch.settings.metadata_raw or result.intent_key in RAW_KINDS:
        metadata["raw"] = raw
    if profile and profile.username:
        metadata["username"] = profile.username
    if profile and profile.country_code:
        metadata["country_code"] = profile.country_code
    if matched and (batch.settings.metadata_raw or _says_more(matched[1])):
        metadata["contact"] = matched[1]
    for key in ("context", "referral", "identity", "errors"):
        if raw.get(key) is not None:
            metadata[key] = raw[key]
    metadata.update(result.details)
    batch.messages.append(
        InboundMessage(sender, result.text, message.id, business.number, kind, metadata)
    )


def _says_more(contact: Dict[str, Any]) -> bool:
    """Whether a contact holds more than the name and wa_id already in metadata."""
    profile = contact.get("profile")
    return bool(set(contact) - {"profile", "wa_id"}) or (
        isinstance(profile, dict) and bool(set(profile) - {"name"}))
