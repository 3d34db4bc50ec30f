"""The webhook front with a stand-in for Rasa's agent (every Rasa flavour): what reaches the
bot, the front's process, and shutdown (real Sanic app, real front process)."""

import asyncio
import json
import socket
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Tuple

import httpx
import pytest
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
from rasa_chattigo.compat import sanic_api
from rasa_chattigo.errors import ChattigoStartupError
from rasa_chattigo.front._serve import front_app

from conftest import (
    DID,
    PASSWORD,
    Collector,
    channel_settings,
    free_port,
    load_fixture,
    serve_sanic,
)


@asynccontextmanager
async def fronted(on_new_message: Any, **settings: Any) -> AsyncIterator[Tuple[ChattigoInput, str]]:
    """The channel with a front behind a real Sanic server; the front's webhook URL."""
    channel = ChattigoInput.from_credentials(channel_settings(
        **{"front_port": free_port(), "front_host": "127.0.0.1", **settings}))
    app = Sanic(f"test_front_{id(channel)}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
    async with serve_sanic(app):
        assert channel.front is not None and channel.front.url is not None
        yield channel, channel.front.url


async def post(url: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, content=json.dumps(body),
                               headers={"Content-Type": "application/json"})


async def test_the_bot_gets_the_message_the_channel_route_would_give_it(collector: Any) -> None:
    body = load_fixture("inbound", "guide_text")
    async with fronted(collector, ack="inline") as (_, url):
        answer = await post(url, body)
        direct = Collector()
        app = Sanic(f"test_route_{id(direct)}", configure_logging=False)
        route = ChattigoInput.from_credentials(channel_settings(ack="inline"))
        app.blueprint(route.blueprint(direct), url_prefix="/webhooks/chattigo")
        async with serve_sanic(app) as base:
            await post(base + "/webhooks/chattigo/webhook", body)
    assert answer.json() == {"status": "ok", "messages": 1, "duplicates": 0, "statuses": 0,
                             "ignored": 0, "problems": []}
    [through_front], [through_route] = collector.messages, direct.messages
    for field in ("text", "sender_id", "input_channel", "message_id", "metadata"):
        assert getattr(through_front, field) == getattr(through_route, field), field
    assert isinstance(through_front.output_channel, ChattigoOutput)


async def test_a_message_for_another_business_number_is_refused_by_the_front(
    collector: Any,
) -> None:
    text = json.dumps(load_fixture("inbound", "guide_text"))
    body = json.loads(text.replace(DID, "5491100000000"))
    async with fronted(collector) as (_, url):
        answer = await post(url, body)
    assert answer.status_code == 403
    assert collector.messages == []


async def test_the_front_answers_its_health_check_and_exits_with_the_server(collector: Any) -> None:
    async with fronted(collector) as (channel, url):
        async with httpx.AsyncClient() as http:
            health = await http.get(url.rsplit("/", 1)[0] + "/")
        process = channel.front._process
    assert health.json() == {"status": "ok", "front": True}
    assert process is not None and process.returncode == 0


async def test_no_secret_is_on_the_front_command_line(collector: Any) -> None:
    async with fronted(collector, webhook_token="s3cr3t-webhook-token") as (channel, _):
        pid = channel.front._process.pid
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().decode()
    assert PASSWORD not in argv and "s3cr3t-webhook-token" not in argv
    assert "rasa_chattigo.front" in argv


async def test_a_message_cut_short_by_shutdown_is_answered_after_the_next_start(
    collector: Any, tmp_path: Any,
) -> None:
    started = asyncio.Event()

    async def stuck(message: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    port = free_port()
    inbox = str(tmp_path / "front" / "inbox.db")
    async with fronted(stuck, front_port=port, inbox_path=inbox, shutdown_grace_seconds=0.2,
                       delivery_lease_seconds=60) as (_, url):
        answer = await post(url, load_fixture("inbound", "guide_text"))
        assert answer.status_code == 200
        await asyncio.wait_for(started.wait(), 30)
    async with fronted(collector, front_port=port, inbox_path=inbox):
        for _ in range(300):
            if collector.messages:
                break
            await asyncio.sleep(0.05)
    assert [m.message_id for m in collector.messages] == ["wamid.HBgNNTQ5MjY0NDQ3MjU0MhUCABI..."]


def test_a_port_in_use_stops_start_up_naming_front_port() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ChattigoStartupError, match="setting 'front_port': cannot listen on"):
            ChattigoInput.from_credentials(channel_settings(
                front_port=taken.getsockname()[1], front_host="127.0.0.1"))
    finally:
        taken.close()


async def test_an_inline_webhook_waiting_at_shutdown_is_answered_503(tmp_path: Any) -> None:
    started = asyncio.Event()

    async def stuck(message: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    async with fronted(stuck, ack="inline", shutdown_grace_seconds=0.2,
                       inbox_path=str(tmp_path / "inline" / "inbox.db")) as (_, url):
        waiting = asyncio.ensure_future(post(url, load_fixture("inbound", "guide_text")))
        await asyncio.wait_for(started.wait(), 30)
    answer = await asyncio.wait_for(waiting, 30)
    assert answer.status_code == 503
    assert "redeliver" in answer.json()["reason"]


#: Heads Sanic 21.12 would answer 500, spin on or misread unless refused first, as on the
#: channel's route (tests/test_attacks.py), each with the body it frames: for a chunked one, a
#: chunked webhook a lax server would take.
HOSTILE_HEADS = {
    "negative length": ("Content-Length: -1\r\n", False),
    "length in exponent form": ("Content-Length: 1e3\r\n", False),
    "5,000-digit length": ("Content-Length: " + "1" * 5000 + "\r\n", False),
    "two different lengths": ("Content-Length: 7\r\nContent-Length: 3\r\n", False),
    "another encoding": ("Transfer-Encoding: gzip, chunked\r\n", True),
    "chunked twice": ("Transfer-Encoding: chunked, chunked\r\n", True),
    "Kelvin sign in chunked": ("Transfer-Encoding: chun\u212aed\r\n", True),
    "a length and chunked": ("Content-Length: 7\r\nTransfer-Encoding: chunked\r\n", True),
    "space before the colon": ("Transfer-Encoding : chunked\r\n", True),
    "bare LF in a value": ("X-A: b\nTransfer-Encoding: chunked\r\n", True),
}


async def exchange(url: str, request: bytes) -> bytes:
    """The status line of the answer to raw `request`; the front must close the connection
    after it (else this times out)."""
    host, port = url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 10)  # to the end: the front closed
    finally:
        writer.close()
    return answer.split(b"\r\n", 1)[0]


async def test_the_front_refuses_a_body_length_sanic_would_mishandle(collector: Any) -> None:
    body = json.dumps(load_fixture("inbound", "guide_text")).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    async with fronted(collector, ack="inline") as (_, url):
        path = "/" + url.split("/", 3)[3]
        answers = {name: await exchange(url, f"POST {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n"
                                        .encode() + (chunked if is_chunked else body))
                   for name, (extra, is_chunked) in HOSTILE_HEADS.items()}
        accepted = await exchange(url, f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                  "Chunked\r\nConnection: close\r\n\r\n".encode() + chunked)
        async with httpx.AsyncClient(timeout=5) as http:
            health = await http.get(url.rsplit("/", 1)[0] + "/")
    assert answers == {name: b"HTTP/1.1 400 Bad Request" for name in HOSTILE_HEADS}
    assert accepted == b"HTTP/1.1 200 OK" and health.status_code == 200
    assert len(collector.messages) == 1


async def test_the_front_checks_heads_in_its_request_class_not_a_lifecycle_signal() -> None:
    # Any `http.lifecycle` signal keeps every dispatch of that namespace in Sanic 21.12's
    # request handling: the cost the request class saves (sanic_api.GuardedRequest).
    app = front_app(None)  # type: ignore[arg-type] - the routes are only registered here
    app.signalize()
    lifecycle = [route.path for route in app.signal_router.routes
                 if route.path.startswith("http.lifecycle")]
    assert (app.request_class, lifecycle) == (sanic_api.GuardedRequest, [])
