"""Webhook JSON from Chattigo (Cloud API envelope or legacy flat format) to bot messages; pure."""

import time
from typing import Any, Dict, Optional

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.inbound._cloud import CLOUD_API_OBJECT, parse_cloud
from rasa_chattigo.inbound._legacy import LEGACY_KEYS, parse_legacy
from rasa_chattigo.inbound._limits import clean_json, needs_cleaning
from rasa_chattigo.inbound._types import (
    Batch,
    InboundMessage,
    ParsedWebhook,
    StatusUpdate,
    json_type,
)
from rasa_chattigo.settings import ChattigoSettings

__all__ = ["InboundMessage", "ParsedWebhook", "StatusUpdate", "parse_webhook"]


def parse_webhook(
    body: Any, settings: ChattigoSettings, *, received_at: Optional[int] = None,
    raw: Optional[bytes] = None,
) -> ParsedWebhook:
    """Turns a decoded webhook body into messages for the bot and status updates.

    Each entry, change, contact, status and message is validated on its own: a broken one is
    reported in `problems` and the rest still delivered. Failed statuses and value-level
    errors are logged here, at WARNING, with their code and title.

    Args:
        body: the decoded JSON body.
        settings: the channel settings (`intents`, `ignore`, `did`).
        received_at: Unix seconds to use when a message carries no timestamp
            (default: now).
        raw: the JSON text `body` was decoded from, when the caller has it: a text that
            cannot hold a lone surrogate or nest too deeply spares the walk over every value
            that would otherwise look for them.

    A message that cannot be mapped still reaches the bot as the `unsupported` intent (what was
    received in metadata) and is listed in `problems`; one naming no sender is only listed.

    Raises:
        InvalidPayload: the body is not an object, is in no known format, or its top level is
            broken (`object`, `entry` in the Cloud API shape).
    """
    if not isinstance(body, dict):
        raise InvalidPayload("body", f"must be a JSON object, got {json_type(body)}")
    if raw is None or needs_cleaning(raw):
        body = clean_json(body)
    batch = Batch(settings, int(time.time()) if received_at is None else received_at)
    data_format = _parse_into(body, batch)
    return ParsedWebhook(
        batch.messages, batch.statuses, batch.problems, batch.ignored, batch.errors, data_format
    )


def _parse_into(body: Dict[str, Any], batch: Batch) -> str:
    """Parses `body` into `batch` by its format; the format's name (`cloud_api` or `legacy`)."""
    if "object" in body:
        parse_cloud(body, batch)
        return "cloud_api"
    if any(key in body for key in LEGACY_KEYS):
        batch.guarded(parse_legacy, body, batch)
        return "legacy"
    raise InvalidPayload(
        "object",
        "is missing: the body is neither a WhatsApp Cloud API webhook "
        f"(object '{CLOUD_API_OBJECT}') nor a legacy Chattigo message (msisdn, did)",
    )
