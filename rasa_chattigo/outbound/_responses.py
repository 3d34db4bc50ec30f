"""Validated views of the parts of a Rasa bot response: text, buttons and media."""

import logging
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence

from rasa_chattigo.errors import InvalidResponse
from rasa_chattigo.outbound._mediatypes import file_name_of, mime_type_of

logger = logging.getLogger(__name__)

_LINK_TYPES = ("web_url", "url")


@dataclass(frozen=True)
class Button:
    """One button or quick reply.

    Attributes:
        title: what the user sees.
        payload: what the bot receives when it is chosen (the title when none was given).
        link: for a link button (`web_url`, `phone_number`), the URL or number; such buttons
            are shown as "title: link" and cannot be chosen.
    """

    title: str
    payload: str
    link: Optional[str] = None

    @property
    def selectable(self) -> bool:
        """True for a button the user answers by number or title."""
        return self.link is None


@dataclass(frozen=True)
class Media:
    """A file to send by URL, with its MIME type, optional file name and caption."""

    url: str
    mime_type: str
    file_name: Optional[str] = None
    caption: str = ""


def text_of(value: Any, field: str) -> str:
    """A response's text as a string ("" when absent); numbers are accepted and formatted.

    Raises:
        InvalidResponse: for anything that is not text or a number.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InvalidResponse(field, f"must be text, got {type(value).__name__}")


def _button(item: Any, field: str) -> Optional[Button]:
    if not isinstance(item, Mapping):
        raise InvalidResponse(field, "must be an object with a title")
    if item.get("content_type", "text") != "text":
        logger.debug("Skipping %s: quick reply type %r has no WhatsApp form",
                     field, item.get("content_type"))
        return None
    title = text_of(item.get("title"), f"{field}.title").strip()
    if not title:
        raise InvalidResponse(f"{field}.title", "is required")
    kind = item.get("type")
    if kind in _LINK_TYPES or (kind is None and item.get("url") is not None):
        return Button(title, "", _http_url(item.get("url"), f"{field}.url"))
    payload = text_of(item.get("payload"), f"{field}.payload")
    if kind == "phone_number":
        if not payload:
            raise InvalidResponse(f"{field}.payload", "is required for a phone_number button")
        return Button(title, "", payload)
    return Button(title, payload or title)


def parse_buttons(raw: Any, field: str) -> List[Button]:
    """Rasa `buttons` / `quick_replies` (or an element's `buttons`) as `Button`s, in order.

    Quick replies of a `content_type` other than "text" (location, phone, e-mail requests)
    have no WhatsApp form and are left out.

    Raises:
        InvalidResponse: naming the first bad item, e.g. `buttons.1.title`.
    """
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise InvalidResponse(field, "must be a list of buttons")
    buttons = (_button(item, f"{field}.{index}") for index, item in enumerate(raw))
    return [button for button in buttons if button is not None]


def selectable_buttons(raw: Any) -> List[Button]:
    """The buttons a user can answer, leniently: unusable items are skipped, never raised."""
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        return []
    found = []
    for index, item in enumerate(raw):
        try:
            button = _button(item, str(index))
        except InvalidResponse:
            continue
        if button is not None and button.selectable:
            found.append(button)
    return found


def _http_url(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidResponse(field, "is required: an http:// or https:// URL")
    url = value.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidResponse(field, "must be an http:// or https:// URL")
    return url


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    return next((raw[key] for key in keys if raw.get(key) is not None), None)


def parse_media(raw: Any, field: str, *, default_type: str, named: bool) -> Media:
    """An `image` or `attachment`: a URL, or an object with url, MIME type, file name, caption.

    Args:
        raw: the URL string, or a dict with `url` (or `mediaUrl` / `link`),
            `mime_type` (or `mimeType`), `filename` (or `fileName`) and `caption`.
        field: the response key, for error messages.
        default_type: the MIME type when neither the dict nor an extension gives one.
        named: fill in the file name from the URL path when none is given.

    Raises:
        InvalidResponse: when there is no http(s) URL or a value has the wrong type.
    """
    if isinstance(raw, str):
        raw = {"url": raw}
        url_field = field
    elif isinstance(raw, Mapping):
        url_field = f"{field}.url"
    else:
        raise InvalidResponse(field, "must be a URL or an object with a url")
    url = _http_url(_first(raw, "url", "mediaUrl", "link"), url_field)
    file_name = text_of(_first(raw, "filename", "fileName"), f"{field}.filename").strip()
    if not file_name and named:
        file_name = file_name_of(url)
    mime_type = (
        text_of(_first(raw, "mime_type", "mimeType"), f"{field}.mime_type").strip()
        or mime_type_of(file_name)
        or mime_type_of(url, default_type)
        or default_type
    )
    caption = text_of(raw.get("caption"), f"{field}.caption").strip()
    return Media(url, mime_type, file_name or None, caption)
