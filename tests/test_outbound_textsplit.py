"""Splitting long texts for WhatsApp: order, limits, and whole characters."""

from typing import List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasa_chattigo.outbound._textsplit import (
    TEXT_LIMIT,
    is_boundary,
    split_text,
    truncate,
    utf16_len,
)

from conftest import load_fixture

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, 11 units
THUMB_MEDIUM = "\U0001f44d\U0001f3fd"
FLAG_AR = "\U0001f1e6\U0001f1f7"
KEYCAP_ONE = "1\ufe0f\u20e3"
HEART = "\u2764\ufe0f"
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # 14 units
E_ACUTE = "e\u0301"
HANGUL_JAMO = "\u1112\u1161\u11ab"
CLEF = "\U0001d11e"

CLUSTERS = [
    "a", "b", "Ñ", E_ACUTE, FAMILY, THUMB_MEDIUM, FLAG_AR, KEYCAP_ONE, HEART, SCOTLAND,
    HANGUL_JAMO, CLEF, "\r\n", " ", " ", "\n", "\n\n", ".", "?", "\t",
]

texts = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from([" ", "\n", "\n\n", ". ", "\u200d", "\ufe0f", "\u0301", FLAG_AR]),
    ),
    max_size=200,
).map("".join)


def _placements(text: str, parts: List[str]) -> List[Tuple[int, int]]:
    """Where each part sits in `text`, asserting only whitespace lies between parts."""
    spans = []
    position = len(text) - len(text.lstrip())
    for part in parts:
        while not text.startswith(part, position):
            assert text[position].isspace(), (part, position)
            position += 1
        spans.append((position, position + len(part)))
        position += len(part)
    assert text[position:].strip() == ""
    return spans


@given(text=texts, limit=st.integers(min_value=2, max_value=60))
def test_parts_rebuild_the_original_but_whitespace_at_cuts(text, limit):
    _placements(text, split_text(text, limit))


@given(text=texts, limit=st.integers(min_value=2, max_value=60))
def test_no_part_exceeds_the_limit_in_utf16_units(text, limit):
    assert all(utf16_len(part) <= limit for part in split_text(text, limit))


@given(text=texts, limit=st.integers(min_value=2, max_value=60))
def test_no_part_is_empty_or_blank(text, limit):
    assert all(part.strip() for part in split_text(text, limit))


@given(
    clusters=st.lists(st.sampled_from(CLUSTERS), max_size=120),
    limit=st.integers(min_value=14, max_value=80),
)
@settings(max_examples=300)
def test_cuts_fall_between_grapheme_clusters(clusters, limit):
    text = "".join(clusters)
    boundaries = {0}
    for cluster in clusters:
        boundaries.add(max(boundaries) + len(cluster))
    for start, end in _placements(text, split_text(text, limit)):
        assert start in boundaries and end in boundaries, (start, end)


@given(text=texts)
def test_text_within_the_limit_is_sent_whole(text):
    expected = [text.strip()] if text.strip() else []
    assert split_text(text, 400 * 2) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t "])
def test_blank_text_gives_no_parts(text):
    assert split_text(text) == []


def test_ten_thousand_characters_of_prose_become_three_messages():
    text = load_fixture("outbound", "prose_10000")["text"]
    parts = split_text(text)
    assert len(text) == 10000
    assert len(parts) == 3
    assert all(utf16_len(part) <= TEXT_LIMIT for part in parts)
    assert all(part.endswith((".", "!", "?")) for part in parts)


def test_exactly_the_limit_is_one_part():
    assert split_text("x" * TEXT_LIMIT) == ["x" * TEXT_LIMIT]


def test_one_over_the_limit_is_two_parts():
    assert split_text("x" * (TEXT_LIMIT + 1)) == ["x" * TEXT_LIMIT, "x"]


def test_paragraph_break_is_preferred_over_a_later_line_break():
    text = "uno dos tres cuatro.\n\ncinco.\nseis siete ocho"
    assert split_text(text, 30) == ["uno dos tres cuatro.", "cinco.\nseis siete ocho"]


