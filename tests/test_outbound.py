"""Rasa responses to Chattigo send requests: exact bodies, order, and errors naming the field."""

import copy
import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from rasa_chattigo.errors import ChattigoError
from rasa_chattigo.outbound import _build as outbound
from rasa_chattigo.outbound._build import InvalidResponse, SendContext, build_requests
from rasa_chattigo.settings import parse_settings

from conftest import load_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "outbound"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if p.stem != "prose_10000")
CTX = SendContext(did="5492644710400", msisdn="5492644472542", bot_name="Aynux")


def make_settings(**extra):
    return parse_settings({"did": "5492644710400", "username": "u", "password": "p", **extra})


@pytest.fixture(autouse=True)
def numbered_ids(monkeypatch):
    counter = itertools.count(1)
    monkeypatch.setattr(outbound, "new_message_id", lambda: f"msg-{next(counter)}")


def bodies(response, **extra):
    return [r.json for r in build_requests(response, CTX, make_settings(**extra))]


@pytest.mark.parametrize("case", CASES)
def test_fixture(case):
    data = load_fixture("outbound", case)
    requests = build_requests(data["response"], CTX, make_settings(**data["settings"]))
    got = [{"path": r.path, "recipient": r.recipient, "json": r.json} for r in requests]
    assert got == data["requests"]


def test_text_fields_are_in_the_guide_order():
    (body,) = bodies({"text": "Hola"})
    assert list(body) == ["id", "did", "msisdn", "type", "channel", "content", "name",
                          "isAttachment"]


def test_media_fields_are_in_the_guide_order():
    (body,) = bodies({"attachment": "https://x.example.com/a.pdf"})
    assert list(body) == ["id", "did", "msisdn", "type", "channel", "content", "name",
                          "isAttachment", "attachment"]
    assert list(body["attachment"]) == ["mediaUrl", "mimeType", "fileName"]


def test_message_id_is_the_body_id():
    (request,) = build_requests({"text": "Hola"}, CTX, make_settings())
    assert request.message_id == "msg-1"
    assert request.json["id"] == "msg-1"


def test_context_channel_is_used():
    ctx = SendContext(did="1", msisdn="2", bot_name="B", channel="WEBCHAT")
    (request,) = build_requests({"text": "Hola"}, ctx, make_settings())
    assert request.json["channel"] == "WEBCHAT"


def test_long_text_becomes_several_messages_within_chattigos_3000_with_their_own_ids():
    text = load_fixture("outbound", "prose_10000")["text"]
    sent = bodies({"text": text})
    assert [b["id"] for b in sent] == ["msg-1", "msg-2", "msg-3", "msg-4"]
    assert [len(b["content"]) for b in sent] == [2924, 2575, 2955, 1540]


def test_max_text_length_up_to_whatsapps_4096_gives_fewer_parts():
    text = load_fixture("outbound", "prose_10000")["text"]
    sent = [r.json for r in build_requests({"text": text}, replace(CTX, text_limit=4096),
                                           make_settings())]
    assert [len(b["content"]) for b in sent] == [3810, 3962, 2224]


@pytest.mark.parametrize("response", [{}, {"text": ""}, {"text": "  \n "}, {"text": None}])
def test_nothing_to_say_sends_nothing(response):
    assert bodies(response) == []


def test_kinds_go_out_in_rasa_order():
    response = {
        "elements": [{"title": "E"}],
        "attachment": "https://x.example.com/a.pdf",
        "image": "https://x.example.com/a.png",
        "custom": {"type": "text", "content": "custom"},
        "text": "texto",
    }
    sent = bodies(response)
    assert [b["content"] for b in sent] == ["texto", "custom", "", "", "*E*"]
    assert [b.get("attachment", {}).get("mimeType") for b in sent] == [
        None, None, "image/png", "application/pdf", None]


def test_quick_replies_win_over_buttons_as_in_rasa():
    response = {"text": "¿?", "quick_replies": [{"title": "A", "payload": "/a"}],
                "buttons": [{"title": "B", "payload": "/b"}]}
    assert bodies(response)[0]["content"] == "¿?\n\n1. A"


def test_buttons_without_text_send_only_the_menu():
    response = {"buttons": [{"title": "Sí", "payload": "/affirm"}]}
    assert bodies(response)[0]["content"] == "1. Sí"


def test_button_without_payload_answers_with_its_title():
    from rasa_chattigo.outbound._menus import menu_buttons

    assert menu_buttons({"buttons": [{"title": "Hola"}]}) == [{"title": "Hola", "payload": "Hola"}]


