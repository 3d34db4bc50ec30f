"""parse_webhook on Chattigo's legacy flat inbound format."""

from typing import Any, Dict

import pytest

from rasa_chattigo.inbound._parse import InboundMessage, parse_webhook

from conftest import DID, USER, load_fixture, parsing_settings

NOW = 1767300000


def load(name: str) -> Dict[str, Any]:
    return load_fixture("inbound", name)


def parse_one(body: Dict[str, Any], **extra: Any) -> InboundMessage:
    parsed = parse_webhook(body, parsing_settings(**extra), received_at=NOW)
    assert (len(parsed.messages), parsed.problems, parsed.format) == (1, [], "legacy")
    return parsed.messages[0]


def location(content: Any, **fields: Any) -> Dict[str, Any]:
    return {**load("legacy_location"), "content": content, **fields}


def test_legacy_text_is_delivered_with_full_metadata():
    body = load("legacy_text")
    assert parse_one(body) == InboundMessage(
        sender_id=USER,
        text="Hola, quiero hacer un pedido",
        message_id="987654321",
        business_number=DID,
        kind="text",
        metadata={
            "format": "legacy",
            "message_id": "987654321",
            "message_type": "text",
            "timestamp": NOW,
            "name": "Nombre Usuario",
            "wa_id": USER,
            "user_id": None,
            "business_number": DID,
            "phone_number_id": None,
            "waba_id": None,
            "chattigo": {
                "idChat": 45678,
                "chatType": "INBOUND",
                "channel": "WHATSAPP",
                "channelId": 1234,
                "channelProvider": "CLOUD_API",
                "idCampaign": "567",
                "stateAgent": "BOT",
                "isAttachment": False,
            },
        },
    )


def test_legacy_image_caption_is_the_text_and_attachment_is_the_media():
    message = parse_one(load("legacy_image"))
    assert (message.text, message.kind, message.message_id) == ("Así llegó", "image", "987654322")
    assert message.metadata["media"] == {
        "type": "image",
        "id": None,
        "mime_type": "image/jpeg",
        "sha256": None,
        "url": "https://media.chattigo.com/files/abc123.jpg",
        "caption": "Así llegó",
        "filename": "abc123.jpg",
        "voice": False,
        "animated": False,
    }


def test_legacy_document_without_caption_gets_the_document_intent():
    message = parse_one(load("legacy_document"))
    assert (message.text, message.metadata["media"]["filename"]) == (
        "/whatsapp_document",
        "factura.pdf",
    )


def test_legacy_audio_gets_the_audio_intent():
    assert parse_one(load("legacy_audio")).text == "/whatsapp_audio"


def test_legacy_generic_media_is_typed_by_mime_type():
    body = {**load("legacy_image"), "type": "Media"}
    body["attachment"] = {**body["attachment"], "mimeType": "video/mp4"}
    assert parse_one(body).kind == "video"


def test_legacy_media_url_in_content_is_used_when_there_is_no_attachment():
    body = {**load("legacy_text"), "type": "Image", "content": "https://x.example/a.jpg"}
    message = parse_one(body)
    assert (message.text, message.metadata["media"]["url"]) == (
        "/whatsapp_image",
        "https://x.example/a.jpg",
    )


@pytest.mark.parametrize(
    ("content", "fields", "entities"),
    [
        ("-34.6037389,-58.3815704", {}, '{"latitude":-34.6037389,"longitude":-58.3815704}'),
        ("-34.6037, -58.3816", {}, '{"latitude":-34.6037,"longitude":-58.3816}'),
        (
            "https://maps.google.com/?q=-34.6037,-58.3816",
            {},
            '{"latitude":-34.6037,"longitude":-58.3816}',
        ),
        (
            '{"latitude": -34.6, "longitude": -58.4, "name": "Casa"}',
            {},
            '{"latitude":-34.6,"longitude":-58.4,"name":"Casa"}',
        ),
        (
            {"lat": "-34.6", "lng": "-58.4", "address": "Calle 1"},
            {},
            '{"latitude":-34.6,"longitude":-58.4,"address":"Calle 1"}',
        ),
        (
            "Mi casa",
            {"latitude": -34.6, "longitude": -58.4},
            '{"latitude":-34.6,"longitude":-58.4}',
        ),
    ],
)
def test_legacy_location_shapes(content, fields, entities):
    assert parse_one(location(content, **fields)).text == "/whatsapp_location" + entities


