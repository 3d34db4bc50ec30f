"""The Chattigo client against the real sandbox on 127.0.0.1: logins, retries, typed errors."""

import asyncio

import httpx
import pytest

from rasa_chattigo.client import ChattigoClient, Login
from rasa_chattigo.credentials._providers import InlineCredentials
from rasa_chattigo.errors import AuthenticationError, ChattigoAPIError, ServerError
from rasa_chattigo.outbound._build import SendContext, build_requests
from rasa_chattigo.settings import parse_settings

from conftest import DID, PASSWORD, USER, USERNAME, Clock


def make_client(sandbox, *, password=PASSWORD, clock=None, sleeps=None, **overrides):
    settings = parse_settings({"base_url": sandbox.url, "did": DID, "username": USERNAME,
                               "password": password, "backoff_seconds": 0.01, **overrides})
    credentials = InlineCredentials(Login(DID, USERNAME, password, "Aynux"))

    async def sleep(seconds):
        if sleeps is not None:
            sleeps.append(seconds)

    kwargs = {"sleep": sleep}
    if clock is not None:
        kwargs["clock"] = clock
    return ChattigoClient(settings, credentials, **kwargs)


def text(client, content, msisdn=USER):
    context = SendContext(did=DID, msisdn=msisdn, bot_name="Aynux")
    return build_requests({"text": content}, context, client.settings)[0]


async def test_a_text_arrives_in_chattigo_format(sandbox):
    client = make_client(sandbox)
    request = text(client, "Hola, soy Aynux")
    await client.send(DID, request)
    await client.aclose()
    [recorded] = sandbox.state.select(direction="out")
    assert recorded.payload == {
        "id": request.json["id"], "did": DID, "msisdn": USER, "type": "text",
        "channel": "WHATSAPP", "content": "Hola, soy Aynux", "name": "Aynux",
        "isAttachment": False,
    }


async def test_hundred_concurrent_replies_share_one_login(sandbox):
    client = make_client(sandbox)
    requests = [text(client, f"respuesta {n}", msisdn=f"54911{n:08d}") for n in range(100)]
    await asyncio.gather(*(client.send(DID, r) for r in requests))
    await client.aclose()
    assert sandbox.state.stats.logins == 1
    assert client.logins == 1
    assert sandbox.state.stats.accepted == 100
    assert sandbox.state.stats.duplicate_ids == 0


async def test_token_is_refreshed_before_eight_hours_run_out(sandbox):
    clock = Clock()
    client = make_client(sandbox, clock=clock)
    await client.send(DID, text(client, "uno"))
    clock.now += 7 * 3600 - 1
    await client.send(DID, text(client, "dos"))
    assert sandbox.state.stats.logins == 1
    clock.now += 2
    await client.send(DID, text(client, "tres"))
    await client.aclose()
    assert sandbox.state.stats.logins == 2


async def test_expired_tokens_cost_one_login_for_many_concurrent_sends(sandbox):
    client = make_client(sandbox)
    await client.send(DID, text(client, "antes"))
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{sandbox.url}/sandbox/tokens/expire")).status_code == 200
    await asyncio.gather(*(client.send(DID, text(client, f"despues {n}")) for n in range(20)))
    await client.aclose()
    assert sandbox.state.stats.logins == 2
    assert sandbox.state.stats.accepted == 21


async def test_a_wrong_password_is_an_authentication_error_without_the_password(sandbox):
    client = make_client(sandbox, password="not-the-password")
    with pytest.raises(AuthenticationError) as caught:
        await client.send(DID, text(client, "hola"))
    await client.aclose()
    assert caught.value.status == 401
    assert "not-the-password" not in str(caught.value)


async def fault(sandbox, **body):
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sandbox.url}/sandbox/faults", json=body)
        assert answer.status_code == 200, answer.text


