"""parse_webhook on each WhatsApp Cloud API message kind (fixtures from the fact sheet)."""

import json
from pathlib import Path
from typing import Any, Dict

import pytest

from rasa_chattigo.inbound._parse import InboundMessage, parse_webhook

from conftest import load_fixture, parsing_settings

FIXTURES = Path(__file__).parent / "fixtures" / "inbound"
NOW = 1767300000
USER = "5491155551234"
BUSINESS = "5491140001234"
REPLIED_TO = "wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABEYEjQ1QjE3RkM1QUU2RTlFRDRBNwA="


def load(name: str) -> Dict[str, Any]:
    return load_fixture("inbound", name)


def first_raw(body: Dict[str, Any]) -> Dict[str, Any]:
    return body["entry"][0]["changes"][0]["value"]["messages"][0]


def only(name: str, **extra: Any) -> InboundMessage:
    parsed = parse_webhook(load(name), parsing_settings(**extra), received_at=NOW)
    assert parsed.problems == [] and parsed.ignored == [] and parsed.statuses == []
    assert len(parsed.messages) == 1
    return parsed.messages[0]


def test_text_message_is_delivered_with_full_metadata():
    body = load("text")
    parsed = parse_webhook(body, parsing_settings(), received_at=NOW)
    assert parsed.messages == [
        InboundMessage(
            sender_id=USER,
            text="Hola, quiero saber el estado de mi pedido",
            message_id="wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABIYFjNFQjA01AA==",
            business_number=BUSINESS,
            kind="text",
            metadata={
                "format": "cloud_api",
                "message_id": "wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABIYFjNFQjA01AA==",
                "message_type": "text",
                "timestamp": 1767225600,
                "name": "Lucía Gómez",
                "wa_id": USER,
                "user_id": None,
                "business_number": BUSINESS,
                "phone_number_id": "109876543210987",
                "waba_id": "104567890123456",
            },
        )
    ]
    assert parsed.format == "cloud_api"


def test_metadata_is_json_serialisable_for_every_fixture():
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name.startswith("broken"):
            continue
        parsed = parse_webhook(json.loads(path.read_text("utf-8")), parsing_settings(ignore=[]))
        for message in parsed.messages:
            assert json.loads(json.dumps(message.metadata)) == message.metadata, path.name


def test_mexican_sender_keeps_its_wa_id_exactly():
    message = only("text_mexico")
    assert (message.sender_id, message.metadata["name"]) == ("5215512345678", "Sofía Torres")


def test_business_number_is_digits_only():
    body = load("text")
    body["entry"][0]["changes"][0]["value"]["metadata"]["display_phone_number"] = (
        "+54 9 11 4000-1234"
    )
    parsed = parse_webhook(body, parsing_settings(), received_at=NOW)
    assert parsed.messages[0].business_number == BUSINESS
    assert parsed.messages[0].metadata["business_number"] == BUSINESS


def test_missing_timestamp_uses_received_at():
    body = load("text")
    del first_raw(body)["timestamp"]
    parsed = parse_webhook(body, parsing_settings(), received_at=NOW)
    assert parsed.messages[0].metadata["timestamp"] == NOW


def test_reply_context_is_kept():
    message = only("text_reply_context")
    assert message.text == "Sí, ese mismo"
    assert message.metadata["context"] == {"from": BUSINESS, "id": REPLIED_TO}


def test_forwarded_flag_is_kept():
    assert only("text_forwarded").metadata["context"] == {"forwarded": True}


def test_referred_product_is_kept():
    message = only("text_referred_product")
    assert message.metadata["context"]["referred_product"] == {
        "catalog_id": "194836987003835",
        "product_retailer_id": "remera-azul-m",
    }


def test_click_to_whatsapp_referral_is_kept_and_text_unchanged():
    message = only("text_referral")
    assert message.text == "Quiero más información"
    assert message.metadata["referral"]["source_id"] == "120226305854810726"
    assert message.metadata["referral"]["ctwa_clid"].startswith("ARAkLkA8")


def test_identity_key_hash_is_in_the_contact():
    assert only("text_identity_key_hash").metadata["contact"]["identity_key_hash"] == "DF2lS5v2W6x="


def test_legacy_identity_object_is_kept():
    assert only("text_identity_legacy").metadata["identity"]["hash"] == "Sjvjlx8G6Z0="


def test_business_scoped_user_id_is_the_sender_when_phone_is_hidden():
    user_id = "user.9373795779eb6441c8adb2eaee5b848e7dd174ddd302d7db62142f4722d574b6"
    message = only("text_bsuid")
    assert (message.sender_id, message.text) == (user_id, "Hola")
    assert message.metadata["user_id"] == user_id
    assert message.metadata["wa_id"] is None
    assert (message.metadata["name"], message.metadata["username"]) == ("Lucía G.", "@luciag")
    assert message.metadata["country_code"] == "AR"


