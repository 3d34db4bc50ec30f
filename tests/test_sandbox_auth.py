"""Sandbox login, tokens and webhook registration, through real HTTP on 127.0.0.1."""

from typing import AsyncIterator, Dict, List

import httpx
import pytest

from rasa_chattigo.sandbox import Sandbox

from conftest import DID, OTHER_DID, PASSWORD, USERNAME, Clock, login, text_send

WEBHOOK = "https://bot.example.com/webhooks/chattigo/webhook"


@pytest.fixture
def clock() -> Clock:
    return Clock(1_767_225_600.0)


@pytest.fixture
async def sandbox(clock: Clock) -> AsyncIterator[Sandbox]:
    """Two users, a 60-second token life and a hand-moved clock."""
    async with Sandbox(
        users={USERNAME: PASSWORD, "other@empresa": "x"},
        dids={USERNAME: [DID], "other@empresa": [OTHER_DID]},
        token_ttl=60,
        clock=clock,
    ) as running:
        yield running


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """Not logged in: these tests log in (or fail to) themselves."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        yield http


def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_answers_token_user_and_access(client: httpx.AsyncClient) -> None:
    answer = await client.post("/login", json={"username": USERNAME, "password": PASSWORD})

    assert answer.status_code == 200
    body = answer.json()
    assert sorted(body) == ["access", "access_token", "user"]
    assert (body["user"], body["access"]) == (USERNAME, True)
    assert body["access_token"].startswith("eyJ")


async def test_login_token_is_hs512_jwt_for_the_user(client: httpx.AsyncClient) -> None:
    import jwt

    token = await login(client)

    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == USERNAME


async def test_login_is_counted(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    await login(client)
    await login(client)

    assert (await client.get("/sandbox/stats")).json()["logins"] == 2
    assert sandbox.state.stats.logins == 2


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json", "body: is not valid JSON"),
        (b"", "body: is empty; a JSON object is required"),
        (b"[1, 2]", "body: must be a JSON object"),
        (b'{"password": "x"}', "username: is required"),
        (b'{"username": "bot@empresa"}', "password: is required"),
        (b'{"username": 5, "password": "x"}', "username: must be a string"),
        (b'{"username": "bot@empresa", "password": ["x"]}', "password: must be a string"),
        (b'{"username": "", "password": "x"}', "username: must not be empty"),
    ],
)
async def test_login_with_a_bad_body_is_400_naming_the_field(
    client: httpx.AsyncClient, content: bytes, reason: str
) -> None:
    answer = await client.post(
        "/login", content=content, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400
    assert answer.json()["reason"] == reason


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": USERNAME, "password": "wrong"},
        {"username": "nobody@empresa", "password": PASSWORD},
    ],
)
async def test_login_with_wrong_credentials_is_401(
    client: httpx.AsyncClient, credentials: Dict[str, str]
) -> None:
    answer = await client.post("/login", json=credentials)

    assert answer.status_code == 401
    assert answer.json() == {
        "error": "unauthorized",
        "reason": "wrong username or password",
        "field": None,
    }


async def test_token_works_until_its_ttl_passes(client: httpx.AsyncClient, clock: Clock) -> None:
    token = await login(client)
    clock.now += 59

    assert (
        await client.post("/webhooks/inbound", json=text_send("a"), headers=bearer(token))
    ).status_code == 200


async def test_token_past_its_ttl_is_401(client: httpx.AsyncClient, clock: Clock) -> None:
    token = await login(client)
    clock.now += 60

    answer = await client.post("/webhooks/inbound", json=text_send(), headers=bearer(token))

    assert answer.status_code == 401
    assert answer.json()["reason"] == "token expired"


async def test_expire_endpoint_revokes_every_issued_token(client: httpx.AsyncClient) -> None:
    token = await login(client)

    assert (await client.post("/sandbox/tokens/expire")).json() == {"expired": True}
    answer = await client.post("/webhooks/inbound", json=text_send(), headers=bearer(token))

    assert answer.status_code == 401
    assert answer.json()["reason"] == "token revoked"


async def test_login_after_expire_gives_a_working_token(client: httpx.AsyncClient) -> None:
    await login(client)
    await client.post("/sandbox/tokens/expire")
    token = await login(client)

    assert (
        await client.post("/webhooks/inbound", json=text_send(), headers=bearer(token))
    ).status_code == 200


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Authorization header"),
        ({"Authorization": "Bearer not-a-jwt"}, "invalid token"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "Authorization header must be 'Bearer <token>'"),
    ],
)
async def test_send_without_a_valid_bearer_token_is_401(
    client: httpx.AsyncClient, headers: Dict[str, str], reason: str
) -> None:
    answer = await client.post("/webhooks/inbound", json=text_send(), headers=headers)

    assert answer.status_code == 401
    assert answer.json()["reason"] == reason


async def test_send_refuses_a_token_without_the_bearer_prefix(client: httpx.AsyncClient) -> None:
    token = await login(client)

    answer = await client.post(
        "/webhooks/inbound", json=text_send(), headers={"Authorization": token}
    )

    assert answer.status_code == 401


async def test_token_signed_by_another_sandbox_is_401(client: httpx.AsyncClient) -> None:
    async with Sandbox(users={USERNAME: PASSWORD}) as other, httpx.AsyncClient(
        base_url=other.url
    ) as c:
        foreign = await login(c)

    answer = await client.post("/webhooks/inbound", json=text_send(), headers=bearer(foreign))

    assert answer.status_code == 401
    assert answer.json()["reason"] == "invalid token"


@pytest.mark.parametrize("prefix", ["Bearer ", ""])
async def test_webhook_registration_accepts_token_with_or_without_bearer(
    client: httpx.AsyncClient, sandbox: Sandbox, prefix: str
) -> None:
    token = await login(client)

    answer = await client.patch(
        "/webhooks/inbound",
        json={"waId": DID, "externalWebhook": WEBHOOK},
        headers={"Authorization": prefix + token},
    )

    assert answer.status_code == 200
    assert answer.json() == {"waId": DID, "externalWebhook": WEBHOOK}
    assert sandbox.state.webhooks == {DID: WEBHOOK}


async def test_webhook_registration_shows_in_stats(client: httpx.AsyncClient) -> None:
    token = await login(client)
    await client.patch(
        "/webhooks/inbound", json={"waId": DID, "externalWebhook": WEBHOOK}, headers=bearer(token)
    )

    assert (await client.get("/sandbox/stats")).json()["webhooks"] == {DID: WEBHOOK}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"externalWebhook": WEBHOOK}, "waId: is required"),
        (
            {"waId": "+5492644710400", "externalWebhook": WEBHOOK},
            "waId: must contain digits only (no '+', spaces or dashes)",
        ),
        ({"waId": 5492644710400, "externalWebhook": WEBHOOK}, "waId: must be a string"),
        ({"waId": DID}, "externalWebhook: is required"),
        (
            {"waId": DID, "externalWebhook": "ftp://bot.example.com/hook"},
            "externalWebhook: must be an http or https URL",
        ),
        (
            {"waId": DID, "externalWebhook": "bot.example.com/hook"},
            "externalWebhook: must be an http or https URL",
        ),
    ],
)
async def test_webhook_registration_with_a_bad_body_is_400(
    client: httpx.AsyncClient, body: Dict[str, object], reason: str
) -> None:
    token = await login(client)

    answer = await client.patch("/webhooks/inbound", json=body, headers=bearer(token))

    assert answer.status_code == 400
    assert answer.json()["reason"] == reason


async def test_webhook_registration_for_another_users_number_is_403(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    token = await login(client)

    answer = await client.patch(
        "/webhooks/inbound",
        json={"waId": OTHER_DID, "externalWebhook": WEBHOOK},
        headers=bearer(token),
    )

    assert answer.status_code == 403
    assert answer.json() == {
        "error": "forbidden",
        "reason": f"waId: business number {OTHER_DID} is not enabled for this user",
        "field": "waId",
    }
    assert sandbox.state.webhooks == {}


async def test_webhook_registration_without_token_is_401(client: httpx.AsyncClient) -> None:
    answer = await client.patch("/webhooks/inbound", json={"waId": DID, "externalWebhook": WEBHOOK})

    assert answer.status_code == 401


def test_sandbox_refuses_numbers_for_unknown_users() -> None:
    with pytest.raises(ValueError, match="unknown user 'ghost'"):
        Sandbox(users={USERNAME: PASSWORD}, dids={"ghost": [DID]})


def test_sandbox_repr_shows_no_password() -> None:
    shown: List[str] = [repr(Sandbox(users={USERNAME: PASSWORD})), repr(Sandbox().state)]

    assert all(PASSWORD not in text and "sandbox-password" not in text for text in shown)
