"""Posts webhooks as a sender on another machine would, each answer timed by the kernel.

The load generator shares the cores with the servers it measures, so its own loop may write a
request late or read an answer late; Chattigo's servers would not. A `Poster` writes each
request in one `send` and takes the answer's arrival from the kernel's receive time stamp
(`SO_TIMESTAMPNS`), and gives when the generator's loop read it too (docs/benchmarks.md,
"Issue 17: the load generator's own delays").
"""

import asyncio
import socket
import struct
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

#: Linux's `SO_TIMESTAMPNS` (and its control message's type), which Python does not name.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@ll")
_READ_SIZE = 65536


class PostFailed(Exception):
    """The server closed the connection before answering, or answered something this poster
    does not read (not HTTP/1.1, no Content-Length)."""


@dataclass(frozen=True)
class Answer:
    """One answered post.

    Attributes:
        status: the HTTP status.
        seconds: request sent to the answer's last byte reaching this socket, by the kernel's
            time stamp (`seen_seconds` where the kernel gave none: see `stamped`).
        seen_seconds: request sent to the generator's loop having read the whole answer.
        stamped: whether `seconds` is the kernel's.
    """

    status: int
    seconds: float
    seen_seconds: float
    stamped: bool


class Poster:
    """One keep-alive HTTP/1.1 connection posting JSON bodies to one URL.

    Args:
        url: an `http://host:port/path` URL.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"url: needs http://host:port/path, got {url!r}")
        self._address = (parts.hostname, parts.port)
        self._head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      "Content-Type: application/json\r\nContent-Length: ")
        self._sock: Optional[socket.socket] = None

    async def post(self, body: bytes) -> Answer:
        """Posts `body` and waits for the whole answer. A kept connection the server closed
        meanwhile is replaced, and the post sent again once if it got no answer at all (the
        webhook's receiver drops a repeated message id).

        Raises:
            PostFailed: no answer, or one this poster does not read.
            OSError: connecting or sending failed.
        """
        request = f"{self._head}{len(body)}\r\n\r\n".encode("ascii") + body
        reused = self._sock is not None and _idle_and_open(self._sock)
        try:
            return await self._exchange(request)
        except _NoAnswer:
            if not reused:
                raise PostFailed("the server closed the connection before answering") from None
        try:
            return await self._exchange(request)
        except _NoAnswer:
            raise PostFailed("the server closed the connection before answering") from None

    def close(self) -> None:
        """Closes the connection (the next post opens another)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _exchange(self, request: bytes) -> Answer:
        sock = await self._connected()
        sent = time.time()
        try:
            await asyncio.get_running_loop().sock_sendall(sock, request)
            status, arrived, keep = await _answer(sock)
        except BaseException:
            self.close()
            raise
        seen = time.time()
        if not keep:
            self.close()
        stamped = arrived is not None and sent <= arrived <= seen
        return Answer(status, (arrived if stamped else seen) - sent, seen - sent, stamped)

    async def _connected(self) -> socket.socket:
        if self._sock is not None and _idle_and_open(self._sock):
            return self._sock
        self.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            except OSError:
                pass  # no kernel time stamps here: `Answer.stamped` says so
            await asyncio.get_running_loop().sock_connect(sock, self._address)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock


class _NoAnswer(Exception):
    """The connection closed before a byte of the answer came."""


async def _answer(sock: socket.socket) -> Tuple[int, Optional[float], bool]:
    """The answer's status, the kernel's time stamp of its last bytes, and whether the
    connection stays open."""
    buffer, arrived = b"", None
    while b"\r\n\r\n" not in buffer:
        data, stamp = await _receive(sock, first=not buffer)
        arrived = stamp or arrived
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ")
    if len(status_line) < 2 or status_line[0] != "HTTP/1.1" or not status_line[1].isdigit():
        raise PostFailed(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines[1:])}
    length = headers.get("content-length", "")
    if not length.isdigit():
        raise PostFailed("the answer has no Content-Length (chunked answers are not read)")
    while len(rest) < int(length):
        data, stamp = await _receive(sock, first=False)
        arrived = stamp or arrived
        rest += data
    keep = headers.get("connection", "keep-alive").lower() != "close"
    return int(status_line[1]), arrived, keep


async def _receive(sock: socket.socket, first: bool) -> Tuple[bytes, Optional[float]]:
    """The bytes ready on `sock` once it is readable, with the kernel's time stamp, if any.

    Raises:
        _NoAnswer: closed before the answer's `first` bytes.
        PostFailed: closed in the middle of the answer.
    """
    fd = sock.fileno()
    while True:
        try:
            data, ancillary, _, _ = sock.recvmsg(_READ_SIZE, socket.CMSG_SPACE(_TIMESPEC.size))
        except BlockingIOError:
            await _readable(fd)
            continue
        if data:
            return data, _stamp(ancillary)
        if first:
            raise _NoAnswer()
        raise PostFailed("the server closed the connection in the middle of its answer")


def _stamp(ancillary: List[Tuple[int, int, bytes]]) -> Optional[float]:
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(value[:_TIMESPEC.size])
            return seconds + nanoseconds / 1e9
    return None


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, _set_done, ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _set_done(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


def _idle_and_open(sock: socket.socket) -> bool:
    """Whether a kept connection has nothing waiting to be read and is still open: the server
    may have closed it (its keep-alive ran out), or written something before closing."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False
