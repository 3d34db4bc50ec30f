"""The texts parse_webhook produces round-trip through Rasa 3.6's own `/intent{json}` parser."""

import warnings
from typing import Any, Dict, List, Tuple

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.nlu.training_data.message import Message

from rasa_chattigo.inbound._parse import parse_webhook

from conftest import load_fixture, parsing_settings

SETTINGS = parsing_settings(ignore=[])
HANDLER = RegexMessageHandler()


def load(name: str) -> Dict[str, Any]:
    return load_fixture("inbound", name)


def rasa_reads(text: str) -> Tuple[str, List[Tuple[str, Any]]]:
    """The intent and (entity, value) pairs Rasa's RegexMessageHandler gets from `text`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a partly parsed text would only warn
        parsed = HANDLER.process([Message({"text": text})])[0]
    intent = parsed.get("intent") or {}
    entities = [(e["entity"], e["value"]) for e in parsed.get("entities") or []]
    return intent.get("name"), entities


def text_of(body: Dict[str, Any]) -> str:
    return parse_webhook(body, SETTINGS).messages[0].text


def test_location_round_trips_with_every_entity():
    assert rasa_reads(text_of(load("location"))) == (
        "whatsapp_location",
        [
            ("latitude", -34.6037389),
            ("longitude", -58.3815704),
            ("name", "Sucursal Centro"),
            ("address", "Av. Corrientes 1234, C1043 CABA"),
        ],
    )


def test_location_with_awkward_characters_round_trips():
    body = load("location")
    location = body["entry"][0]["changes"][0]["value"]["messages"][0]["location"]
    location["name"] = 'Café "El @ Gato" {2} / 3 \\ 😺'
    location["address"] = "Línea 1\nLínea 2\tfin }"
    assert rasa_reads(text_of(body)) == (
        "whatsapp_location",
        [
            ("latitude", -34.6037389),
            ("longitude", -58.3815704),
            ("name", 'Café "El @ Gato" {2} / 3 \\ 😺'),
            ("address", "Línea 1\nLínea 2\tfin }"),
        ],
    )


def test_flow_reply_entities_round_trip():
    assert rasa_reads(text_of(load("interactive_nfm_reply"))) == (
        "whatsapp_flow_reply",
        [("fecha", "2026-01-05"), ("sucursal", "centro")],
    )


def test_reaction_emoji_round_trips():
    assert rasa_reads(text_of(load("reaction"))) == ("whatsapp_reaction", [("emoji", "👍")])


def test_media_intent_without_entities_round_trips():
    assert rasa_reads(text_of(load("sticker"))) == ("whatsapp_sticker", [])


def test_button_reply_payload_triggers_its_intent_and_entities():
    message = parse_webhook(load("batch_mixed"), SETTINGS).messages[1]
    assert rasa_reads(message.text) == ("elegir_plan", [("plan", "basico")])


def test_legacy_location_round_trips():
    assert rasa_reads(text_of(load("legacy_location"))) == (
        "whatsapp_location",
        [("latitude", -34.6037389), ("longitude", -58.3815704)],
    )


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=-90, max_value=90),
    st.floats(min_value=-180, max_value=180),
    st.text(min_size=1),
    st.text(min_size=1),
)
def test_any_location_round_trips_exactly(latitude, longitude, name, address):
    body = load("location")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["location"] = {
        "latitude": latitude,
        "longitude": longitude,
        "name": name,
        "address": address,
    }
    assert rasa_reads(text_of(body)) == (
        "whatsapp_location",
        [("latitude", latitude), ("longitude", longitude), ("name", name), ("address", address)],
    )
