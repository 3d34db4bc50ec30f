"""WhatsApp's 24-hour customer-service window per user, on a clock a developer can move forward."""

import re
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

WINDOW_SECONDS = 24 * 3600
_SPAN = re.compile(r"\+?\s*(\d+(?:\.\d+)?)\s*([dhms]?)")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}

#: The error Meta reports for a free-form message outside the window (status `failed`).
RE_ENGAGEMENT_ERROR = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number."
    },
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}


def parse_span(text: str) -> float:
    """Seconds in `+25h`, `90m`, `1d`, `30s` or a bare number of seconds.

    Raises:
        ValueError: anything else.
    """
    match = _SPAN.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time span such as +25h, 90m, 1d or 30s")
    return float(match.group(1)) * _UNIT[match.group(2)]


class MovableClock:
    """A Unix clock that only ever moves forward by hand, on top of a base clock.

    Args:
        base: the underlying time source (tests inject their own).
    """

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self.offset = 0.0

    def __call__(self) -> float:
        return self._base() + self.offset

    def advance(self, seconds: float) -> None:
        """Moves the clock forward.

        Raises:
            ValueError: for a negative or non-finite span.
        """
        if not 0 <= seconds < float("inf"):
            raise ValueError("the clock only moves forward")
        self.offset += seconds


class Windows:
    """When each user last wrote to each business number: only the user's own messages count.

    Args:
        clock: the sandbox's clock.
        seconds: the window's length (WhatsApp: 24 hours).
    """

    def __init__(self, clock: Callable[[], float], seconds: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self.seconds = seconds
        self._opened: Dict[Tuple[str, str], float] = {}

    def user_wrote(self, did: str, msisdn: str) -> None:
        """Opens (or renews) the window of `msisdn` with `did`."""
        self._opened[(did, msisdn)] = self._clock()

    def is_open(self, did: str, msisdn: str) -> bool:
        """Whether a free-form message from `did` to `msisdn` would be delivered now."""
        left = self.seconds_left(did, msisdn)
        return left is not None and left > 0

    def seconds_left(self, did: str, msisdn: str) -> Optional[float]:
        """Seconds until the window closes (negative once closed); None if the user never wrote."""
        opened = self._opened.get((did, msisdn))
        return None if opened is None else opened + self.seconds - self._clock()

    def describe(self) -> List[Dict[str, Any]]:
        """Every known window, as JSON."""
        return [
            {"did": did, "msisdn": msisdn, "open": self.is_open(did, msisdn),
             "seconds_left": round(self.seconds_left(did, msisdn) or 0.0, 1)}
            for did, msisdn in sorted(self._opened)
        ]

    def clear(self) -> None:
        """Forgets every window."""
        self._opened.clear()
