"""Log lines that payload data cannot forge and that never carry the webhook token."""

import logging
import re
from typing import Any, Iterable, Set
from urllib.parse import unquote_plus

#: How many characters of one payload value a log line shows.
MAX_SHOWN = 200
#: Loggers whose records can hold a request URL: Sanic's error, access and server logs.
SANIC_LOGGERS = ("sanic.access", "sanic.error", "sanic.root", "sanic.server")

# C0/C1 controls, line and paragraph separators, lone surrogates (unwritable as UTF-8)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_QUERY_IN_TEXT = re.compile(r"\?([^\s#'\"]*)")


def escape(value: Any, limit: int = MAX_SHOWN) -> str:
    """`value` as one printable line: controls escaped (`\\n`, `\\x1b`), cut at `limit` chars."""
    text = value if isinstance(value, str) else str(value)
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    text = _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return f"{text}...(+{cut} chars)" if cut > 0 else text


class Shown:
    """A payload value for a %-style log argument, escaped only if the line is written."""

    __slots__ = ("limit", "value")

    def __init__(self, value: Any, limit: int = MAX_SHOWN) -> None:
        self.value = value
        self.limit = limit

    def __str__(self) -> str:
        return escape(self.value, self.limit)

    def __repr__(self) -> str:
        return escape(repr(self.value), self.limit)


def shown(value: Any, limit: int = MAX_SHOWN) -> Shown:
    """Wraps a value taken from a request for logging: `logger.info("id %s", shown(wamid))`."""
    return Shown(value, limit)


def redact_url(url: str, params: Iterable[str] = ("token",)) -> str:
    """Replaces the value of the `token` query parameter with `***`, keeping the rest as is.

    Works on a path (`/webhooks/chattigo/webhook?token=...`), a full URL, or a whole log
    line such as Sanic's access-log `request` field (`POST http://host/path?token=... `).

    Args:
        url: the text to clean.
        params: query parameter names to redact (compared after percent-decoding, any case).

    Returns:
        The text with each such parameter's value replaced by `***`.
    """
    names = {name.lower() for name in params}

    def redact_query(match: "re.Match[str]") -> str:
        pieces = []
        for piece in match.group(1).split("&"):
            name, equals, _ = piece.partition("=")
            hidden = equals and unquote_plus(name).strip().lower() in names
            pieces.append(f"{name}=***" if hidden else piece)
        return "?" + "&".join(pieces)

    return _QUERY_IN_TEXT.sub(redact_query, url)


class RedactTokenFilter(logging.Filter):
    """Logging filter that keeps the webhook token out of a record.

    Rewrites Sanic's access-log `request` attribute and the message of any record that shows a
    `token=` query parameter or one of the `secrets` registered with `add_secret`. Attach it to
    a logger (`install_redaction` does it for Sanic's loggers); it never drops a record.
    """

    secrets: Set[str] = set()

    @classmethod
    def add_secret(cls, secret: str) -> None:
        """Also redact this exact value wherever it appears (the configured webhook token)."""
        if secret:
            cls.secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redacts in place; always True."""
        request = getattr(record, "request", None)
        if isinstance(request, str):
            record.request = self._clean(request)
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's to report, not ours
            return True
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True

    def _clean(self, text: str) -> str:
        if "token" in text.lower():
            text = redact_url(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


def install_redaction(secret: str = "") -> None:
    """Adds the redaction filter to Sanic's loggers (once per process) and registers `secret`."""
    RedactTokenFilter.add_secret(secret)
    for name in SANIC_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactTokenFilter) for f in log.filters):
            log.addFilter(RedactTokenFilter())
