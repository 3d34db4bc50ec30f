"""Sanic: what differs between Sanic 21.12 (Rasa 3.6) and Sanic 25 (Rasa Pro)."""

import asyncio
import socket
import warnings
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Optional

from sanic import Blueprint, Sanic, exceptions, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_chattigo.compat.http_head import head_problem
from rasa_chattigo.errors import InvalidPayload, WebhookRejected

#: Sanic 21.12 calls it InvalidUsage; newer Sanic BadRequest (keeping the old name too).
BadRequest = getattr(exceptions, "BadRequest", None) or exceptions.InvalidUsage


def json_response(
    body: Dict[str, Any], status: int = 200, headers: Optional[Dict[str, str]] = None
) -> HTTPResponse:
    """A JSON answer."""
    return response.json(body, status=status, headers=headers)


def refuse_body(request: Request) -> None:
    """Answers without reading the rest of the body, and closes the connection afterwards.

    Sanic otherwise reads and discards what is left of the body after the handler answered
    (up to 100 MB), and Sanic 21.12 spins for ever doing so when Content-Length is negative.
    """
    stream = getattr(request, "stream", None)
    if stream is None:
        return
    if hasattr(stream, "request_body"):
        stream.request_body = None
    if hasattr(stream, "keep_alive"):
        stream.keep_alive = False


def guard_content_length(blueprint: Blueprint) -> None:
    """Refuses a request whose body length Sanic would mishandle, on every route: a
    Content-Length that is not a non-negative integer (or has more than 100 digits), two
    different ones, a Transfer-Encoding other than chunked, both headers at once, chunked in
    HTTP/1.0, a header name that is not a token, a control character in a value, or a framing
    value that Sanic and a proxy would read apart (`compat.http_head`).

    Before any route or middleware runs, Sanic 21.12 answers 500 to `Content-Length: 1e3` and
    to a Transfer-Encoding other than exactly `chunked` (`Chunked`, `gzip, chunked`), loops for
    ever on `Content-Length: -1`, and reads a body with both headers as chunked, where RFC 9112
    asks to refuse it (a proxy that trusts the length would take the rest for another
    request). Sanic 25 refuses them all itself, `Chunked` included. A `http.lifecycle.request`
    signal runs as soon as the head is read (a blueprint's signal runs for the whole app);
    raising there makes Sanic answer 400 and close the connection without reading a body.
    `Chunked` is accepted, spelt as Sanic expects. An app of our own (`new_app`) makes the
    same checks in its request class instead.
    """

    async def check_head(request: Request, **_: Any) -> None:
        _check_head(request.headers, request.version, request.head)

    blueprint.signal("http.lifecycle.request")(check_head)


class GuardedRequest(Request):
    """A request that makes the checks of `guard_content_length` as Sanic makes it, at the
    point where the signal would run (the head read, the body not yet).

    A signal costs more: any signal of `http.lifecycle` keeps every dispatch of that namespace
    in Sanic 21.12's request handling (its start-up rewrite removes only those no signal
    listens to), 7.7 % of the webhook front's CPU in a profile (docs/benchmarks.md).
    """

    __slots__ = ()

    def __init__(self, url_bytes: bytes, headers: Any, version: str, *args: Any,
                 **kwargs: Any) -> None:
        _check_head(headers, version, kwargs.get("head", b""))
        super().__init__(url_bytes, headers, version, *args, **kwargs)


def _check_head(headers: Any, version: str, head: bytes) -> None:
    """Raises BadRequest for a head whose body Sanic would mishandle (`http_head`); spells
    `chunked` as Sanic expects. `head`: the head's bytes as received (Sanic 21.12 and 25 keep
    them)."""
    problem = head_problem(headers, version, head)
    if problem is not None:
        raise BadRequest(problem)
    if "transfer-encoding" in headers:
        headers["transfer-encoding"] = "chunked"


def request_peer_ip(request: Request) -> str:
    """The socket peer's address (never a forwarded header; that is the guard's decision)."""
    return str(request.conn_info.client_ip if request.conn_info else request.ip)


def request_query(request: Request) -> Dict[str, Any]:
    """The query string as a dict of lists."""
    return {key: list(values) for key, values in request.args.items()}