def test_image_dict_caption_goes_in_content():
    (body,) = bodies({"image": {"url": "https://x.example.com/p.webp", "caption": "Mirá"}})
    assert body["content"] == "Mirá"
    assert body["attachment"] == {"mediaUrl": "https://x.example.com/p.webp",
                                  "mimeType": "image/webp"}


def test_attachment_without_file_name_in_its_path_has_no_file_name():
    (body,) = bodies({"attachment": "https://x.example.com/"})
    assert body["attachment"] == {"mediaUrl": "https://x.example.com/",
                                  "mimeType": "application/octet-stream"}


def test_caption_over_1024_follows_the_image_as_text():
    caption = "palabra " * 200
    sent = bodies({"image": {"url": "https://x.example.com/p.jpg", "caption": caption}})
    assert [(b["type"], b["content"]) for b in sent] == [("media", ""), ("text", caption.strip())]


def test_custom_keeps_its_own_addressing_fields():
    (body,) = bodies({"custom": {"type": "text", "id": "mine", "msisdn": "549111", "content": "x"}})
    assert body == {"id": "mine", "did": "5492644710400", "msisdn": "549111",
                    "channel": "WHATSAPP", "name": "Aynux", "type": "text", "content": "x"}


def test_custom_cloud_api_keeps_its_to():
    custom = {"messaging_product": "whatsapp", "to": "5491155551234", "type": "text",
              "text": {"body": "hola"}}
    (request,) = build_requests({"custom": custom}, CTX, make_settings(cloud_api_version="v19.0"))
    assert (request.path, request.recipient) == ("/v19.0/5492644710400/messages", "5491155551234")
    assert request.json == custom


def test_request_bodies_do_not_share_state_with_the_response():
    hsm = {"template": "aviso", "languageCode": "es", "destinations": [{"destination": "1"}]}
    response = {"custom": {"type": "HSM", "hsm": hsm},
                "buttons": [{"title": "A", "payload": "/a"}], "text": "t"}
    before = copy.deepcopy(response)
    requests = build_requests(response, CTX, make_settings())
    requests[1].json["hsm"]["destinations"].clear()
    assert response == before


@pytest.mark.parametrize(
    ("response", "field"),
    [
        ("hola", "response"),
        ({"text": {"es": "hola"}}, "text"),
        ({"text": "x", "buttons": "Sí/No"}, "buttons"),
        ({"text": "x", "buttons": ["Sí"]}, "buttons.0"),
        ({"text": "x", "buttons": [{"title": "A"}, {"payload": "/b"}]}, "buttons.1.title"),
        ({"text": "x", "buttons": [{"title": " ", "payload": "/b"}]}, "buttons.0.title"),
        ({"text": "x", "buttons": [{"title": "Web", "type": "web_url"}]}, "buttons.0.url"),
        ({"text": "x", "buttons": [{"title": "W", "url": "ftp://x"}]}, "buttons.0.url"),
        ({"text": "x", "buttons": [{"title": "A", "payload": ["/a"]}]}, "buttons.0.payload"),
        ({"text": "x", "quick_replies": [{"payload": "/a"}]}, "quick_replies.0.title"),
        ({"custom": "HSM"}, "custom"),
        ({"custom": ["type", "HSM"]}, "custom"),
        ({"custom": {"hsm": {}}}, "custom.type"),
        ({"custom": {"type": "text", "when": {1, 2}}}, "custom"),
        ({"image": "/static/logo.png"}, "image"),
        ({"image": 42}, "image"),
        ({"attachment": {"caption": "sin url"}}, "attachment.url"),
        ({"attachment": {"url": "https://x.example.com/a", "caption": 5j}}, "attachment.caption"),
        ({"elements": {"title": "x"}}, "elements"),
        ({"elements": ["x"]}, "elements.0"),
        ({"elements": [{"title": "x", "image_url": "data:image/png;base64,AA"}]},
         "elements.0.image_url"),
        ({"elements": [{"title": "x", "buttons": [{"payload": "/a"}]}]},
         "elements.0.buttons.0.title"),
    ],
)
def test_bad_response_names_the_field(response, field):
    with pytest.raises(InvalidResponse) as caught:
        build_requests(response, CTX, make_settings())
    assert caught.value.field == field
    assert str(caught.value).startswith(f"bot response field '{field}': ")


def test_invalid_response_is_a_chattigo_error_and_a_value_error():
    error = InvalidResponse("custom", "must be an object")
    assert isinstance(error, ChattigoError)
    assert isinstance(error, ValueError)
