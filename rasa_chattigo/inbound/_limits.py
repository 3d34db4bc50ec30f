"""The caps on what one inbound message may carry to the bot (docs/security.md lists them)."""

import hashlib
import json
import re
from typing import Any, Dict, Tuple

#: A message id longer than this is replaced by `sha256:<hex digest>` (still deduplicated).
MAX_ID_CHARS = 256
#: A sender id (`from`, `msisdn`, a business-scoped user id) longer than this is refused.
MAX_SENDER_CHARS = 128
#: A business number with more digits than this is refused.
MAX_BUSINESS_DIGITS = 20
#: The text the bot receives is cut here (WhatsApp's own limit for a text message).
MAX_TEXT_CHARS = 4096
#: Profile names, titles and other short labels are cut here.
MAX_NAME_CHARS = 256
#: A Flow reply's `response_json` longer than this is not parsed; metadata keeps it cut.
MAX_FLOW_JSON_CHARS = 1024 * 1024
#: At most this many Flow response fields become entities ...
MAX_FLOW_ENTITIES = 32
#: ... each with a name of at most this many characters ...
MAX_ENTITY_NAME_CHARS = 64
#: ... and a string value cut at this many characters (the rest stays in metadata).
MAX_ENTITY_CHARS = 1024
#: A message's metadata, serialised, is kept under this many bytes (largest parts cut first).
MAX_METADATA_BYTES = 64 * 1024
#: JSON nested deeper than this is replaced by a marker at parse time.
MAX_DEPTH = 32

DEEP_MARKER = "[nested too deeply]"
_REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
#: What in JSON text can decode to a lone surrogate: a surrogate escape, a surrogate encoded
#: in UTF-8 (`json.loads` decodes bytes with surrogatepass), a NUL (UTF-16 or UTF-32 text).
_SURROGATE_SOURCE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|\x00")


def clean_json(value: Any, depth: int = 0) -> Any:
    """The decoded body with lone surrogates replaced (U+FFFD) and deep nesting cut off.

    Both would otherwise pass the webhook and fail later, inside the bot or a tracker store,
    where the message can only be lost or redelivered for ever.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return DEEP_MARKER
        return {clean_text(k): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return DEEP_MARKER
        return [clean_json(v, depth + 1) for v in value]
    return value


def needs_cleaning(raw: bytes) -> bool:
    """Whether the JSON text `raw` may decode to something `clean_json` changes.

    False is certain: no surrogate can come out of it, and it has too few brackets to nest
    `MAX_DEPTH` deep. True only means `clean_json` has to look (a cheap check on the bytes
    instead of a walk over every decoded value).
    """
    return (raw.count(b"{") + raw.count(b"[") >= MAX_DEPTH
            or _SURROGATE_SOURCE.search(raw) is not None)


def clean_text(text: str) -> str:
    """`text` with every lone surrogate (`"\\ud800"` in JSON) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(_REPLACEMENT, text)
    return text


def cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters."""
    return text if len(text) <= limit else text[:limit]


def bounded_id(message_id: str) -> str:
    """The id itself, or `sha256:<hex>` of it when longer than `MAX_ID_CHARS`."""
    if len(message_id) <= MAX_ID_CHARS:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def bounded_metadata(metadata: Dict[str, Any]) -> Tuple[Dict[str, Any], bool]:
    """The metadata under `MAX_METADATA_BYTES`, its largest values cut first; and whether cut.

    A cut value becomes `{"truncated": true, "bytes": <size>, "start": <first 1 KB>}`.
    """
    if _size(metadata) <= MAX_METADATA_BYTES:  # the values' sizes add up to less
        return metadata, False
    sizes = {key: _size(value) for key, value in metadata.items()}
    total = sum(sizes.values())
    if total <= MAX_METADATA_BYTES:
        return metadata, False
    bounded = dict(metadata)
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= MAX_METADATA_BYTES:
            break
        text = json.dumps(bounded[key], ensure_ascii=False)
        bounded[key] = {"truncated": True, "bytes": sizes[key], "start": text[:1024]}
        total += _size(bounded[key]) - sizes[key]
    return bounded, True


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "replace"))
