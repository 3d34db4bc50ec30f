"""The opt-in `buttons: native` mode: Cloud API reply buttons and lists, and its fallbacks."""

import itertools

import pytest

from rasa_chattigo.outbound import _build as outbound
from rasa_chattigo.outbound._build import SendContext, build_requests
from rasa_chattigo.settings import parse_settings

CTX = SendContext(did="5492644710400", msisdn="5492644472542", bot_name="Aynux")
NATIVE = parse_settings({"did": "5492644710400", "username": "u", "password": "p",
                         "buttons": "native"})


@pytest.fixture(autouse=True)
def numbered_ids(monkeypatch):
    counter = itertools.count(1)
    monkeypatch.setattr(outbound, "new_message_id", lambda: f"msg-{next(counter)}")


def buttons(*titles):
    return [{"title": t, "payload": f"/{i}"} for i, t in enumerate(titles)]


def send(response, settings=NATIVE):
    return build_requests(response, CTX, settings)


def test_reply_buttons_go_to_the_cloud_api_path_of_the_configured_version():
    settings = parse_settings({"did": "5492644710400", "username": "u", "password": "p",
                               "buttons": "native", "cloud_api_version": "v21.0"})
    (request,) = send({"text": "¿Sí?", "buttons": buttons("Sí", "No")}, settings)
    assert (request.path, request.recipient, request.message_id) == (
        "/v21.0/5492644710400/messages", "5492644472542", "msg-1")


def test_three_buttons_are_reply_buttons():
    (request,) = send({"text": "¿?", "buttons": buttons("A", "B", "C")})
    assert request.json["interactive"]["action"] == {"buttons": [
        {"type": "reply", "reply": {"id": "/0", "title": "A"}},
        {"type": "reply", "reply": {"id": "/1", "title": "B"}},
        {"type": "reply", "reply": {"id": "/2", "title": "C"}},
    ]}


def test_four_buttons_are_a_list():
    (request,) = send({"text": "¿?", "buttons": buttons("A", "B", "C", "D")})
    assert request.json["interactive"]["type"] == "list"
    assert request.json["interactive"]["action"]["button"] == "Opciones"
    assert [r["title"] for r in request.json["interactive"]["action"]["sections"][0]["rows"]] == [
        "A", "B", "C", "D"]


def test_ten_buttons_are_still_a_list():
    (request,) = send({"text": "¿?", "buttons": buttons(*"ABCDEFGHIJ")})
    assert len(request.json["interactive"]["action"]["sections"][0]["rows"]) == 10


def test_reply_ids_are_payloads_cut_to_256():
    (request,) = send({"text": "¿?", "buttons": [{"title": "A", "payload": "/" + "x" * 300}]})
    assert request.json["interactive"]["action"]["buttons"][0]["reply"]["id"] == "/" + "x" * 255


def test_list_row_ids_are_cut_to_200():
    many = [{"title": str(i), "payload": f"/{i}" + "x" * 300} for i in range(4)]
    (request,) = send({"text": "¿?", "buttons": many})
    rows = request.json["interactive"]["action"]["sections"][0]["rows"]
    assert [len(r["id"]) for r in rows] == [200, 200, 200, 200]


def test_titles_equal_once_cut_to_20_make_a_list_instead():
    same = buttons("Turno del lunes a las 9", "Turno del lunes a las 10")
    (request,) = send({"text": "¿Cuál?", "buttons": same})
    assert request.json["interactive"]["type"] == "list"
    assert [r["title"] for r in request.json["interactive"]["action"]["sections"][0]["rows"]] == [
        "Turno del lunes a las 9", "Turno del lunes a las 10"]


def test_payloads_equal_once_cut_fall_back_to_the_menu():
    same = [{"title": "A", "payload": "/" + "x" * 300 + "a"},
            {"title": "B", "payload": "/" + "x" * 300 + "b"}]
    (request,) = send({"text": "¿?", "buttons": same})
    assert request.json["content"] == "¿?\n\n1. A\n2. B"


def test_no_text_falls_back_to_the_menu_because_a_body_is_required():
    (request,) = send({"buttons": buttons("A", "B")})
    assert (request.path, request.json["content"]) == ("/webhooks/inbound", "1. A\n2. B")


def test_only_link_buttons_send_text():
    link = [{"title": "Web", "type": "web_url", "url": "https://x.example.com"}]
    (request,) = send({"text": "Mirá", "buttons": link})
    assert request.json["content"] == "Mirá\n\nWeb: https://x.example.com"


def test_text_longer_than_the_body_limit_goes_first_as_text():
    text = "Una frase de prueba. " * 60
    sent = send({"text": text, "buttons": buttons("A", "B")})
    assert [r.path for r in sent] == ["/webhooks/inbound", "/v15.0/5492644710400/messages"]
    first, body = sent[0].json["content"], sent[1].json["interactive"]["body"]["text"]
    assert len(body) <= 1024
    assert f"{first} {body}" == text.strip()


def test_elements_keep_their_numbered_menus():
    response = {"elements": [{"title": "E", "buttons": buttons("A")}]}
    (request,) = send(response)
    assert request.json["content"] == "*E*\n\n1. A"
