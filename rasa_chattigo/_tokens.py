"""The bearer tokens a Chattigo client holds: one per business number, fresh for a lifetime."""

import asyncio
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional


@dataclass
class _Token:
    value: str
    obtained: float


class TokenCache:
    """Login tokens by business number (DID), each used for `lifetime` seconds after its login.

    Args:
        lifetime: seconds a token is used before the next login.
        clock: monotonic clock, injectable for tests.
    """

    def __init__(self, lifetime: float, clock: Callable[[], float]) -> None:
        self._lifetime = lifetime
        self._clock = clock
        self._tokens: Dict[str, _Token] = {}
        self._locks: Dict[str, asyncio.Lock] = {}

    def dids(self) -> List[str]:
        """The business numbers holding a token, sorted."""
        return sorted(self._tokens)

    def fresh(self, did: str) -> Optional[str]:
        """The token of `did` while it is younger than the lifetime, else None."""
        token = self._tokens.get(did)
        if token and self._clock() - token.obtained < self._lifetime:
            return token.value
        return None

    def lock(self, did: str) -> asyncio.Lock:
        """The lock held while `did` logs in, so concurrent callers share one login."""
        return self._locks.setdefault(did, asyncio.Lock())

    def store(self, did: str, value: str) -> None:
        """Keeps `value` as the token of `did`, obtained now."""
        self._tokens[did] = _Token(value, self._clock())

    def forget(self, did: str) -> None:
        """Drops the token of `did`, whatever it is."""
        self._tokens.pop(did, None)

    def drop(self, did: str, value: str) -> None:
        """Drops the token of `did` if it still is `value` (a refused token)."""
        # Only the first of many concurrent 401s drops the token, so an expiry costs one login.
        token = self._tokens.get(did)
        if token is not None and token.value == value:
            del self._tokens[did]