def test_contact_wa_id_is_the_sender_when_from_is_empty_but_user_id_matches():
    body = load("text_bsuid")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = USER
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert message.sender_id == USER


def test_image_caption_is_the_text_and_media_is_described():
    message = only("image")
    assert (message.text, message.kind) == ("Foto del producto dañado", "image")
    assert message.metadata["media"] == {
        "type": "image",
        "id": "1003383421387256",
        "mime_type": "image/jpeg",
        "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
        "url": first_raw(load("image"))["image"]["url"],
        "caption": "Foto del producto dañado",
        "filename": None,
        "voice": False,
        "animated": False,
    }


def test_image_without_caption_gets_the_image_intent():
    body = load("image")
    del first_raw(body)["image"]["caption"]
    assert parse_webhook(body, parsing_settings()).messages[0].text == "/whatsapp_image"


def test_voice_note_uses_the_voice_intent():
    message = only("audio_voice")
    assert (message.text, message.kind) == ("/whatsapp_voice", "audio")
    assert message.metadata["media"]["voice"] is True
    assert message.metadata["media"]["mime_type"] == "audio/ogg; codecs=opus"


def test_plain_audio_uses_the_audio_intent():
    body = load("audio_voice")
    first_raw(body)["audio"]["voice"] = False
    assert parse_webhook(body, parsing_settings()).messages[0].text == "/whatsapp_audio"


def test_video_caption_is_the_text():
    message = only("video")
    assert (message.text, message.metadata["media"]["id"]) == (
        "Así llegó la caja",
        "2284756932145698",
    )


def test_document_keeps_its_filename():
    message = only("document")
    assert message.text == "Mi factura"
    assert message.metadata["media"]["filename"] == "factura-0001-00012345.pdf"


def test_sticker_gets_the_sticker_intent():
    message = only("sticker")
    assert (message.text, message.metadata["media"]["animated"]) == ("/whatsapp_sticker", False)


def test_location_becomes_intent_with_entities():
    message = only("location")
    assert message.text == (
        '/whatsapp_location{"latitude":-34.6037389,"longitude":-58.3815704,'
        '"name":"Sucursal Centro","address":"Av. Corrientes 1234, C1043 CABA"}'
    )
    assert message.metadata["location"]["url"] == "https://www.example.com.ar/sucursales/centro"


def test_dropped_pin_has_only_coordinates():
    assert (
        only("location_pin").text == '/whatsapp_location{"latitude":-34.6118,"longitude":-58.4173}'
    )


def test_shared_contacts_are_in_metadata():
    message = only("contacts")
    assert message.text == "/whatsapp_contacts"
    assert message.metadata["contacts"] == first_raw(load("contacts"))["contacts"]


def test_button_reply_id_is_the_text():
    message = only("interactive_button_reply")
    assert (message.text, message.kind) == ("confirmar_turno", "interactive")
    assert message.metadata["interactive"] == {
        "type": "button_reply",
        "id": "confirmar_turno",
        "title": "Confirmar",
    }
    assert message.metadata["context"]["id"] == REPLIED_TO


def test_list_reply_keeps_title_and_description():
    message = only("interactive_list_reply")
    assert message.text == "envio_express"
    assert message.metadata["interactive"] == {
        "type": "list_reply",
        "id": "envio_express",
        "title": "Envío express",
        "description": "Llega en 24 a 48 h",
    }


def test_flow_reply_is_parsed_into_metadata_and_entities():
    message = only("interactive_nfm_reply")
    assert message.text == '/whatsapp_flow_reply{"fecha":"2026-01-05","sucursal":"centro"}'
    assert message.metadata["flow"] == {
        "name": "flow",
        "body": "Sent",
        "response": {"flow_token": "turno-8f2c", "fecha": "2026-01-05", "sucursal": "centro"},
    }


def test_flow_reply_entities_skip_nested_null_and_odd_names():
    body = load("interactive_nfm_reply")
    response = {"ok": True, "n": 2, "list": [1], "obj": {"a": 1}, "none": None, "bad name": "x"}
    first_raw(body)["interactive"]["nfm_reply"]["response_json"] = json.dumps(response)
    assert (
        parse_webhook(body, parsing_settings()).messages[0].text
        == '/whatsapp_flow_reply{"ok":true,"n":2}'
    )


def test_flow_reply_with_invalid_json_arrives_without_entities():
    body = load("interactive_nfm_reply")
    first_raw(body)["interactive"]["nfm_reply"]["response_json"] = "{not json"
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert (message.text, message.metadata["flow"]["response"]) == ("/whatsapp_flow_reply", None)


def test_unknown_interactive_type_gets_the_unknown_intent():
    body = load("interactive_button_reply")
    first_raw(body)["interactive"] = {"type": "call_permission_reply", "call_permission_reply": {}}
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert (message.text, message.metadata["interactive"]["type"]) == (
        "/whatsapp_unknown",
        "call_permission_reply",
    )


