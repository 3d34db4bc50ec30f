"""The pure payload builders: every inbound kind, in Meta's and Chattigo's exact shapes."""

import json
from typing import Any, Dict

import pytest

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.render import render_cloud
from rasa_chattigo.sandbox.whatsapp import (
    CLOUD_KINDS,
    build_cloud_webhook,
    build_legacy_webhook,
    build_status_webhook,
    new_wamid,
)

from conftest import DID, USER


def message_of(kind: str, **fields: Any) -> Dict[str, Any]:
    webhook = build_cloud_webhook(
        kind,
        did=DID,
        msisdn=USER,
        name="Juan",
        message_id="wamid.A",
        timestamp=1767225600,
        **fields,
    )
    return webhook["entry"][0]["changes"][0]["value"]["messages"][0]


def test_envelope_matches_meta() -> None:
    webhook = build_cloud_webhook("text", did=DID, msisdn=USER, name="Juan", text="hola")

    value = webhook["entry"][0]["changes"][0]["value"]
    assert webhook["object"] == "whatsapp_business_account"
    assert webhook["entry"][0]["changes"][0]["field"] == "messages"
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["display_phone_number"] == DID
    assert value["metadata"]["phone_number_id"].isdigit()
    assert value["contacts"] == [{"profile": {"name": "Juan"}, "wa_id": USER}]


def test_ids_are_unique_and_shaped_like_wamids() -> None:
    ids = {new_wamid(USER) for _ in range(1000)}

    assert len(ids) == 1000
    assert all(i.startswith("wamid.") for i in ids)


def test_timestamp_is_a_string_of_seconds() -> None:
    assert message_of("text", text="hola")["timestamp"] == "1767225600"


