"""Fault injection for sends: fail the next N, or a seeded fraction, with 500, 429 or a stall."""

import random
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.fields import Fields

MODES = ("500", "429", "stall", "slow")
MAX_STALL_SECONDS = 120.0


@dataclass(frozen=True)
class Fault:
    """One failure to inflict on a send.

    Attributes:
        mode: "500" (answer 500), "429" (answer 429 with Retry-After), "stall" (hold the
            request, then close the connection without answering) or "slow" (hold the request
            `stall_seconds`, then handle it normally).
        retry_after: seconds announced in Retry-After (429).
        stall_seconds: how long a stall (or a slow answer) holds the request.
    """

    mode: str
    retry_after: float
    stall_seconds: float


class FaultPlan:
    """Which upcoming sends fail; configured through `POST /sandbox/faults`."""

    def __init__(self) -> None:
        self._remaining = 0
        self._rate = 0.0
        self._modes: List[str] = []
        self._rng = random.Random()  # noqa: S311 - seeded, reproducible faults, not security
        self._retry_after = 1.0
        self._stall_seconds = 5.0

    def configure(self, body: Any) -> Dict[str, Any]:
        """Replaces the plan with the one described by a request body.

        Body shapes: `{"mode", "count", "retry_after", "stall_seconds"}` fails the next `count`
        sends; `{"rate", "modes", "seed", "retry_after", "stall_seconds"}` fails that fraction.

        Raises:
            InvalidPayload: naming the wrong field.
        """
        fields = Fields(body)
        if fields.has("mode") == fields.has("rate"):
            raise InvalidPayload(
                "mode", "give either 'mode' (with 'count') or 'rate' (with 'modes')"
            )
        retry_after, stall_seconds = _timings(fields)
        if fields.has("mode"):
            self._fail_next(fields)
        else:
            self._fail_fraction(fields, body)
        self._retry_after = 1.0 if retry_after is None else retry_after
        self._stall_seconds = 5.0 if stall_seconds is None else stall_seconds
        return self.describe()

    def _fail_next(self, fields: Fields) -> None:
        mode = fields.text("mode", choices=MODES)
        count = fields.number("count", required=False)
        if count is None:
            count = 1
        if count < 1 or count != int(count):
            raise InvalidPayload("count", "must be a whole number of at least 1")
        self.clear()
        self._remaining, self._modes = int(count), [str(mode)]

    def _fail_fraction(self, fields: Fields, body: Any) -> None:
        rate = fields.number("rate")
        assert rate is not None
        if not 0 < rate <= 1:
            raise InvalidPayload("rate", "must be above 0 and at most 1")
        modes = _modes(fields)
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidPayload("seed", "must be an integer")
        self.clear()
        self._rate, self._modes, self._rng = rate, modes, random.Random(seed)  # noqa: S311

    def clear(self) -> None:
        """No more faults."""
        self._remaining, self._rate, self._modes = 0, 0.0, []

    def describe(self) -> Dict[str, Any]:
        """The plan in force, as JSON."""
        if self._remaining:
            return {"mode": self._modes[0], "remaining": self._remaining, **self._timings()}
        if self._rate:
            return {"rate": self._rate, "modes": self._modes, **self._timings()}
        return {"mode": None}

    def _timings(self) -> Dict[str, float]:
        return {"retry_after": self._retry_after, "stall_seconds": self._stall_seconds}

    def next(self) -> Optional[Fault]:
        """The fault for the send being handled now, or None to handle it normally."""
        if self._remaining:
            self._remaining -= 1
            mode = self._modes[0]
        elif self._rate and self._rng.random() < self._rate:
            mode = self._rng.choice(self._modes)
        else:
            return None
        return Fault(mode, self._retry_after, self._stall_seconds)


def _timings(fields: Fields) -> Tuple[Optional[float], Optional[float]]:
    retry_after = fields.number("retry_after", required=False)
    stall_seconds = fields.number("stall_seconds", required=False)
    if retry_after is not None and retry_after < 0:
        raise InvalidPayload("retry_after", "must be zero or more seconds")
    if stall_seconds is not None and not 0 < stall_seconds <= MAX_STALL_SECONDS:
        raise InvalidPayload("stall_seconds", f"must be above 0 and at most {MAX_STALL_SECONDS:g}")
    return retry_after, stall_seconds


def _modes(fields: Fields) -> List[str]:
    modes = fields.items("modes", required=False) or list(MODES)
    for index, mode in enumerate(modes):
        if mode not in MODES:
            raise InvalidPayload(f"modes.{index}", f"must be one of {', '.join(MODES)}")
    return list(modes)