def test_legacy_location_without_coordinates_arrives_without_entities():
    message = parse_one(location("Av. Corrientes 1234"))
    assert (message.text, message.metadata["location"]) == (
        "/whatsapp_location",
        {"content": "Av. Corrientes 1234"},
    )


@pytest.mark.parametrize("content", ["123.5,-58.4", "-34.6 ; -58.4", '{"lat": "x"}', "{broken", 7])
def test_legacy_location_without_usable_coordinates_has_no_entities(content):
    assert parse_one(location(content)).text == "/whatsapp_location"


def test_legacy_outbound_echo_is_ignored():
    parsed = parse_webhook(load("legacy_outbound_echo"), parsing_settings())
    assert (parsed.messages, parsed.ignored, parsed.problems) == ([], ["1767225600123"], [])


def test_legacy_unknown_type_gets_the_unknown_intent():
    body = {**load("legacy_text"), "type": "Poll"}
    message = parse_one(body)
    assert (message.text, message.kind) == ("/whatsapp_unknown", "poll")


def test_legacy_numeric_msisdn_and_timestamp_in_milliseconds():
    body = {**load("legacy_text"), "msisdn": 5492644472542, "timestamp": 1767225600123}
    message = parse_one(body)
    assert (message.sender_id, message.metadata["timestamp"]) == (USER, 1767225600)


def test_legacy_ignored_kind_is_dropped():
    parsed = parse_webhook(load("legacy_audio"), parsing_settings(ignore=["audio"]))
    assert (parsed.messages, parsed.ignored) == ([], ["987654323"])


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"content": ""}, "content", "is missing or empty in a text message"),
        ({"content": None}, "content", "is missing or empty in a text message"),
        ({"id": None}, "id", "none is not an allowed value"),
        ({"timestamp": "yesterday"}, "timestamp", "must be Unix time in seconds"),
    ],
)
def test_a_broken_legacy_message_reaches_the_bot_as_unsupported_naming_the_field(
        change, field, reason):
    body = {**load("legacy_text"), **change}
    parsed = parse_webhook(body, parsing_settings())
    (message,) = parsed.messages
    assert (message.text, message.sender_id) == ("/whatsapp_unsupported", body["msisdn"])
    assert message.metadata["problem"] == {"field": field, "reason": reason}
    assert message.metadata["raw"] == body
    assert [(p.field, p.reason) for p in parsed.problems] == [(field, reason)]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"msisdn": ""}, "msisdn", "is empty: the sender is unknown"),
        ({"did": "abc"}, "did", "must hold the business number's digits"),
        ({"msisdn": ["549"]}, "msisdn", "must be a string"),
    ],
)
def test_a_legacy_message_without_sender_or_business_is_only_listed(change, field, reason):
    parsed = parse_webhook({**load("legacy_text"), **change}, parsing_settings())
    assert parsed.messages == []
    assert [(p.field, p.reason) for p in parsed.problems] == [(field, reason)]


def test_a_legacy_message_without_id_gets_one_from_its_content():
    body = load("legacy_text")
    del body["id"]
    first = parse_webhook(body, parsing_settings())
    again = parse_webhook(dict(body), parsing_settings())
    assert first.messages[0].message_id.startswith("sha256:")
    assert first.messages[0].message_id == again.messages[0].message_id  # redeliveries dedup
    assert [(p.field, p.reason) for p in first.problems] == [("id", "field required")]