@asynccontextmanager
async def serve_sanic(app: Sanic, host: str = "127.0.0.1",
                      sock: Optional[socket.socket] = None) -> AsyncIterator[str]:
    """Serves `app` inside the running loop, on `sock` (bound) or a free port of `host`;
    yields its base URL.

    The real server, with its start and stop listeners, always stopped: for the webhook
    front, tests and benchmarks. (Sanic 21.12 ignores `port=0`, so the socket is bound here.)
    """
    # Sanic 21.12 refuses to start a second app in one process outside test mode.
    Sanic.test_mode = True
    # Sanic 25 makes the serving loop the thread's current one (on every connection); put back
    # the one that was current, or an idle loop set there (pytest-asyncio's) is left unclosed.
    previous = _current_loop()
    if sock is None:
        sock = socket.socket()
        sock.bind((host, 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield local_url(sock)
    finally:
        await server.before_stop()
        server.close()
        await _close_connections(server.connections)
        await server.wait_closed()
        await server.after_stop()
        sock.close()
        if previous is not None:
            asyncio.set_event_loop(previous)


def local_url(sock: socket.socket) -> str:
    """The base URL a caller on this host reaches the server listening on `sock` at."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - the URL to call
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def _current_loop() -> Optional[asyncio.AbstractEventLoop]:
    """The thread's current event loop (not the running one), without making one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None


async def _close_connections(connections: Any, grace: float = 5.0) -> None:
    """Closes the server's connections as Sanic's own runner does on stop: idle ones at once,
    busy ones after `grace` seconds. Waits until each has closed, so no transport or connection
    task outlives the server (Sanic 25 leaves them to the loop otherwise, and Python 3.12's
    `wait_closed` waits for them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    for connection in list(connections):
        connection.close_if_idle()
    while connections and loop.time() < deadline:
        await asyncio.sleep(0.01)
    for connection in list(connections):
        connection.abort()
    while connections:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the closed connections' tasks finish their cancellation


async def read_body(request: Request, limit: int) -> bytes:
    """The body of a `stream=True` route, read up to `limit + 1` bytes: enough to tell it is
    too large without buffering all of it.

    Sanic times such a body by its response timeout (an hour under `rasa run`), so a client
    that stops sending it would hold its connection that long: each of Sanic's reads of it is
    bounded by the app's `REQUEST_TIMEOUT` (60 s by default), Sanic's bound on the head. (A
    chunked read takes a chunk's size line and its first bytes, so a chunked body trickling in
    a byte at a time, slower than one byte per eighth of that, is cut too.) A chunked body
    closes the connection after the answer.

    Raises:
        InvalidPayload: bad chunked encoding.
        WebhookRejected: 408, the body stalled (the connection is closed after the answer).
    """
    stream = request.stream
    timeout = float(request.app.config.REQUEST_TIMEOUT)
    if getattr(stream, "request_body", None) == "chunked":
        # Sanic reads chunk sizes loosely (`0x7`, `+7`, any Unicode digit) and 21.12 reads
        # what follows the last chunk as the next request: the connection closes after the
        # answer, so nothing a proxy framed otherwise is read as a request.
        stream.keep_alive = False  # type: ignore[union-attr]
    chunks, size = [], 0
    while size <= limit:
        read = stream.read()  # type: ignore[union-attr]
        try:
            # Already received: no timer (wait_for would cost a task and a turn of the loop).
            chunk = await (read if _buffered(stream) else asyncio.wait_for(read, timeout))
        except BadRequest:  # a chunk size that is not one: the body cannot be read
            raise InvalidPayload("body", "bad chunked encoding") from None
        except asyncio.TimeoutError:
            refuse_body(request)
            raise WebhookRejected(408, f"the body did not arrive within {timeout:g} s") from None
        if chunk is None:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _buffered(stream: Any) -> bool:
    """Whether the next read of a Content-Length body returns without waiting for the network
    (Sanic 21.12 and 25 keep what they received in `recv_buffer`)."""
    return getattr(stream, "request_body", None) is True and bool(
        getattr(stream, "recv_buffer", None) or not getattr(stream, "request_bytes_left", 1))


def new_app(name: str) -> Sanic:
    """A Sanic app of our own: it leaves logging as the process set it up, and refuses on
    every route what `guard_content_length` refuses (`GuardedRequest`)."""
    return Sanic(name, configure_logging=False, request_class=GuardedRequest)


def new_blueprint(name: str) -> Blueprint:
    """A Sanic blueprint."""
    return Blueprint(name)


def add_listener(bp: Blueprint, event: str, callback: Callable[[Sanic], Awaitable[None]]) -> None:
    """Runs `callback(app)` on a server event such as `before_server_stop`.

    Sanic 21.12 calls listeners with `(app, loop)`; Sanic 25 calls them with `(app)` and warns
    that two-argument listeners stop working in 26.6. A listener taking `(app, *loop)` suits both.
    """

    async def listener(app: Sanic, *_loop: Any) -> None:
        await callback(app)

    bp.listener(event)(listener)
