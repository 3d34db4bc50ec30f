"""The sandbox's event log: all the page shows, replayable, streamed as server-sent events."""

import asyncio
import itertools
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Optional

from aiohttp import web

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 15.0
MAX_EVENTS = 20000


@dataclass(frozen=True)
class Event:
    """One thing that happened: a message, a status, a refusal, a hand-off, a clock move.

    Attributes:
        id: position in the log (1, 2, ...), the SSE `id`; never reused, not even after a reset.
        kind: message, status, delivery, refused, handoff, clock, faults, reset.
        data: the event's JSON object.
    """

    id: int
    kind: str
    data: Dict[str, Any]

    def to_json(self) -> Dict[str, Any]:
        """The item shape of `GET /sandbox/events.json`."""
        return {"id": self.id, "kind": self.kind, "data": self.data}

    def to_sse(self) -> bytes:
        """The event as one server-sent-events frame."""
        data = json.dumps(self.data, ensure_ascii=False)
        return f"id: {self.id}\nevent: {self.kind}\ndata: {data}\n\n".encode()


class EventLog:
    """An append-only, bounded log that readers follow from any event id."""

    def __init__(self, limit: int = MAX_EVENTS) -> None:
        self._events: Deque[Event] = deque(maxlen=limit)
        self._ids = itertools.count(1)
        self._changed: Optional[asyncio.Event] = None
        self.closed = False

    def publish(self, kind: str, /, **data: Any) -> Event:
        """Appends an event and wakes every reader."""
        event = Event(next(self._ids), kind, data)
        self._events.append(event)
        self._wake()
        return event

    def after(self, last_id: int) -> List[Event]:
        """Events with an id above `last_id`, in order."""
        return [event for event in self._events if event.id > last_id]

    async def wait_after(self, last_id: int, timeout: float) -> List[Event]:
        """Like `after`, waiting up to `timeout` seconds for a first one (empty when closed)."""
        found = self.after(last_id)
        if found or self.closed:
            return found
        if self._changed is None:
            self._changed = asyncio.Event()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.after(last_id)

    def clear(self) -> None:
        """Forgets every event and tells readers with a `reset` event."""
        self._events.clear()
        self.publish("reset")

    def close(self) -> None:
        """Ends every stream (server shutdown)."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


async def stream(request: web.Request, log: EventLog) -> web.StreamResponse:
    """Serves `log` as `text/event-stream` from `Last-Event-ID` (or `?after=`) until closed."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    last = int(raw) if raw.isdigit() else 0
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    try:
        await response.write(b"retry: 1000\n\n")
        while not log.closed:
            events = await log.wait_after(last, KEEP_ALIVE_SECONDS)
            if not events:
                await response.write(b": keep-alive\n\n")
            for event in events:
                await response.write(event.to_sse())
                last = event.id
    except ConnectionResetError:
        logger.debug("Sandbox: an event stream reader left")
    return response
