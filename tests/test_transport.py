"""The aiohttp transport behind the client's httpx API, against the real sandbox."""

import httpx
import pytest

from rasa_chattigo._transport import AiohttpTransport

from conftest import PASSWORD, USERNAME, free_port, text_send


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
