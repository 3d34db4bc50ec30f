"""Pure builders of the Cloud API webhooks a WhatsApp user's actions produce, in Meta's shapes."""

import base64
import hashlib
import inspect
import secrets
import time
from typing import Any, Callable, Dict, List, Optional, Union

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.kinds import CLOUD_KINDS
from rasa_chattigo.sandbox.legacy import build_legacy_webhook

__all__ = [
    "CLOUD_KINDS",
    "build_cloud_webhook",
    "build_legacy_webhook",
    "build_status_webhook",
    "envelope",
    "new_wamid",
]


def new_wamid(msisdn: str = "") -> str:
    """A fresh, unique WhatsApp message id shaped like Meta's (`wamid.` + base64)."""
    unique = secrets.token_hex(10).upper().encode()
    raw = b"\x18\x0d" + msisdn.encode() + b"\x15\x02\x00\x12\x18\x14" + unique
    return "wamid." + base64.b64encode(raw).decode()


def stable_id(did: str, salt: str) -> str:
    """A 15-digit id derived from a business number, stable across runs (phone_number_id, WABA)."""
    digest = hashlib.sha256(f"{salt}:{did}".encode()).hexdigest()
    return str(100000000000000 + int(digest, 16) % 900000000000000)


def envelope(did: str, value: Dict[str, Any]) -> Dict[str, Any]:
    """Meta's object/entry/changes wrapper around one `value` for business number `did`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": stable_id(did, "waba"),
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": did,
                                "phone_number_id": stable_id(did, "phone"),
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def build_cloud_webhook(
    kind: str,
    *,
    did: str,
    msisdn: str,
    name: str = "Usuario",
    message_id: Optional[str] = None,
    timestamp: Optional[float] = None,
    context: Union[str, Dict[str, Any], None] = None,
    forwarded: bool = False,
    referral: Optional[Dict[str, Any]] = None,
    **fields: Any,
) -> Dict[str, Any]:
    """The webhook Chattigo forwards when user `msisdn` sends a `kind` message to `did`.

    Args:
        kind: a key of `CLOUD_KINDS`: text, image, video, audio, document, sticker, location,
            contacts, button_reply, list_reply, nfm_reply, button, reaction, order, referral,
            request_welcome, system, unsupported.
        did: the business number (metadata.display_phone_number).
        msisdn: the user's WhatsApp id (from / wa_id).
        name: the user's profile name.
        message_id: the wamid; a fresh one when omitted.
        timestamp: Unix seconds; now when omitted.
        context: the wamid replied to (string) or a full `context` object.
        forwarded: mark the message as forwarded.
        referral: a Click-to-WhatsApp ad `referral` object to attach.
        **fields: the kind's own fields (see each builder), e.g. `text="hola"`.

    Raises:
        InvalidPayload: unknown kind, unknown field, missing or wrongly typed field.
    """
    message = _new_message(kind, msisdn, message_id, timestamp, fields)
    _add_context(message, did, context, forwarded)
    _add_referral(message, referral)
    return envelope(did, _message_value(message, msisdn, name))


def _new_message(
    kind: str,
    msisdn: str,
    message_id: Optional[str],
    timestamp: Optional[float],
    fields: Dict[str, Any],
) -> Dict[str, Any]:
    builder = CLOUD_KINDS.get(kind)
    if builder is None:
        raise InvalidPayload("type", f"must be one of {', '.join(sorted(CLOUD_KINDS))}")
    message: Dict[str, Any] = {
        "from": msisdn,
        "id": message_id or new_wamid(msisdn),
        "timestamp": str(int(time.time() if timestamp is None else timestamp)),
    }
    message.update(_call(builder, kind, fields))
    return message


def _add_context(
    message: Dict[str, Any],
    did: str,
    context: Union[str, Dict[str, Any], None],
    forwarded: bool,
) -> None:
    if isinstance(context, str):
        message["context"] = {"from": did, "id": context}
    elif isinstance(context, dict):
        message["context"] = context
    elif context is not None:
        raise InvalidPayload("context", "must be a message id (string) or an object")
    if forwarded:
        message.setdefault("context", {})["forwarded"] = True


def _add_referral(message: Dict[str, Any], referral: Optional[Dict[str, Any]]) -> None:
    if referral is None:
        return
    if not isinstance(referral, dict):
        raise InvalidPayload("referral", "must be an object")
    message["referral"] = referral


def _message_value(message: Dict[str, Any], msisdn: str, name: str) -> Dict[str, Any]:
    value: Dict[str, Any] = {"messages": [message]}
    if message["type"] == "system":  # Meta sends no contacts array with system messages
        return value
    return {"contacts": [{"profile": {"name": name}, "wa_id": msisdn}], **value}


def _call(
    builder: Callable[..., Dict[str, Any]], kind: str, fields: Dict[str, Any]
) -> Dict[str, Any]:
    params = inspect.signature(builder).parameters
    for key in fields:
        if key not in params:
            raise InvalidPayload(key, f"is not a field of kind {kind}")
    for key, param in params.items():
        if param.default is inspect.Parameter.empty and key not in fields:
            raise InvalidPayload(key, f"is required for kind {kind}")
    return builder(**fields)


def build_status_webhook(
    status: str,
    *,
    did: str,
    recipient: str,
    wamid: str,
    timestamp: Optional[float] = None,
    callback_data: Optional[str] = None,
    errors: Optional[List[Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """The Meta `statuses` webhook reporting `status` (sent, delivered, read) of a business message.

    Args:
        status: sent, delivered, read, failed or played.
        did: the business number that sent the message.
        recipient: the user's number.
        wamid: the id of the business message.
        timestamp: Unix seconds; now when omitted.
        callback_data: echoed as `biz_opaque_callback_data` (the sandbox puts the Chattigo send
            `id` there, so a status can be matched to the send that caused it).
    """
    item: Dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "recipient_id": recipient,
    }
    if callback_data is not None:
        item["biz_opaque_callback_data"] = callback_data
    if errors:
        item["errors"] = errors
    if status == "sent":
        item["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "type": "free_customer_service",
            "category": "service",
        }
    return envelope(did, {"statuses": [item]})
