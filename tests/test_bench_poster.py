"""`bench.poster`: each webhook in one write over a keep-alive connection, its answer timed by
the kernel's receive time stamp, not by when the generator's busy loop read it."""

import asyncio
import socket
import sys
import threading
import time
from typing import Awaitable, Callable, List, Optional

import pytest

from bench.poster import Answer, Poster, PostFailed

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="kernel receive time stamps (SO_TIMESTAMPNS) are Linux's")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A raw HTTP/1.1 server on 127.0.0.1 that records each request as one read saw it."""

    def __init__(self, answer: bytes = b"", delay: float = 0.0, close_after: int = 0,
                 handler: Optional[Handler] = None) -> None:
        self.answer = answer or _answer(b'{"ok":true}')
        self.delay = delay
        self.close_after = close_after  # close each connection after this many answers
        self.reads: List[bytes] = []
        self.connections = 0
        self._handler = handler or self._serve
        self._tasks: List[asyncio.Task[None]] = []
        self._server: Optional[asyncio.AbstractServer] = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._track, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/webhooks/chattigo/webhook"

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        self.connections += 1
        await self._handler(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                self.reads.append(data)
                await asyncio.sleep(self.delay)
                writer.write(self.answer)
                await writer.drain()
                answered += 1
                if answered == self.close_after:
                    return
        finally:
            writer.close()


def _answer(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def test_a_post_is_one_write_and_the_connection_is_kept():
    server = Server()
    async with server as url:
        poster = Poster(url)
        try:
            first = await poster.post(b'{"n":1}')
            second = await poster.post(b'{"n":2}')
        finally:
            poster.close()
    assert (first.status, second.status) == (200, 200)
    assert server.connections == 1
    assert [read.split(b"\r\n")[0] for read in server.reads] == [
        b"POST /webhooks/chattigo/webhook HTTP/1.1"] * 2
    assert [read.endswith(body) for read, body in zip(server.reads, (b'{"n":1}', b'{"n":2}'))
            ] == [True, True]
    assert b"Content-Length: 7\r\n" in server.reads[0]


async def test_the_answer_time_excludes_the_generators_busy_loop():
    """The server (a thread) blocks the generator's loop for 400 ms once it has the request,
    and answers 50 ms later: the kernel's stamp says about 50 ms, the loop read it after 400."""
    loop = asyncio.get_running_loop()

    def busy_loop() -> None:
        loop.call_soon_threadsafe(time.sleep, 0.4)  # the generator's loop, busy elsewhere

    answer = await _post_to_a_thread(busy_loop, 0.05)
    assert (answer.status, answer.stamped) == (200, True)
    assert 0.04 <= answer.seconds < 0.3
    assert answer.seen_seconds >= 0.4


async def test_an_answer_in_two_pieces_is_timed_by_its_last():
    head, body = _answer(b'{"ok":true}').split(b"\r\n\r\n")
    answer = await _post_to_a_thread(lambda: None, 0.0, [head + b"\r\n\r\n", body], 0.1)
    assert (answer.status, answer.stamped) == (200, True)
    assert answer.seconds >= 0.1


