"""The WhatsApp Cloud API webhook envelope, walked item by item into a Batch."""

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.inbound._kinds import KindResult, map_kind, unsupported_result
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
from rasa_chattigo.logsafe import shown
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
        logger.debug("Ignoring %s: field %r is not 'messages'", path, shown(change.field))
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
    errors = [error for error in value.errors if isinstance(error, dict)]
    scope = _Scope(business, contacts, errors)
    for k, message in enumerate(value.messages):
        batch.guarded(_parse_message, message, f"{value_path}.messages.{k}", scope, batch)


def _value_error(raw: Any, path: str, business: _Business, batch: Batch) -> None:
    error = validate(WireError, raw, path)
    logger.warning(
        "WhatsApp reported error %s (%s) for business number %s",
        error.code,
        shown(error.title or error.message),
        shown(business.number),
    )
    batch.errors.append(raw)


def _parse_status(raw: Any, path: str, business: _Business, batch: Batch) -> None:
    status = validate(Status, raw, path)
    errors = raw.get("errors") or []
    if status.status == "failed":
        for error in status.errors or [WireError()]:
            logger.warning(
                "WhatsApp could not deliver message %s to %s: error %s (%s)",
                shown(status.id),
                shown(status.recipient_id or status.recipient_user_id),
                error.code,
                shown(error.title or error.message),
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


@dataclass(frozen=True)
class _Scope:
    """What the messages of one change share: the business, the contacts, value-level errors."""

    business: _Business
    contacts: _Contacts
    errors: List[Dict[str, Any]]


def _parse_message(raw: Any, path: str, scope: _Scope, batch: Batch) -> None:
    """One message for the bot: mapped by its kind, or as `unsupported` when it cannot be."""
    message, problem = _validated(raw, path)
    kind = (message.type or "").strip().lower() or "unknown"
    matched = scope.contacts.match(message)
    contact = matched[0] if matched else _NO_CONTACT
    sender = message.from_ or contact.wa_id or message.from_user_id or contact.user_id
    if not sender:
        raise problem or InvalidPayload(f"{path}.from", "is missing or empty, and so is "
                                        "from_user_id")
    if not scope.business.number:
        raise InvalidPayload(
            f"{path.rsplit('.messages.', 1)[0]}.metadata.display_phone_number",
            "is missing: cannot tell which business number the message is for",
        )
    if kind in batch.ignored_kinds:
        batch.ignore(message.id, f"kind {kind} is in 'ignore'")
        return
    result, problem = _mapped(kind, raw, path, batch, problem)
    if result.intent_key in batch.ignored_kinds:
        batch.ignore(message.id, f"kind {result.intent_key} is in 'ignore'")
        return
    for error in message.errors:
        logger.info("Message %s carries error %s (%s)", shown(message.id), error.code,
                    shown(error.title))
    keep_raw = batch.settings.metadata_raw or result.intent_key in RAW_KINDS
    metadata = _metadata(message, kind, raw, scope.business, matched, batch, keep_raw)
    if problem is not None:
        errors = raw.get("errors")  # not validated: the message is broken
        metadata.update(raw=raw, errors=[*(errors if isinstance(errors, list) else []),
                                         *scope.errors],
                        problem={"field": problem.field, "reason": problem.reason})
    metadata.update(result.details)
    batch.add(InboundMessage(sender, result.text, message.id, scope.business.number, kind,
                             metadata))


def _validated(raw: Any, path: str) -> Tuple[CloudMessage, Optional[InvalidPayload]]:
    """The message's common fields; when they are broken, what little can still be read."""
    try:
        return validate(CloudMessage, raw, path), None
    except InvalidPayload as exc:
        if not isinstance(raw, dict):
            raise
        problem = exc
    salvaged = {key: raw[key] for key in ("from", "from_user_id", "id")
                if isinstance(raw.get(key), (str, int)) and not isinstance(raw[key], bool)}
    salvaged.setdefault("id", "sha256:" + hashlib.sha256(
        json.dumps(raw, sort_keys=True, default=str).encode("utf-8", "replace")).hexdigest())
    if isinstance(raw.get("type"), str):
        salvaged["type"] = raw["type"]
    return validate(CloudMessage, salvaged, path), problem


def _mapped(
    kind: str, raw: Dict[str, Any], path: str, batch: Batch, problem: Optional[InvalidPayload]
) -> Tuple[KindResult, Optional[InvalidPayload]]:
    """The kind's mapping; `unsupported` (and the problem, listed) when it cannot be mapped."""
    if problem is None:
        try:
            return map_kind(kind, raw, path, batch.intents), None
        except InvalidPayload as exc:
            problem = exc
    batch.problem(problem)
    return unsupported_result(batch.intents), problem


def _metadata(
    message: CloudMessage, kind: str, raw: Dict[str, Any], business: _Business,
    matched: Optional[Tuple[Contact, Dict[str, Any]]], batch: Batch, keep_raw: bool,
) -> Dict[str, Any]:
    contact = matched[0] if matched else _NO_CONTACT
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
    if keep_raw:
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
    return metadata


def _says_more(contact: Dict[str, Any]) -> bool:
    """Whether a contact holds more than the name and wa_id already in metadata."""
    profile = contact.get("profile")
    return bool(set(contact) - {"profile", "wa_id"}) or (
        isinstance(profile, dict) and bool(set(profile) - {"name"}))
