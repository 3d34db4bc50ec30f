"""The aiohttp transport behind the client, and the client's fast path for POSTs, on the sandbox."""

import contextlib
import dataclasses
from typing import Any, AsyncIterator, List

import httpx
import pytest

from rasa_chattigo._transport import AiohttpTransport
from rasa_chattigo.client import ChattigoClient
from rasa_chattigo.credentials import provider_from_settings
from rasa_chattigo.errors import ChattigoError, RateLimited, ServerError, TransportError
from rasa_chattigo.outbound import OutboundRequest, SendContext, build_requests
from rasa_chattigo.settings import parse_settings

from conftest import DID, PASSWORD, USERNAME, channel_settings, free_port, text_send


def client(**kwargs):
    return httpx.AsyncClient(transport=AiohttpTransport(), **kwargs)


async def test_answers_match_httpx_own_transport(sandbox):
    login = {"username": USERNAME, "password": PASSWORD}
    async with client() as ours, httpx.AsyncClient() as theirs:
        mine = await ours.post(f"{sandbox.url}/login", json=login)
        plain = await theirs.post(f"{sandbox.url}/login", json=login)
        refused = await ours.post(f"{sandbox.url}/login", json={"username": "x", "password": "y"})
    assert (mine.status_code, sorted(mine.json())) == (plain.status_code, sorted(plain.json()))
    assert mine.headers["content-type"] == plain.headers["content-type"]
    assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized")


async def test_a_send_with_headers_and_an_empty_answer(client_token_sandbox):
    url, token = client_token_sandbox
    async with client() as http:
        answer = await http.post(f"{url}/webhooks/inbound", json=text_send("t-1"),
                                 headers={"Authorization": f"Bearer {token}"})
    assert (answer.status_code, answer.content) == (200, b"")


async def test_a_refused_connection_is_an_httpx_connect_error():
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")


async def test_a_stalled_answer_is_an_httpx_read_timeout(client_token_sandbox, sandbox):
    url, token = client_token_sandbox
    async with httpx.AsyncClient() as http:
        await http.post(f"{url}/sandbox/faults", json={"mode": "stall", "count": 1,
                                                       "stall_seconds": 1.0})
    async with client(timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{url}/webhooks/inbound", json=text_send("t-2"),
                            headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def client_token_sandbox(sandbox):
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sandbox.url}/login",
                                 json={"username": USERNAME, "password": PASSWORD})
    return sandbox.url, answer.json()["access_token"]


@pytest.mark.parametrize("mode, error", [("429", RateLimited), ("500", ServerError)])
async def test_a_reply_through_the_fast_path_reads_refusals_as_the_httpx_path_does(
        sandbox, mode, error):
    async with httpx.AsyncClient() as http:
        await http.post(f"{sandbox.url}/sandbox/faults", json={"mode": mode, "count": 2,
                                                               "retry_after": 7})
    chattigo = ChattigoClient(parse_settings(channel_settings(base_url=sandbox.url,
                                                              max_attempts=1)),
                              provider_from_settings(parse_settings(channel_settings())))
    request = text_request("fast-1")
    with pytest.raises(error) as fast:
        await chattigo.send(DID, request)  # the client's own transport: `post_json`
    assert chattigo._direct is not None
    chattigo._direct = None  # the same through httpx's request machinery
    with pytest.raises(error) as slow:
        await chattigo.send(DID, request)
    await chattigo.aclose()
    assert (fast.value.status, str(fast.value)) == (slow.value.status, str(slow.value))
    assert getattr(fast.value, "retry_after", None) == getattr(slow.value, "retry_after", None)


async def test_a_reply_through_the_fast_path_arrives_as_sent(sandbox):
    async with fast_client(sandbox.url) as chattigo:
        await chattigo.send(DID, text_request("fast-2", "¿Qué tal? ñandú 👋"))
    [sent] = sandbox.state.select(direction="out")
    assert sent.payload["content"] == "¿Qué tal? ñandú 👋"


async def test_a_stalled_answer_to_the_fast_path_is_a_transport_error(sandbox):
    async with httpx.AsyncClient() as http:
        await http.post(f"{sandbox.url}/sandbox/faults", json={"mode": "stall", "count": 1,
                                                               "stall_seconds": 1.0})
    async with fast_client(sandbox.url, timeout=0.3) as chattigo:
        with pytest.raises(TransportError, match="ReadTimeout"):
            await chattigo.send(DID, text_request("fast-3"))


async def test_a_refused_connection_on_the_fast_path_is_a_transport_error():
    async with fast_client(f"http://127.0.0.1:{free_port()}") as chattigo:
        with pytest.raises(TransportError, match="ConnectError"):
            await chattigo.send(DID, text_request("fast-4"))


async def test_a_body_that_is_not_json_is_refused_for_good_on_both_paths(sandbox):
    request = dataclasses.replace(text_request("fast-5"), json={"content": float("nan")})
    async with fast_client(sandbox.url) as chattigo:
        with pytest.raises(ChattigoError, match="ValueError"):
            await chattigo.send(DID, request)
        chattigo._direct = None
        with pytest.raises(ChattigoError, match="ValueError"):
            await chattigo.send(DID, request)
    assert sandbox.state.select(direction="out") == []


async def test_hooks_on_the_http_client_still_see_every_request(sandbox):
    seen: List[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with fast_client(sandbox.url) as chattigo:
        chattigo.http.event_hooks["request"].append(hook)
        await chattigo.send(DID, text_request("fast-6"))
    assert seen == ["/login", "/webhooks/inbound"]


@contextlib.asynccontextmanager
async def fast_client(url: str, **settings: Any) -> AsyncIterator[ChattigoClient]:
    """A client with its own HTTP client (the fast path), closed afterwards."""
    parsed = parse_settings(channel_settings(base_url=url, max_attempts=1, **settings))
    chattigo = ChattigoClient(parsed, provider_from_settings(parsed))
    try:
        yield chattigo
    finally:
        await chattigo.aclose()


def text_request(message_id: str, text: str = "hola") -> OutboundRequest:
    context = SendContext(did=DID, msisdn="5491100000321", bot_name="Aynux", channel="WHATSAPP",
                          text_limit=4096)
    [request] = build_requests({"text": text}, context, parse_settings(channel_settings()))
    return dataclasses.replace(request, message_id=message_id)
