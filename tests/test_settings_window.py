"""The hand-off and 24-hour-window settings: defaults, and one start-up error naming the key."""

import pytest

from rasa_chattigo import ChattigoInput, ChattigoStartupError
from rasa_chattigo.settings import parse_settings

from conftest import channel_settings

TEMPLATE = {"namespace": "aynux", "template": "aviso_pendiente", "languageCode": "es_AR",
            "parameters": ["{text}"]}


def test_defaults():
    settings = parse_settings(channel_settings())
    assert settings.handoff_timeout_seconds == 24 * 3600
    assert settings.outside_window_action == "send"
    assert settings.delivery_failed_intent is True
    assert settings.intent_for["transfer"] == "chattigo_handback"
    assert settings.intent_for["delivery_failed"] == "whatsapp_delivery_failed"


def test_a_window_template_makes_template_the_default():
    assert parse_settings(channel_settings(window_template=TEMPLATE)).outside_window_action \
        == "template"


def test_outside_window_said_explicitly_wins():
    settings = parse_settings(channel_settings(window_template=TEMPLATE, outside_window="drop"))
    assert settings.outside_window_action == "drop"


def test_the_intent_names_come_from_the_intents_setting():
    settings = parse_settings(channel_settings(intents={"transfer": "volvio_del_agente"}))
    assert settings.intent_for["transfer"] == "volvio_del_agente"


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ({"handoff_timeout_seconds": 0}, "handoff_timeout_seconds", "above 0"),
        ({"handoff_timeout_seconds": "un día"}, "handoff_timeout_seconds", "float"),
        ({"outside_window": "later"}, "outside_window", "'template', 'send' or 'drop'"),
        ({"outside_window": "template"}, "window_template", "required"),
        ({"window_template": {"template": "x"}}, "window_template.languageCode", "required"),
        ({"window_template": {**TEMPLATE, "parameters": [""]}}, "window_template.parameters.0",
         "missing"),
        ({"window_template": "aviso_pendiente"}, "window_template", "dict"),
        ({"delivery_failed_intent": "maybe"}, "delivery_failed_intent", "bool"),
    ],
)
def test_a_wrong_value_stops_start_up_with_one_line_naming_the_key(extra, key, words):
    with pytest.raises(ChattigoStartupError) as caught:
        ChattigoInput.from_credentials(channel_settings(**extra))
    assert caught.value.key == key
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)
