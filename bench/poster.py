"""Posts webhooks as a sender on another machine would, and times each answer by the kernel.

The load generator shares the machine's two cores with the servers it measures. While its own
event loop is busy (50 users and the reply watcher), an aiohttp request has its body written late
(aiohttp writes the headers and the body apart) and its answer read late, and both delays used to
count in the acknowledgement time. A capture of the front's port in the ninth session put the
server's own answer, from the request's last packet to the answer's, at 44 ms at most in a run
whose generator measured a p99 of 122 ms. Chattigo's servers are not on our cores. A `Poster`
writes each request in one `send` and takes the answer's arrival from the kernel
(`SO_TIMESTAMPNS`: when its packet reached this socket), so the time it gives is the server's and
the network's. It also gives when the generator's loop got to the answer, as before.
"""

import asyncio
import socket
import struct
import time
from dataclasses import dataclass
from typing import Optional, Tuple
from urllib.parse import urlsplit

#: Linux's `SO_TIMESTAMPNS` (and its control message's type), which Python does not name.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@ll")
_READ_SIZE = 65536


class PostFailed(Exception):
    """The server closed the connection or answered something that is not HTTP/1.1."""


@dataclass(frozen=True)
class Answer:
    """One answered post.

    Attributes:
        status: the HTTP status.
        seconds: request sent to the answer's arrival at this socket (the kernel's time stamp;
            the generator's own clock where the kernel gives none).
        seen_seconds: request sent to the generator's loop having read the whole answer.
    """

    status: int
    seconds: float
    seen_seconds: float


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
        """Posts `body` and waits for the whole answer.

        Raises:
            PostFailed: the connection closed before the answer, or the answer is not one.
            OSError: connecting or sending failed.
        """
        sock = await self._connected()
        loop = asyncio.get_running_loop()
        request = f"{self._head}{len(body)}\r\n\r\n".encode("ascii") + body
        sent = time.time()
        await loop.sock_sendall(sock, request)
        try:
            status, arrived, keep = await self._answer(sock)
        except BaseException:
            self.close()
            raise
        seen = time.time()
        if not keep:
            self.close()
        return Answer(status, (arrived or seen) - sent, seen - sent)

    def close(self) -> None:
        """Closes the connection (the next post opens another)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _connected(self) -> socket.socket:
        if self._sock is not None and not _closed_by_peer(self._sock):
            return self._sock
        self.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            except OSError:
                pass  # no kernel time stamps here: the generator's clock stands in
            await asyncio.get_running_loop().sock_connect(sock, self._address)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock

    async def _answer(self, sock: socket.socket) -> Tuple[int, Optional[float], bool]:
        """The answer's status, the kernel's time stamp of its first bytes, and whether the
        connection stays open."""
        buffer, arrived = b"", None
        while b"\r\n\r\n" not in buffer:
            data, stamp = await _receive(sock)
            arrived = arrived or stamp
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ")
        if len(status_line) < 2 or status_line[0] != "HTTP/1.1" or not status_line[1].isdigit():
            raise PostFailed(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
        headers = {name.strip().lower(): value.strip() for name, _, value in
                   (line.partition(":") for line in lines[1:])}
        if "content-length" not in headers:
            raise PostFailed("the answer has no Content-Length (chunked answers not read)")
        length = int(headers["content-length"])
        while len(rest) < length:
            data, _ = await _receive(sock)
            rest += data
        keep = headers.get("connection", "keep-alive").lower() != "close"
        return int(status_line[1]), arrived, keep


async def _receive(sock: socket.socket) -> Tuple[bytes, Optional[float]]:
    """The bytes ready on `sock` once it is readable, with the kernel's time stamp, if any."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, ancillary, _, _ = sock.recvmsg(_READ_SIZE, socket.CMSG_SPACE(_TIMESPEC.size))
        except BlockingIOError:
            await _readable(loop, sock)
            continue
        if not data:
            raise PostFailed("the server closed the connection before answering")
        return data, _stamp(ancillary)


def _stamp(ancillary: list) -> Optional[float]:
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(value[:_TIMESPEC.size])
            return seconds + nanoseconds / 1e9
    return None


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server closed an idle connection (its keep-alive ran out)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
