"""Splits and shortens text for WhatsApp's length limits without breaking a character."""

import logging
import re
import unicodedata
from typing import List, Optional, Pattern, Tuple

logger = logging.getLogger(__name__)

#: WhatsApp's limit for a text message body.
TEXT_LIMIT = 4096

# Meta does not say which unit its 4096 counts. Lengths here are UTF-16 code units: a code
# point above U+FFFF is two units, so a part within the limit in UTF-16 units is within it in
# Python code points too, the conservative choice whichever unit WhatsApp uses.

# `(?<!\s)` makes a match start only where a whitespace run starts: linear on long runs
_PARAGRAPH = re.compile(r"(?<!\s)\s*\n[^\S\n]*\n\s*")
_LINE = re.compile(r"(?<!\s)\s*\n\s*")
# sentence ends (also CJK and full-width), then closing quotes or brackets, then the space
_SENTENCE = re.compile("[.!?\u2026\u3002\uff01\uff1f]+[\"'\u00bb\u201d\u2019)\\]]*(\\s+)")
_WORD = re.compile(r"\s+")

# Structural cuts (paragraph, line, sentence) are only taken when the part they close is at
# least half the window; otherwise a finer cut gives fewer, fuller messages.
_LEVELS: Tuple[Tuple[Pattern[str], bool], ...] = (
    (_PARAGRAPH, True),
    (_LINE, True),
    (_SENTENCE, True),
    (_WORD, False),
)

_ZWJ = "\u200d"


def utf16_len(text: str) -> int:
    """The length of `text` in UTF-16 code units (astral characters count twice)."""
    return len(text.encode("utf-16-le")) // 2


def _is_regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _is_hangul_jamo_tail(char: str) -> bool:
    return "\u1160" <= char <= "\u11ff" or "\ud7b0" <= char <= "\ud7ff"


def _is_hangul(char: str) -> bool:
    return (
        "\u1100" <= char <= "\u11ff"
        or "\ua960" <= char <= "\ua97f"
        or "\uac00" <= char <= "\ud7a3"
        or "\ud7b0" <= char <= "\ud7ff"
    )


def _extends(char: str) -> bool:
    """True when `char` belongs to the character before it (UAX #29 Extend, ZWJ, SpacingMark)."""
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char in (_ZWJ, "\u200c", "\uff9e", "\uff9f")
        or "\ufe00" <= char <= "\ufe0f"  # variation selectors (emoji / text presentation)
        or "\U000e0100" <= char <= "\U000e01ef"
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin-tone modifiers
        or "\U000e0020" <= char <= "\U000e007f"  # tags (subdivision flags)
    )


def is_boundary(text: str, index: int) -> bool:
    """True when cutting `text` before `text[index]` splits no user-perceived character.

    A simplified, conservative form of the Unicode extended grapheme cluster rules: never
    inside CR LF, before a combining mark, variation selector, skin-tone modifier or tag,
    around a zero-width joiner, inside a regional-indicator pair (flag) or a Hangul syllable
    written with conjoining jamo.
    """
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if before == "\r" and after == "\n":
        return False
    if _extends(after) or before == _ZWJ:
        return False
    if _is_hangul(before) and (_is_hangul_jamo_tail(after) or (
            "\u1100" <= before <= "\u115f" and _is_hangul(after))):
        return False
    if _is_regional_indicator(before) and _is_regional_indicator(after):
        run = 0
        while index - run - 1 >= 0 and _is_regional_indicator(text[index - run - 1]):
            run += 1
        return run % 2 == 0
    return True


def _fitting_end(text: str, limit: int) -> int:
    """The largest `end` with `utf16_len(text[:end]) <= limit`."""
    end = min(len(text), limit)
    excess = utf16_len(text[:end]) - limit
    while excess > 0:
        # each code point removed frees one or two units: remove no more than needed
        end -= (excess + 1) // 2
        excess = utf16_len(text[:end]) - limit
    return end


def _skip_space(text: str, start: int) -> int:
    """The index after the whitespace at `start`, keeping a space a combining mark sits on."""
    index = start
    while index < len(text) and text[index].isspace():
        index += 1
    if index > start and not is_boundary(text, index):
        index -= 1
    return index


def _structural_cut(text: str, end: int) -> Optional[Tuple[int, int]]:
    """The best (part_end, rest_start) within `text[:end]` at a separator, if any."""
    for pattern, needs_fill in _LEVELS:
        minimum = end // 2 if needs_fill else 1
        best = None
        for match in pattern.finditer(text, 0, len(text)):
            group = 1 if pattern.groups else 0
            cut, rest = match.start(group), match.end(group)
            if cut > end:
                break
            if cut >= minimum and is_boundary(text, cut) and is_boundary(text, rest):
                best = (cut, rest)
        if best is not None:
            return best
    return None


def _hard_cut(text: str, end: int) -> Tuple[int, int]:
    cut = end
    while cut > 0 and not is_boundary(text, cut):
        cut -= 1
    if cut == 0:
        # one character (e.g. thousands of stacked accents) longer than the limit
        cut = end
    return cut, _skip_space(text, cut)


def split_text(text: str, limit: int = TEXT_LIMIT) -> List[str]:
    """Splits `text` into parts of at most `limit` UTF-16 units each, in order.

    Cuts at a paragraph break (blank line), else a line break, else a sentence end, else
    between words, and only as a last resort inside a word, always between whole
    characters (see `is_boundary`). Only whitespace at the cuts and at both ends is dropped.

    Args:
        text: the text to send.
        limit: the maximum part length in UTF-16 code units; at least 2.

    Returns:
        The non-empty parts; an empty list for empty or whitespace-only text.

    Raises:
        ValueError: when `limit` is below 2 (an astral character needs 2 units).
    """
    if limit < 2:
        raise ValueError(f"limit must be at least 2, got {limit}")
    rest = text.strip()
    parts: List[str] = []
    while rest and utf16_len(rest) > limit:
        end = _fitting_end(rest, limit)
        cut, start = _structural_cut(rest[: end + _lookahead(rest, end)], end) or _hard_cut(
            rest, end
        )
        if rest[:cut].strip():
            parts.append(rest[:cut])
        # else: a lone space cut off the mark it carried, itself longer than the limit
        rest = rest[start:]
    if rest:
        parts.append(rest)
    return parts


def _lookahead(text: str, end: int) -> int:
    """How far past `end` a separator starting inside the window may run (its whitespace)."""
    index = end
    while index < len(text) and text[index].isspace():
        index += 1
    return index - end + 1


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` shortened to at most `limit` UTF-16 units, ending in `ellipsis` when cut.

    The cut falls between whole characters and drops trailing whitespace before the ellipsis.
    """
    if utf16_len(text) <= limit:
        return text
    room = limit - utf16_len(ellipsis)
    if room <= 0:
        return ellipsis[: _fitting_end(ellipsis, limit)]
    cut = _fitting_end(text, room)
    while cut > 0 and not is_boundary(text, cut):
        cut -= 1
    return text[:cut].rstrip() + ellipsis