def test_template_button_payload_is_the_text():
    message = only("button")
    assert message.text == "QR_CONFIRMAR_TURNO"
    assert message.metadata["button"] == {"payload": "QR_CONFIRMAR_TURNO", "text": "Confirmar"}


def test_template_button_with_empty_payload_falls_back_to_its_text():
    body = load("button")
    first_raw(body)["button"]["payload"] = ""
    assert parse_webhook(body, parsing_settings()).messages[0].text == "Confirmar"


def test_reaction_is_ignored_by_default():
    parsed = parse_webhook(load("reaction"), parsing_settings())
    assert (parsed.messages, parsed.ignored) == (
        [],
        ["wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABIYFjNFQjA18AA=="],
    )


def test_reaction_when_not_ignored_carries_the_emoji():
    message = only("reaction", ignore=[])
    assert message.text == '/whatsapp_reaction{"emoji":"👍"}'
    assert message.metadata["reaction"] == {
        "message_id": REPLIED_TO,
        "emoji": "👍",
        "removed": False,
    }


@pytest.mark.parametrize("name", ["reaction_removed", "reaction_removed_empty_emoji"])
def test_removed_reaction_has_no_emoji_entity(name):
    message = only(name, ignore=[])
    assert message.text == "/whatsapp_reaction"
    assert message.metadata["reaction"] == {"message_id": REPLIED_TO, "emoji": "", "removed": True}


def test_order_keeps_its_products():
    message = only("order")
    assert message.text == "/whatsapp_order"
    assert message.metadata["order"]["product_items"][0] == {
        "product_retailer_id": "remera-azul-m",
        "quantity": 2,
        "item_price": 15999.0,
        "currency": "ARS",
    }


def test_system_message_is_ignored_by_default():
    parsed = parse_webhook(load("system_changed_number"), parsing_settings())
    assert (parsed.messages, parsed.ignored) == (
        [],
        ["wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABIYFjNFQjA21AA=="],
    )


def test_system_message_when_not_ignored_has_no_contact_and_keeps_the_change():
    message = only("system_changed_number", ignore=[])
    assert (message.text, message.sender_id, message.metadata["name"]) == (
        "/whatsapp_system",
        USER,
        None,
    )
    assert message.metadata["system"] == {
        "type": "user_changed_number",
        "body": "User Lucía Gómez changed from 5491155551234 to 5491166667777",
        "wa_id": "5491166667777",
    }


def test_request_welcome_gets_the_welcome_intent():
    assert only("request_welcome").text == "/whatsapp_welcome"


def test_unsupported_message_keeps_its_type_and_errors():
    message = only("unsupported")
    assert message.text == "/whatsapp_unsupported"
    assert message.metadata["unsupported"] == {"type": "poll_creation"}
    assert message.metadata["errors"][0]["code"] == 131051


def test_metadata_raw_keeps_the_whole_message_and_contact_for_every_kind():
    body = load("text")
    message = parse_webhook(body, parsing_settings(metadata_raw=True)).messages[0]
    assert message.metadata["raw"] == first_raw(body)
    assert message.metadata["contact"] == body["entry"][0]["changes"][0]["value"]["contacts"][0]


def test_known_kinds_leave_the_raw_message_out_by_default():
    message = parse_webhook(load("text"), parsing_settings()).messages[0]
    assert ("raw" in message.metadata, "contact" in message.metadata) == (False, False)


def test_legacy_unknown_type_gets_the_unknown_intent_with_raw_message():
    message = only("unknown")
    assert (message.text, message.kind) == ("/whatsapp_unknown", "unknown")
    assert message.metadata["raw"] == first_raw(load("unknown"))


def test_a_future_message_type_is_never_lost():
    body = load("text")
    raw = first_raw(body)
    raw["type"], raw["poll"] = "poll", {"question": "¿Pizza?"}
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert (message.text, message.kind, message.metadata["raw"]["poll"]) == (
        "/whatsapp_unknown",
        "poll",
        {"question": "¿Pizza?"},
    )


def test_configured_intents_replace_the_defaults():
    message = only("location_pin", intents={"location": "compartir_ubicacion"})
    assert message.text == '/compartir_ubicacion{"latitude":-34.6118,"longitude":-58.4173}'


def test_ignoring_voice_drops_voice_notes_only():
    parsed = parse_webhook(load("audio_voice"), parsing_settings(ignore=["voice"]))
    assert (parsed.messages, len(parsed.ignored)) == ([], 1)
    body = load("audio_voice")
    first_raw(body)["audio"]["voice"] = False
    parsed = parse_webhook(body, parsing_settings(ignore=["voice"]))
    assert parsed.messages[0].text == "/whatsapp_audio"
