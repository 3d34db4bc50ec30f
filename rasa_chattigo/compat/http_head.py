"""A request head's framing, checked as a proxy in front of us would read it: what the channel
refuses before Sanic reads a body (`sanic_api.guard_content_length`, `GuardedRequest`).

Sanic reads some heads otherwise than RFC 9110 and 9112 say, or than a proxy would: the docs
of `sanic_api.guard_content_length` and docs/security.md list them.
"""

import re
from typing import Any, List, Optional

#: HTTP's optional white space around a field value (RFC 9110): the only characters stripped.
_OWS = " \t"
#: A field name is a token (RFC 9110): no white space before the colon, no control character.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Control characters, which no field value holds (RFC 9110): all but the tab.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
#: The framing fields' values, byte for byte: Sanic strips any Unicode white space before a
#: value (`\x0bchunked`), which a proxy would not.
_FRAMING = {
    b"content-length": re.compile(rb"[ \t]*[0-9]+[ \t]*"),
    b"transfer-encoding": re.compile(rb"[ \t]*[Cc][Hh][Uu][Nn][Kk][Ee][Dd][ \t]*"),
}
#: Longer Content-Length values are refused outright: Python reads no integer of more than
#: 4,300 digits, and Sanic reads the header with `int`.
MAX_LENGTH_DIGITS = 100


def content_length_problem(values: List[str]) -> Optional[str]:
    """Why these Content-Length values cannot be honoured, or None when they can."""
    if not values:
        return None
    lengths = {value.strip(_OWS) for value in values}
    if any(not (length.isascii() and length.isdigit()) for length in lengths):
        return "Content-Length is not a non-negative integer"
    if any(len(length) > MAX_LENGTH_DIGITS for length in lengths):
        return f"Content-Length has more than {MAX_LENGTH_DIGITS} digits"
    if len({length.lstrip("0") for length in lengths}) > 1:
        return "Content-Length given twice with different values"
    return None


def transfer_encoding_problem(values: List[str]) -> Optional[str]:
    """Why these Transfer-Encoding values cannot be honoured, or None for none or `chunked`
    (in any case: the name is case-insensitive)."""
    if not values:
        return None
    encoding = values[0].strip(_OWS)
    if len(values) > 1 or not (encoding.isascii() and encoding.lower() == "chunked"):
        return "Transfer-Encoding other than chunked is not supported"
    return None


def head_problem(headers: Any, version: str, head: bytes) -> Optional[str]:
    """Why the body this head announces would be read otherwise than a proxy reads it, or None.

    Args:
        headers: the fields as Sanic read them (a multidict, names in lower case).
        version: the HTTP version, `1.1` or `1.0`.
        head: the head's bytes as received, request line included.
    """
    try:
        return _parsed_problem(headers, version) or _raw_problem(head)
    except Exception:  # a head no check foresaw: refused, never a 500
        return "malformed request head"


def _parsed_problem(headers: Any, version: str) -> Optional[str]:
    lengths = headers.getall("content-length", [])
    encodings = headers.getall("transfer-encoding", [])
    problem = content_length_problem(lengths) or transfer_encoding_problem(encodings)
    if problem is None and lengths and encodings:
        problem = "Content-Length and Transfer-Encoding given together"
    if problem is None and encodings and version == "1.0":
        problem = "Transfer-Encoding in an HTTP/1.0 request"
    return problem


def _raw_problem(head: bytes) -> Optional[str]:
    """What the head's own bytes break that Sanic's reading of them hides: Sanic ignores
    `Content-Length :`, splits lines at CRLF only and strips white space before a value, where
    a proxy may read framing otherwise (RFC 9110 and 9112 ask to refuse all three)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if not _TOKEN.fullmatch(name):
            return "a header name is not a token"
        if _CONTROL.search(value):
            return "a header value holds a control character"
        framing = _FRAMING.get(name.lower())
        if framing is not None and not framing.fullmatch(value):
            return f"{name.decode('ascii')} is not one Sanic and a proxy read alike"
    return None
