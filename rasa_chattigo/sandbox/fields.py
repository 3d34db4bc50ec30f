"""Strict reading of JSON objects: every refusal names the dotted field and what is wrong."""

import re
from typing import Any, Collection, Dict, List, Optional, Pattern
from urllib.parse import urlsplit

from rasa_chattigo.errors import InvalidPayload

DIGITS = re.compile(r"[0-9]+")
MIME = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(\s*;.*)?")

_MISSING = object()


class NotPermitted(InvalidPayload):
    """A well-formed value the authenticated user may not use (answered 403)."""


def is_http_url(value: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


class Fields:
    """A JSON object being validated, with the dotted path it sits at.

    Args:
        data: the decoded JSON value that must be an object.
        path: its dotted path in the request body; empty for the body itself.
    """

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, dict):
            raise InvalidPayload(path or "body", "must be a JSON object")
        self.data: Dict[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        """The dotted path of `key` inside this object."""
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        """Whether `key` is present with a non-null value."""
        return self.data.get(key) is not None

    def _value(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise InvalidPayload(self.at(key), "is required")
            return _MISSING
        return value

    def text(
        self,
        key: str,
        *,
        required: bool = True,
        non_empty: bool = False,
        max_len: Optional[int] = None,
        pattern: Optional[Pattern[str]] = None,
        pattern_help: str = "",
        choices: Optional[Collection[str]] = None,
    ) -> Optional[str]:
        """A string field, checked for emptiness, length, format and allowed values."""
        value = self._value(key, required)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise InvalidPayload(self.at(key), "must be a string")
        if non_empty and not value.strip():
            raise InvalidPayload(self.at(key), "must not be empty")
        if max_len is not None and len(value) > max_len:
            raise InvalidPayload(
                self.at(key), f"must be at most {max_len} characters (got {len(value)})"
            )
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidPayload(self.at(key), pattern_help or "has a wrong format")
        if choices is not None and value not in choices:
            raise InvalidPayload(self.at(key), f"must be one of {', '.join(choices)}")
        return value

    def digits(self, key: str, *, required: bool = True) -> Optional[str]:
        """A phone number field: a string of digits only, without '+'."""
        return self.text(
            key,
            required=required,
            non_empty=True,
            pattern=DIGITS,
            pattern_help="must contain digits only (no '+', spaces or dashes)",
        )

    def url(self, key: str, *, required: bool = True) -> Optional[str]:
        """An absolute http or https URL."""
        value = self.text(key, required=required, non_empty=True)
        if value is not None and not is_http_url(value):
            raise InvalidPayload(self.at(key), "must be an http or https URL")
        return value

    def flag(self, key: str, *, required: bool = True) -> Optional[bool]:
        """A JSON boolean (not 0/1, not "true")."""
        value = self._value(key, required)
        if value is _MISSING:
            return None
        if not isinstance(value, bool):
            raise InvalidPayload(self.at(key), "must be a boolean")
        return value

    def number(self, key: str, *, required: bool = True) -> Optional[float]:
        """A JSON number (booleans refused)."""
        value = self._value(key, required)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidPayload(self.at(key), "must be a number")
        return float(value)

    def obj(self, key: str, *, required: bool = True) -> Optional["Fields"]:
        """A nested object, itself validated through the returned `Fields`."""
        value = self._value(key, required)
        if value is _MISSING:
            return None
        return Fields(value, self.at(key))

    def items(
        self,
        key: str,
        *,
        required: bool = True,
        min_len: int = 0,
        max_len: Optional[int] = None,
    ) -> List[Any]:
        """An array field with bounds on its length; [] when absent and optional."""
        value = self._value(key, required)
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            raise InvalidPayload(self.at(key), "must be an array")
        if len(value) < min_len:
            raise InvalidPayload(self.at(key), f"must hold at least {min_len} item(s)")
        if max_len is not None and len(value) > max_len:
            raise InvalidPayload(
                self.at(key), f"must hold at most {max_len} items (got {len(value)})"
            )
        return value

    def absent(self, key: str, reason: str) -> None:
        """Refuses `key` when present with a non-null value."""
        if self.has(key):
            raise InvalidPayload(self.at(key), reason)

    def objects(self, key: str, **bounds: Any) -> List["Fields"]:
        """An array of objects, each wrapped in `Fields` with its index in the path."""
        return [
            Fields(item, f"{self.at(key)}.{index}")
            for index, item in enumerate(self.items(key, **bounds))
        ]
