"""Numbered menus: how buttons are written, and how typed answers pick a button."""

import pytest

from rasa_chattigo.outbound._menus import menu_buttons, render_menu, resolve_menu_answer
from rasa_chattigo.outbound._responses import InvalidResponse

YES_NO = [{"title": "Sí", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
WITH_LINK = [
    {"title": "Sí", "payload": "/affirm"},
    {"title": "Web", "type": "web_url", "url": "https://clinica.example.com"},
    {"title": "No", "payload": "/deny"},
]


def test_render_menu_writes_text_blank_line_and_numbered_titles():
    assert render_menu("¿Confirmás?", YES_NO) == "¿Confirmás?\n\n1. Sí\n2. No"


def test_render_menu_lists_links_in_place_without_a_number():
    assert render_menu("¿Y?", WITH_LINK) == "¿Y?\n\n1. Sí\nWeb: https://clinica.example.com\n2. No"


def test_render_menu_without_text_is_just_the_lines():
    assert render_menu("  ", YES_NO) == "1. Sí\n2. No"


def test_render_menu_without_buttons_is_the_text():
    assert render_menu(" Hola ", []) == "Hola"


def test_render_menu_can_continue_numbering():
    assert render_menu("", YES_NO, start=3) == "3. Sí\n4. No"


def test_render_menu_shows_a_phone_button_as_its_number():
    phone = [{"title": "Llamar", "type": "phone_number", "payload": "+5492644710400"}]
    assert render_menu("", phone) == "Llamar: +5492644710400"


def test_render_menu_refuses_a_button_without_title():
    with pytest.raises(InvalidResponse, match=r"'buttons\.0\.title': is required"):
        render_menu("x", [{"payload": "/a"}])


@pytest.mark.parametrize(
    "answer",
    ["2", " 2 ", "2.", "2)", "2 )", "#2", "opción 2", "Opcion 2", "2\ufe0f\u20e3", "2\u20e3",
     "\uff12", "2. No", "2) no", "no", "NO", " No. ", "¡No!", "/deny"],
)
def test_answers_that_pick_the_second_button(answer):
    assert resolve_menu_answer(answer, YES_NO) == "/deny"


@pytest.mark.parametrize("answer", ["si", "SI", "Sí", "sí.", "¡Sí!", "1"])
def test_title_is_matched_ignoring_case_accents_and_punctuation(answer):
    assert resolve_menu_answer(answer, YES_NO) == "/affirm"


@pytest.mark.parametrize(
    "answer", ["", "   ", "3", "0", "tal vez", "2. Sí", "si no", "1 2", "12345", "Web"]
)
def test_answers_that_pick_nothing(answer):
    assert resolve_menu_answer(answer, WITH_LINK if answer == "Web" else YES_NO) is None


def test_numbers_skip_link_buttons():
    assert resolve_menu_answer("2", WITH_LINK) == "/deny"


def test_keycap_ten_picks_the_tenth():
    many = [{"title": f"Opción {i}", "payload": f"/{i}"} for i in range(1, 11)]
    assert resolve_menu_answer("\U0001f51f", many) == "/10"


def test_a_number_outside_the_menu_may_still_be_a_title():
    sizes = [{"title": "5", "payload": "/cinco"}, {"title": "10", "payload": "/diez"}]
    assert resolve_menu_answer("10", sizes) == "/diez"


def test_a_number_inside_the_menu_wins_over_a_title():
    sizes = [{"title": "2", "payload": "/dos"}, {"title": "1", "payload": "/uno"}]
    assert resolve_menu_answer("1", sizes) == "/dos"


def test_emoji_are_ignored_in_titles():
    assert resolve_menu_answer("confirmar", [{"title": "✅ Confirmar", "payload": "/ok"}]) == "/ok"


def test_an_emoji_only_title_is_matched_as_typed():
    assert resolve_menu_answer("👍", [{"title": "👍", "payload": "/like"}]) == "/like"


def test_the_same_title_with_different_payloads_picks_none():
    twice = [{"title": "Reservar", "payload": "/a"}, {"title": "Reservar", "payload": "/b"}]
    assert resolve_menu_answer("reservar", twice) is None


def test_unusable_buttons_are_skipped_not_raised():
    messy = ["Sí", {"payload": "/x"}, {"title": "No", "payload": "/deny"}]
    assert resolve_menu_answer("1", messy) == "/deny"


@pytest.mark.parametrize("buttons", [None, "Sí/No", 3])
def test_no_menu_picks_nothing(buttons):
    assert resolve_menu_answer("1", buttons) is None


def test_menu_buttons_prefers_quick_replies_then_continues_with_elements():
    response = {
        "quick_replies": [{"content_type": "text", "title": "A", "payload": "/a"},
                          {"content_type": "location"}],
        "buttons": [{"title": "Ignorado", "payload": "/x"}],
        "elements": [{"title": "E", "buttons": WITH_LINK}],
    }
    assert menu_buttons(response) == [
        {"title": "A", "payload": "/a"},
        {"title": "Sí", "payload": "/affirm"},
        {"title": "No", "payload": "/deny"},
    ]


def test_menu_buttons_numbers_match_what_was_rendered():
    response = {"buttons": YES_NO, "elements": [{"title": "E", "buttons": YES_NO}]}
    assert resolve_menu_answer("4", menu_buttons(response)) == "/deny"
