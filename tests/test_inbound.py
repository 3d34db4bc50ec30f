"""parse_webhook on variants of the fact-sheet fixtures: what the fixtures themselves do not show.

What each unmodified fixture becomes is written once, in tests/fixtures/channel/expected/, and
checked through the real Sanic app by tests/test_channel_inbound.py.
"""

import json
from pathlib import Path
from typing import Any, Dict

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


def test_metadata_is_json_serialisable_for_every_fixture():
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name.startswith("broken"):
            continue
        parsed = parse_webhook(json.loads(path.read_text("utf-8")), parsing_settings(ignore=[]))
        for message in parsed.messages:
            assert json.loads(json.dumps(message.metadata)) == message.metadata, path.name


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


def test_contact_wa_id_is_the_sender_when_from_is_empty_but_user_id_matches():
    body = load("text_bsuid")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = USER
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert message.sender_id == USER


def test_image_without_caption_gets_the_image_intent():
    body = load("image")
    del first_raw(body)["image"]["caption"]
    assert parse_webhook(body, parsing_settings()).messages[0].text == "/whatsapp_image"


def test_plain_audio_uses_the_audio_intent():
    body = load("audio_voice")
    first_raw(body)["audio"]["voice"] = False
    assert parse_webhook(body, parsing_settings()).messages[0].text == "/whatsapp_audio"


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


def test_template_button_with_empty_payload_falls_back_to_its_text():
    body = load("button")
    first_raw(body)["button"]["payload"] = ""
    assert parse_webhook(body, parsing_settings()).messages[0].text == "Confirmar"


def test_metadata_raw_keeps_the_whole_message_and_contact_for_every_kind():
    body = load("text")
    message = parse_webhook(body, parsing_settings(metadata_raw=True)).messages[0]
    assert message.metadata["raw"] == first_raw(body)
    assert message.metadata["contact"] == body["entry"][0]["changes"][0]["value"]["contacts"][0]


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