EXPECTED = [
    ("text", {"text": "hola"}, {"type": "text", "text": {"body": "hola"}}),
    (
        "image",
        {"caption": "Foto", "media_id": "111"},
        {
            "type": "image",
            "image": {
                "caption": "Foto",
                "mime_type": "image/jpeg",
                "sha256": "9uCh4qxBlFqap/+KiqoM68EqO8yYGpKa1c+BCgkOEa4=",
                "id": "111",
            },
        },
    ),
    (
        "video",
        {"media_id": "222"},
        {
            "type": "video",
            "video": {
                "mime_type": "video/mp4",
                "sha256": "m4cVEjJ8Cc6R3WSbP5amO3QI7yZ8jMVxARTmKXMMth8=",
                "id": "222",
            },
        },
    ),
    (
        "audio",
        {"voice": True, "media_id": "333"},
        {
            "type": "audio",
            "audio": {
                "mime_type": "audio/ogg; codecs=opus",
                "sha256": "VW19w6EVNWNQ8fmRCxrxqw4xLUs+T8eI0tpjZo820Bc=",
                "id": "333",
                "voice": True,
            },
        },
    ),
    (
        "document",
        {"filename": "factura.pdf", "media_id": "444"},
        {
            "type": "document",
            "document": {
                "filename": "factura.pdf",
                "mime_type": "application/pdf",
                "sha256": "NTih7y4RPaZCSe6nvQaLWF7Hzl33Oy0eMZ2Mm/R+sxQ=",
                "id": "444",
            },
        },
    ),
    (
        "sticker",
        {"animated": True, "media_id": "555"},
        {
            "type": "sticker",
            "sticker": {
                "mime_type": "image/webp",
                "sha256": "kac/2AarLABcE7TcGRMKiE6Qneo/ctRuMCZv4aH1iNg=",
                "id": "555",
                "animated": True,
            },
        },
    ),
    (
        "location",
        {"latitude": -34.6, "longitude": -58.4},
        {"type": "location", "location": {"latitude": -34.6, "longitude": -58.4}},
    ),
    (
        "contacts",
        {"contact_name": "Ana Gómez", "phone": "+54 9 11 4444-5555"},
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {
                        "formatted_name": "Ana Gómez",
                        "first_name": "Ana",
                        "last_name": "Gómez",
                    },
                    "phones": [
                        {"phone": "+54 9 11 4444-5555", "wa_id": "5491144445555", "type": "CELL"}
                    ],
                }
            ],
        },
    ),
    (
        "button_reply",
        {"reply_id": "/affirm", "title": "Sí"},
        {
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": "/affirm", "title": "Sí"},
            },
        },
    ),
    (
        "list_reply",
        {"reply_id": "envio", "title": "Envío", "description": "24 h"},
        {
            "type": "interactive",
            "interactive": {
                "type": "list_reply",
                "list_reply": {"id": "envio", "title": "Envío", "description": "24 h"},
            },
        },
    ),
    (
        "nfm_reply",
        {"response_json": {"flow_token": "t1", "fecha": "2026-01-05"}},
        {
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {
                    "name": "flow",
                    "body": "Sent",
                    "response_json": '{"flow_token":"t1","fecha":"2026-01-05"}',
                },
            },
        },
    ),
    (
        "button",
        {"payload": "QR_CONFIRMAR", "text": "Confirmar"},
        {"type": "button", "button": {"payload": "QR_CONFIRMAR", "text": "Confirmar"}},
    ),
    (
        "reaction",
        {"reacted_to": "wamid.B", "emoji": "👍"},
        {"type": "reaction", "reaction": {"message_id": "wamid.B", "emoji": "👍"}},
    ),
    (
        "reaction",
        {"reacted_to": "wamid.B", "emoji": ""},
        {"type": "reaction", "reaction": {"message_id": "wamid.B", "emoji": ""}},
    ),
    (
        "reaction",
        {"reacted_to": "wamid.B"},
        {"type": "reaction", "reaction": {"message_id": "wamid.B"}},
    ),
    (
        "order",
        {
            "product_items": [
                {
                    "product_retailer_id": "remera",
                    "quantity": 2,
                    "item_price": 15999.0,
                    "currency": "ARS",
                }
            ]
        },
        {
            "type": "order",
            "order": {
                "catalog_id": "194836987003835",
                "product_items": [
                    {
                        "product_retailer_id": "remera",
                        "quantity": 2,
                        "item_price": 15999.0,
                        "currency": "ARS",
                    }
                ],
            },
        },
    ),
    ("request_welcome", {}, {"type": "request_welcome"}),
    (
        "unsupported",
        {},
        {
            "type": "unsupported",
            "unsupported": {"type": "poll_creation"},
            "errors": [
                {
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }
            ],
        },
    ),
]


@pytest.mark.parametrize(("kind", "fields", "expected"), EXPECTED)
def test_each_kind_builds_metas_message_shape(
    kind: str, fields: Dict[str, Any], expected: Dict[str, Any]
) -> None:
    assert message_of(kind, **fields) == {
        "from": USER,
        "id": "wamid.A",
        "timestamp": "1767225600",
        **expected,
    }


def test_every_registered_kind_is_covered() -> None:
    covered = {kind for kind, _, _ in EXPECTED} | {"referral", "system"}

    assert covered == set(CLOUD_KINDS)


def test_referral_is_a_text_with_the_ad() -> None:
    ad = {
        "source_url": "https://fb.me/x",
        "source_id": "1",
        "source_type": "ad",
        "body": "b",
        "headline": "h",
        "media_type": "image",
    }

    message = message_of("referral", text="Quiero info", referral=ad)

    assert (message["type"], message["text"], message["referral"]) == (
        "text",
        {"body": "Quiero info"},
        ad,
    )


def test_system_message_has_no_contacts_array() -> None:
    webhook = build_cloud_webhook("system", did=DID, msisdn=USER, new_wa_id="5491166667777")

    value = webhook["entry"][0]["changes"][0]["value"]
    assert "contacts" not in value
    assert value["messages"][0]["system"] == {
        "body": "User changed number to 5491166667777",
        "wa_id": "5491166667777",
        "type": "user_changed_number",
    }


def test_context_string_replies_to_a_business_message() -> None:
    assert message_of("text", text="sí", context="wamid.Z")["context"] == {
        "from": DID,
        "id": "wamid.Z",
    }