async def test_server_errors_are_retried_with_the_same_id(sandbox):
    sleeps = []
    client = make_client(sandbox, sleeps=sleeps)
    await fault(sandbox, mode="500", count=2)
    request = text(client, "reintento")
    await client.send(DID, request)
    await client.aclose()
    [recorded] = sandbox.state.select(direction="out")
    assert recorded.message_id == request.json["id"]
    assert sandbox.state.stats.faults_injected == 2
    assert len(sleeps) == 2
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02  # exponential, jittered


async def test_429_waits_what_retry_after_says(sandbox):
    sleeps = []
    client = make_client(sandbox, sleeps=sleeps)
    await fault(sandbox, mode="429", count=1, retry_after=1.5)
    await client.send(DID, text(client, "espera"))
    await client.aclose()
    assert sleeps == [1.5]
    assert sandbox.state.stats.accepted == 1


async def test_a_stalled_connection_is_retried(sandbox):
    client = make_client(sandbox, timeout=0.3)
    await fault(sandbox, mode="stall", count=1, stall_seconds=0.5)
    await client.send(DID, text(client, "despues del corte"))
    await client.aclose()
    assert sandbox.state.stats.accepted == 1
    assert sandbox.state.stats.faults_injected == 1


async def test_retries_give_up_after_max_attempts_with_a_typed_error(sandbox):
    sleeps = []
    client = make_client(sandbox, sleeps=sleeps, max_attempts=3)
    await fault(sandbox, mode="500", count=5)
    with pytest.raises(ServerError) as caught:
        await client.send(DID, text(client, "perdido"))
    await client.aclose()
    assert caught.value.status == 500
    assert len(sleeps) == 2
    assert sandbox.state.stats.accepted == 0


async def test_other_client_errors_are_not_retried(sandbox):
    sleeps = []
    client = make_client(sandbox, sleeps=sleeps)
    request = text(client, "hola", msisdn="+54911")  # Chattigo wants digits only
    with pytest.raises(ChattigoAPIError) as caught:
        await client.send(DID, request)
    await client.aclose()
    assert caught.value.status == 400
    assert "msisdn" in caught.value.reason
    assert sleeps == []


async def test_register_webhook_through_the_real_patch(sandbox):
    client = make_client(sandbox)
    await client.register_webhook(DID, "http://127.0.0.1:5005/webhooks/chattigo/webhook")
    await client.aclose()
    assert sandbox.state.webhooks == {DID: "http://127.0.0.1:5005/webhooks/chattigo/webhook"}


async def test_register_webhook_retries_once_without_the_bearer_prefix():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/login"):
            return httpx.Response(200, json={"access_token": "jwt-abc", "access": True})
        seen.append(request.headers["Authorization"])
        ok = request.headers["Authorization"] == "jwt-abc"
        return httpx.Response(200 if ok else 401, json={} if ok else {"reason": "bad token"})

    settings = parse_settings({"base_url": "http://chattigo.test", "did": DID,
                               "username": USERNAME, "password": PASSWORD})
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = ChattigoClient(settings, InlineCredentials(Login(DID, USERNAME, PASSWORD)), http=http)
    await client.register_webhook(DID, "https://bot.example/webhooks/chattigo/webhook")
    await http.aclose()
    assert seen == ["Bearer jwt-abc", "jwt-abc"]


async def test_a_revoked_token_earns_a_fresh_login_even_with_a_single_attempt(sandbox):
    client = make_client(sandbox, max_attempts=1)
    await client.send(DID, text(client, "antes"))
    async with httpx.AsyncClient() as http:
        await http.post(f"{sandbox.url}/sandbox/tokens/expire")
    await client.send(DID, text(client, "despues"))
    await client.aclose()
    assert (sandbox.state.stats.logins, sandbox.state.stats.accepted) == (2, 2)


async def test_a_token_ttl_shorter_than_the_refresh_time_wins(sandbox):
    clock = Clock()
    client = make_client(sandbox, clock=clock, token_ttl_seconds=3600)
    await client.send(DID, text(client, "uno"))
    clock.now += 3601
    await client.send(DID, text(client, "dos"))
    await client.aclose()
    assert sandbox.state.stats.logins == 2
