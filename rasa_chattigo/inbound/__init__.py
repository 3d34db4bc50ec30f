"""Webhook bodies to messages for the bot: pure, no I/O, no web library.

`parse_webhook` takes the decoded JSON Chattigo posts (the WhatsApp Cloud API envelope as Meta
sends it, or Chattigo's legacy flat format) and returns a `ParsedWebhook`: the messages for the
bot (`InboundMessage`: text, sender, id, metadata), the delivery statuses, what was ignored, and
the problems found. Behind it: `_models` (pydantic wire models), `_cloud` (the Cloud API
envelope), `_kinds` (what the bot receives per message kind), `_legacy` (the flat format),
`_types` (the parsed shapes). docs/inbound.md lists what the bot receives for each kind.
"""

from rasa_chattigo.inbound._parse import parse_webhook
from rasa_chattigo.inbound._types import InboundMessage, ParsedWebhook, StatusUpdate

__all__ = ["InboundMessage", "ParsedWebhook", "StatusUpdate", "parse_webhook"]