def test_line_break_is_preferred_over_a_later_sentence_end():
    text = "uno dos tres.\ncuatro. cinco seis siete"
    assert split_text(text, 24) == ["uno dos tres.", "cuatro. cinco seis siete"]


def test_sentence_end_is_preferred_over_a_later_space():
    text = "Hola a todos. Esto sigue un rato largo"
    assert split_text(text, 24) == ["Hola a todos.", "Esto sigue un rato largo"]


def test_an_early_paragraph_break_gives_way_to_a_fuller_cut():
    text = "Hola.\n\nEsto es una frase larga. Y otra frase mas"
    assert split_text(text, 36) == ["Hola.\n\nEsto es una frase larga.", "Y otra frase mas"]


def test_words_are_kept_whole_when_there_is_no_sentence_end():
    assert split_text("alfa beta gamma delta", 11) == ["alfa beta", "gamma delta"]


def test_a_word_longer_than_the_limit_is_cut_hard():
    assert split_text("abcdefghij klm", 4) == ["abcd", "efgh", "ij", "klm"]


def test_limit_counts_utf16_units_so_astral_characters_count_twice():
    assert split_text(CLEF * 5, 4) == [CLEF * 2, CLEF * 2, CLEF]


def test_zwj_family_emoji_is_never_split():
    assert split_text(FAMILY * 3, 12) == [FAMILY, FAMILY, FAMILY]


def test_flags_are_cut_between_pairs_of_regional_indicators():
    assert split_text(FLAG_AR * 3, 6) == [FLAG_AR, FLAG_AR, FLAG_AR]


def test_skin_tone_modifier_stays_with_its_emoji():
    assert split_text("a" + THUMB_MEDIUM + "b", 4) == ["a", THUMB_MEDIUM, "b"]


def test_keycap_stays_whole():
    assert split_text("ab" + KEYCAP_ONE, 4) == ["ab", KEYCAP_ONE]


def test_variation_selector_stays_with_its_emoji():
    assert split_text("a" + HEART, 2) == ["a", HEART]


def test_combining_accent_stays_with_its_letter():
    assert split_text("cafe\u0301", 4) == ["caf", "e\u0301"]


def test_a_space_carrying_a_combining_mark_is_not_dropped():
    assert split_text("abcd \u0301x", 4) == ["abcd", " \u0301x"]


def test_a_character_longer_than_the_limit_is_cut_as_a_last_resort():
    assert split_text("e" + "\u0301" * 5, 3) == ["e\u0301\u0301", "\u0301\u0301\u0301"]


def test_limit_below_two_is_refused():
    with pytest.raises(ValueError, match="limit must be at least 2, got 1"):
        split_text("hola", 1)


@pytest.mark.parametrize(
    ("text", "index", "expected"),
    [
        ("ab", 1, True),
        ("\r\n", 1, False),
        (E_ACUTE, 1, False),
        (FAMILY, 2, False),
        (FAMILY, 1, False),
        (FLAG_AR + FLAG_AR, 2, True),
        (FLAG_AR + FLAG_AR, 1, False),
        (FLAG_AR + FLAG_AR, 3, False),
        (HANGUL_JAMO, 1, False),
        ("a" + SCOTLAND, 1, True),
        (SCOTLAND, 3, False),
    ],
)
def test_is_boundary(text, index, expected):
    assert is_boundary(text, index) is expected


def test_truncate_leaves_short_text_alone():
    assert truncate("Sí", 20) == "Sí"


def test_truncate_ends_in_an_ellipsis_within_the_limit():
    assert truncate("Confirmar la reserva ahora", 20) == "Confirmar la reserv…"


def test_truncate_drops_trailing_space_before_the_ellipsis():
    assert truncate("Ver el menú completo de hoy", 8) == "Ver el…"


def test_truncate_without_ellipsis_cuts_exactly():
    assert truncate("/elegir{\"id\": 12345}", 10, ellipsis="") == "/elegir{\"i"


def test_truncate_never_splits_an_emoji():
    assert truncate("ok " + FAMILY, 12, ellipsis="") == "ok"
