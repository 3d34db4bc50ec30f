"""Rasa bot responses to Chattigo send requests: pure, no I/O, no web library.

`build_requests` turns one bot response (text, image, attachment, buttons, elements, custom
JSON) into the `OutboundRequest`s to post, addressed by a `SendContext`. Behind it:
`_responses` (validated views of a response), `_textsplit` (WhatsApp's length limits),
`_menus` (buttons as numbered menus, and answers back to payloads), `_native` (reply buttons
and lists in Cloud API JSON), `_mediatypes` (MIME types of media URLs), `_handoff`
(transfer, group, close, timeout sends), `_templates` (HSM templates, Meta's template JSON,
campaign batches).
docs/outbound.md lists what each response becomes.
"""

from rasa_chattigo.outbound._build import (
    CHATTIGO_SEND_PATH,
    OutboundRequest,
    SendContext,
    build_requests,
    new_message_id,
    template_request,
)
from rasa_chattigo.outbound._handoff import HANDOFF_KINDS, PAUSING_KINDS
from rasa_chattigo.outbound._menus import resolve_menu_answer
from rasa_chattigo.outbound._templates import MAX_DESTINATIONS, campaign_batches

__all__ = [
    "CHATTIGO_SEND_PATH",
    "HANDOFF_KINDS",
    "MAX_DESTINATIONS",
    "PAUSING_KINDS",
    "OutboundRequest",
    "SendContext",
    "build_requests",
    "campaign_batches",
    "new_message_id",
    "resolve_menu_answer",
    "template_request",
]
