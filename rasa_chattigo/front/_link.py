"""The link between `rasa run` and its webhook front: one JSON object per line, over a socket
pair the parent made (nothing listens for it)."""

import asyncio
import json
import socket
from typing import Any, Dict, List, Optional

#: The longest line either side reads: a webhook body of the largest `max_body_bytes` a
#: message can come from, encoded again with its metadata, fits many times over.
LINE_LIMIT = 256 * 1024 * 1024


class LinkClosed(Exception):
    """The other side went away (or sent what is not a line of JSON)."""


class Link:
    """One end of the link. `send` queues one object; `receive` waits for the next one.

    What is sent during one turn of the event loop goes out in one write at the next: a burst
    of webhooks costs the front one system call, not one per message.

    Args:
        reader: the stream's reading half.
        writer: the stream's writing half.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._queued: List[bytes] = []

    @classmethod
    async def open(cls, sock: socket.socket) -> "Link":
        """The link over `sock` (one end of a `socket.socketpair`), on the running loop."""
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=LINE_LIMIT)
        return cls(reader, writer)

    @property
    def closed(self) -> bool:
        """Whether this end was closed, or the other end is gone."""
        return self._writer.is_closing() or self._reader.at_eof()

    def send(self, op: str, **fields: Any) -> None:
        """Queues `{"op": op, **fields}`; a closed link drops it (the caller learns of the
        closing from `receive`)."""
        if self._writer.is_closing():
            return
        line = json.dumps({"op": op, **fields}, separators=(",", ":"), ensure_ascii=False)
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._flush)
        self._queued.append(line.encode() + b"\n")

    def _flush(self) -> None:
        lines, self._queued = self._queued, []
        if lines and not self._writer.is_closing():
            self._writer.write(b"".join(lines))

    async def receive(self) -> Optional[Dict[str, Any]]:
        """The next object; None once the other end closed the link.

        Raises:
            LinkClosed: the other end sent something that is not an object on one line.
        """
        try:
            line = await self._reader.readline()
        except (ValueError, ConnectionError) as exc:  # a line over LINE_LIMIT, a reset
            raise LinkClosed(f"the link broke: {type(exc).__name__}") from None
        if not line:
            return None
        try:
            received = json.loads(line)
        except ValueError:
            raise LinkClosed("the link carried a line that is not JSON") from None
        if not isinstance(received, dict) or not isinstance(received.get("op"), str):
            raise LinkClosed("the link carried a line that is not an operation")
        return received

    async def close(self) -> None:
        """Flushes what was sent and closes this end."""
        self._flush()
        if not self._writer.is_closing():
            try:
                await self._writer.drain()
            except ConnectionError:
                pass
            self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass
