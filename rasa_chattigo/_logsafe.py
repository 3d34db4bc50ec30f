"""Values from webhook payloads made safe for one log line: control characters escaped."""

from typing import Any


def one_line(value: Any) -> str:
    """`value` as text with newlines and other control characters escaped (`\\n`, `\\x1b`)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
