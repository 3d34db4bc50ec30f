"""Log values that cannot forge lines, and the token filter on every Sanic logger."""

import logging

import pytest

from rasa_chattigo.logsafe import RedactTokenFilter, escape, install_redaction, shown

TOKEN = "logsafe-webhook-token-0123456789"


@pytest.mark.parametrize(("value", "expected"), [
    ("wamid.1\n2026 ERROR forged", "wamid.1\\n2026 ERROR forged"),
    ("a\r\x1b[31mb\x00", "a\\r\\x1b[31mb\\x00"),
    ("sep\u2028para\u2029", "sep\\u2028para\\u2029"),
    ("lone \ud800", "lone \\ud800"),
    ("ñandú 😀", "ñandú 😀"),
    (12345, "12345"),
])
def test_escape_keeps_a_value_on_one_printable_line(value, expected):
    assert escape(value) == expected


def test_escape_cuts_a_long_value_and_says_how_much():
    assert escape("x" * 250, limit=200) == "x" * 200 + "...(+50 chars)"


def test_shown_escapes_only_when_formatted():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "id %s and %r", (
        shown("a\nb"), shown("c\nd")), None)
    assert record.getMessage() == "id a\\nb and 'c\\nd'"


def test_the_filter_redacts_query_tokens_and_the_registered_secret():
    RedactTokenFilter.add_secret(TOKEN)
    record = logging.LogRecord("sanic.error", logging.ERROR, __file__, 1,
                               "uri %s header %s", ("http://h/p?a=1&token=anything", TOKEN), None)
    record.request = f"POST http://h/webhook?token={TOKEN}"
    assert RedactTokenFilter().filter(record) is True
    assert record.getMessage() == "uri http://h/p?a=1&token=*** header ***"
    assert record.request == "POST http://h/webhook?token=***"


def test_install_redaction_covers_every_sanic_logger_once():
    install_redaction(TOKEN)
    install_redaction(TOKEN)
    for name in ("sanic.access", "sanic.error", "sanic.root", "sanic.server"):
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, RedactTokenFilter)]
        assert len(filters) == 1