def test_forwarded_marks_the_context() -> None:
    assert message_of("text", text="mirá", forwarded=True)["context"] == {"forwarded": True}


@pytest.mark.parametrize(
    ("kind", "fields", "field", "reason"),
    [
        (
            "gif",
            {},
            "type",
            "must be one of audio, button, button_reply, contacts, document, image, list_reply, "
            "location, nfm_reply, order, reaction, referral, request_welcome, sticker, system, "
            "text, unsupported, video",
        ),
        ("text", {}, "text", "is required for kind text"),
        ("text", {"text": ""}, "text", "must be a non-empty string"),
        ("text", {"text": "hola", "caption": "x"}, "caption", "is not a field of kind text"),
        ("location", {"latitude": True, "longitude": 1}, "latitude", "must be a number"),
        ("audio", {"voice": "yes"}, "voice", "must be a boolean"),
        ("order", {"product_items": []}, "product_items", "must be a non-empty array"),
    ],
)
def test_bad_fields_raise_invalid_payload_naming_the_field(
    kind: str, fields: Dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidPayload) as caught:
        build_cloud_webhook(kind, did=DID, msisdn=USER, **fields)

    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_legacy_text_payload() -> None:
    payload = build_legacy_webhook(
        "text",
        did=DID,
        msisdn=USER,
        name="Juan",
        message_id="9",
        text="hola",
        id_chat=77,
        channel_id=5,
    )

    assert payload == {
        "id": "9",
        "idChat": 77,
        "did": DID,
        "msisdn": USER,
        "name": "Juan",
        "content": "hola",
        "type": "Text",
        "isAttachment": False,
        "attachment": None,
        "chatType": "INBOUND",
        "channel": "WHATSAPP",
        "channelId": 5,
        "channelProvider": "WHATSAPP_CLOUD",
        "idCampaign": "1",
        "stateAgent": "BOT",
    }


def test_legacy_location_sends_coordinates_as_content() -> None:
    payload = build_legacy_webhook(
        "location", did=DID, msisdn=USER, latitude=-34.6, longitude=-58.4
    )

    assert (payload["type"], payload["content"], payload["isAttachment"]) == (
        "Location",
        "-34.6,-58.4",
        False,
    )


def test_legacy_echo_of_a_bot_message() -> None:
    payload = build_legacy_webhook("text", did=DID, msisdn=USER, text="hola", chat_type="OUTBOUND")

    assert payload["chatType"] == "OUTBOUND"


def test_status_webhook_shape() -> None:
    webhook = build_status_webhook(
        "read", did=DID, recipient=USER, wamid="wamid.S", timestamp=1767225760
    )

    assert webhook["entry"][0]["changes"][0]["value"]["statuses"] == [
        {"id": "wamid.S", "status": "read", "timestamp": "1767225760", "recipient_id": USER}
    ]


@pytest.mark.parametrize(
    ("kind", "fields", "text"),
    [
        ("image", {"caption": "Foto", "media_id": "1"}, "Foto\n[imagen: id 1]"),
        ("audio", {"voice": True, "media_id": "2"}, "[nota de voz: id 2]"),
        (
            "location",
            {"latitude": -34.6, "longitude": -58.4, "place_name": "Centro"},
            "[ubicación: -34.6, -58.4 — Centro]",
        ),
        ("reaction", {"reacted_to": "wamid.B", "emoji": ""}, "[reacción quitada]"),
        ("list_reply", {"reply_id": "a", "title": "Envío"}, "Envío"),
        ("button", {"payload": "QR"}, "QR"),
        ("request_welcome", {}, "[abrió el chat]"),
    ],
)
def test_inbound_messages_render_as_the_user_sees_them(
    kind: str, fields: Dict[str, Any], text: str
) -> None:
    assert render_cloud(message_of(kind, **fields)) == text


def test_builders_output_is_json_serialisable() -> None:
    for kind, fields, _ in EXPECTED:
        json.dumps(build_cloud_webhook(kind, did=DID, msisdn=USER, **fields))
