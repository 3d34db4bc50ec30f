"""What the sandbox remembers: accounts, webhooks, every message both ways, and counters."""

import asyncio
import datetime
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

IN = "in"
OUT = "out"


@dataclass(frozen=True)
class RecordedMessage:
    """One message seen by the sandbox, in either direction.

    Attributes:
        seq: position in the sandbox-wide order (1, 2, ...), shared by every conversation.
        direction: "in" (user to bot: a webhook we posted) or "out" (a send we accepted).
        did: the business number.
        msisdn: the user's number.
        kind: text, image, interactive, template, location, ...
        text: a human rendering, as the user would read it on the phone.
        payload: the exact JSON that travelled.
        at: ISO-8601 UTC time of recording.
        message_id: the sender's id (`id` of a Chattigo send, wamid otherwise).
    """

    seq: int
    direction: str
    did: str
    msisdn: str
    kind: str
    text: str
    payload: Dict[str, Any]
    at: str
    message_id: str

    def to_json(self) -> Dict[str, Any]:
        """The item shape of the inspection endpoints."""
        return {
            "seq": self.seq,
            "direction": self.direction,
            "did": self.did,
            "msisdn": self.msisdn,
            "kind": self.kind,
            "text": self.text,
            "payload": self.payload,
            "at": self.at,
            "message_id": self.message_id,
        }


@dataclass
class Stats:
    """Counters reported by `GET /sandbox/stats`."""

    logins: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicate_ids: int = 0
    faults_injected: int = 0


@dataclass
class SandboxState:
    """The whole memory of one sandbox; tests may read it directly.

    Args:
        users: username -> password.
        dids: username -> business numbers that user may send from and register.
    """

    users: Dict[str, str]
    dids: Dict[str, List[str]]
    webhooks: Dict[str, str] = field(default_factory=dict)
    messages: List[RecordedMessage] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    accepted_ids: Set[Tuple[str, str]] = field(default_factory=set)
    clock: Callable[[], float] = time.time
    #: called with every recorded message and its extras (the sandbox publishes it to the page)
    listener: Optional[Callable[[RecordedMessage, Dict[str, Any]], None]] = field(
        default=None, repr=False
    )
    _seq: Iterable[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _changed: Optional[asyncio.Event] = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"SandboxState(users={sorted(self.users)}, webhooks={self.webhooks}, "
            f"messages={len(self.messages)})"
        )

    def may_use(self, username: str, did: str) -> bool:
        """Whether `username` may send from, and register a webhook for, business number `did`."""
        return did in self.dids.get(username, [])

    def record(
        self,
        direction: str,
        did: str,
        msisdn: str,
        kind: str,
        text: str,
        payload: Dict[str, Any],
        message_id: str,
        **extras: Any,
    ) -> RecordedMessage:
        """Appends a message and wakes every long-poll waiting for it.

        Args:
            extras: more facts for the page only (e.g. `wamid`), not part of the record.
        """
        at = datetime.datetime.fromtimestamp(self.clock(), tz=datetime.timezone.utc)
        message = RecordedMessage(
            seq=next(self._seq),  # type: ignore[call-overload]
            direction=direction,
            did=did,
            msisdn=msisdn,
            kind=kind,
            text=text,
            payload=payload,
            at=at.isoformat(timespec="milliseconds"),
            message_id=message_id,
        )
        self.messages.append(message)
        if self.listener is not None:
            self.listener(message, extras)
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        return message

    def claim_id(self, did: str, message_id: str) -> bool:
        """Marks a Chattigo send id as accepted for `did`; False when it already was."""
        key = (did, message_id)
        if key in self.accepted_ids:
            return False
        self.accepted_ids.add(key)
        return True

    def select(
        self,
        *,
        after: int = 0,
        did: Optional[str] = None,
        msisdn: Optional[str] = None,
        direction: Optional[str] = None,
    ) -> List[RecordedMessage]:
        """Messages with seq > after matching every given filter, in order."""
        return [
            m
            for m in self.messages
            if m.seq > after
            and (did is None or m.did == did)
            and (msisdn is None or m.msisdn == msisdn)
            and (direction is None or m.direction == direction)
        ]

    async def wait_select(self, wait: float, **filters: Any) -> List[RecordedMessage]:
        """Like `select`, but waits up to `wait` seconds for a first match (long-poll)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            found = self.select(**filters)
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                return found
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return self.select(**filters)

    def reset(self, *, webhooks: bool = False) -> None:
        """Forgets messages, accepted ids and counters; webhooks too when asked."""
        self.messages.clear()
        self.accepted_ids.clear()
        self.stats = Stats()
        if webhooks:
            self.webhooks.clear()