async def _post_to_a_thread(on_request: Callable[[], None], delay: float,
                            pieces: Optional[List[bytes]] = None, gap: float = 0.0) -> Answer:
    """One post to a server thread answering it once (`_answer_once`)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        thread = threading.Thread(target=_answer_once,
                                  args=(listener, on_request, delay, pieces, gap), daemon=True)
        thread.start()
        poster = Poster(f"http://127.0.0.1:{port}/webhook")
        try:
            return await poster.post(b'{"n":1}')
        finally:
            poster.close()
            thread.join(5)


def _answer_once(listener: socket.socket, on_request: Callable[[], None], delay: float,
                 pieces: Optional[List[bytes]] = None, gap: float = 0.0) -> None:
    connection, _ = listener.accept()
    with connection:
        connection.recv(65536)
        on_request()
        time.sleep(delay)
        for number, piece in enumerate(pieces or [_answer(b"{}")]):
            if number:
                time.sleep(gap)
            connection.sendall(piece)


async def test_a_cancelled_post_closes_its_connection():
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(60)

    async with Server(handler=never_answer) as url:
        poster = Poster(url)
        posting = asyncio.ensure_future(poster.post(b"{}"))
        await asyncio.sleep(0.05)
        posting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await posting
        assert poster._sock is None


async def test_what_a_closed_connection_left_unread_is_not_taken_for_the_next_answer():
    """After its answer, the server writes a 408 of its own and closes: the next post must
    not read that 408 as its answer."""
    async def answer_then_time_out(reader: asyncio.StreamReader,
                                   writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(_answer(b"{}"))
        await asyncio.sleep(0.05)  # the client has read its answer by now
        writer.write(_answer(b"{}", status="408 Request Timeout"))
        await writer.drain()
        writer.close()

    server = Server(handler=answer_then_time_out)
    async with server as url:
        poster = Poster(url)
        try:
            first = await poster.post(b"{}")
            await asyncio.sleep(0.2)
            second = await poster.post(b"{}")
        finally:
            poster.close()
    assert (first.status, second.status) == (200, 200)
    assert server.connections == 2


async def test_a_kept_connection_closed_as_the_post_goes_out_is_posted_again_once():
    """The server's keep-alive runs out as the second post arrives: it reads it and closes
    without an answer. The post goes again on a new connection."""
    connections: List[int] = []

    async def close_the_second(reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        first = len(connections) == 1
        try:
            for number in range(2 if first else 1):
                await reader.read(65536)
                if first and number == 1:
                    return  # closes without answering
                writer.write(_answer(b"{}"))
                await writer.drain()
        finally:
            writer.close()

    async with Server(handler=close_the_second) as url:
        poster = Poster(url)
        try:
            answers = [await poster.post(b"{}") for _ in range(2)]
        finally:
            poster.close()
    assert [answer.status for answer in answers] == [200, 200]
    assert len(connections) == 2


async def test_a_connection_the_server_closed_is_opened_again():
    server = Server(close_after=1)
    async with server as url:
        poster = Poster(url)
        try:
            statuses = [(await poster.post(b"{}")).status for _ in range(3)]
        finally:
            poster.close()
    assert statuses == [200, 200, 200]
    assert server.connections == 3


async def test_an_answer_asking_to_close_closes_the_connection():
    server = Server(answer=_answer(b"{}", extra="Connection: close\r\n"))
    async with server as url:
        poster = Poster(url)
        try:
            await poster.post(b"{}")
            await poster.post(b"{}")
        finally:
            poster.close()
    assert server.connections == 2


async def test_an_error_status_is_returned_with_its_body_read():
    async with Server(answer=_answer(b'{"error":"no"}', status="503 Service Unavailable")) as url:
        poster = Poster(url)
        try:
            answers = [await poster.post(b"{}") for _ in range(2)]
        finally:
            poster.close()
    assert [answer.status for answer in answers] == [503, 503]


@pytest.mark.parametrize("answer, problem", [
    (b"", "closed the connection"),
    (b"SMTP ready\r\n\r\n", "not an HTTP/1.1 answer"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "no Content-Length"),
])
async def test_what_is_not_an_answer_fails_the_post(answer, problem):
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async with Server(handler=close_at_once) as url:
        poster = Poster(url)
        try:
            with pytest.raises(PostFailed, match=problem):
                await poster.post(b"{}")
        finally:
            poster.close()


@pytest.mark.parametrize("url", ["https://127.0.0.1:1/x", "http://127.0.0.1/x", "127.0.0.1:80"])
def test_only_plain_http_urls_with_a_port_are_taken(url):
    with pytest.raises(ValueError, match="url"):
        Poster(url)
