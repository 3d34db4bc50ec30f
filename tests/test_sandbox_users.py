"""WhatsApp user simulation: webhooks posted to a receiver, conversations, long-poll, statuses."""

import asyncio
from typing import Any, AsyncIterator, Dict

import httpx
import pytest

from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.receiver import WebhookReceiver

from conftest import (
    DID,
    USER,
    load_fixture,
    logged_in,
    one_user_sandbox,
    sandbox_posting_to,
    text_send,
)


def fixture(name: str) -> Dict[str, Any]:
    return load_fixture("sandbox", name)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(answer={"status": "ok", "queued": 1}) as running:
        yield running


@pytest.fixture
async def client(sandbox: Sandbox, receiver: WebhookReceiver) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in, with the receiver registered as the webhook of DID."""
    async with logged_in(sandbox) as http:
        await http.patch(
            "/webhooks/inbound", json={"waId": DID, "externalWebhook": receiver.url("/hook")}
        )
        yield http


async def user_says(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post(f"/sandbox/users/{USER}/send", json={"did": DID, **body})


async def bot_says(client: httpx.AsyncClient, message_id: str, text: str) -> None:
    answer = await client.post("/webhooks/inbound", json=text_send(message_id, content=text))
    assert answer.status_code == 200


USER_MESSAGES = [
    pytest.param(
        {
            "type": "text",
            "text": "Hola, quiero un turno",
            "name": "Juan Pérez",
            "message_id": "wamid.HBgNNTQ5MjY0NDQ3MjU0MhUCABIYFjNFQjA01AA==",
            "timestamp": 1767225600,
        },
        "webhook_text",
        id="cloud-text",
    ),
    pytest.param(
        {
            "type": "location",
            "name": "Juan Pérez",
            "latitude": -34.6037389,
            "longitude": -58.3815704,
            "place_name": "Sucursal Centro",
            "address": "Av. Corrientes 1234, C1043 CABA",
            "message_id": "wamid.HBgNNTQ5MjY0NDQ3MjU0MhUCABIYFjNFQjA11AA==",
            "timestamp": 1767225600,
        },
        "webhook_location",
        id="cloud-location",
    ),
    pytest.param(
        {
            "format": "legacy",
            "type": "image",
            "name": "Juan Pérez",
            "caption": "Foto del producto",
            "media_url": "https://example.com/foto.jpg",
            "filename": "foto.jpg",
            "message_id": "887766554433221100",
        },
        "webhook_legacy_image",
        id="legacy-image",
    ),
]


@pytest.mark.parametrize(("message", "expected"), USER_MESSAGES)
async def test_a_user_message_posts_the_exact_webhook(
    client: httpx.AsyncClient, receiver: WebhookReceiver, message: Dict[str, Any], expected: str
) -> None:
    await user_says(client, **message)

    [webhook] = receiver.received
    assert webhook.body == fixture(expected)
    assert (webhook.path, webhook.headers["Content-Type"]) == ("/hook", "application/json")


async def test_send_answers_id_and_the_webhook_answer(client: httpx.AsyncClient) -> None:
    answer = await user_says(client, text="hola", message_id="wamid.A")

    assert answer.status_code == 200
    assert answer.json() == {
        "message_id": "wamid.A",
        "webhook_status": 200,
        "webhook_body": {"status": "ok", "queued": 1},
    }


async def test_webhook_answering_an_error_is_reported_not_hidden(sandbox: Sandbox) -> None:
    async with WebhookReceiver(status=401, answer={"error": "bad token"}) as refusing:
        sandbox.state.webhooks[DID] = refusing.url()
        async with httpx.AsyncClient(base_url=sandbox.url) as http:
            answer = await http.post(
                f"/sandbox/users/{USER}/send", json={"did": DID, "text": "hola"}
            )

    assert (answer.json()["webhook_status"], answer.json()["webhook_body"]) == (
        401,
        {"error": "bad token"},
    )


async def test_send_without_a_registered_webhook_is_409(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        answer = await http.post(f"/sandbox/users/{USER}/send", json={"did": DID, "text": "hola"})

    assert answer.status_code == 409
    assert answer.json()["reason"] == (
        f"no webhook registered for business number {DID}; PATCH /webhooks/inbound first"
    )


async def test_unreachable_webhook_is_502(sandbox: Sandbox) -> None:
    async with WebhookReceiver() as gone:
        url = gone.url()
    sandbox.state.webhooks[DID] = url

    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        answer = await http.post(f"/sandbox/users/{USER}/send", json={"did": DID, "text": "hola"})

    assert answer.status_code == 502
    assert answer.json()["reason"].startswith(f"webhook {url} could not be reached")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "text"}, "text: is required for kind text"),
        ({"type": "gif"}, "type: must be one of "),
        ({"type": "text", "text": "hola", "emoji": "👍"}, "emoji: is not a field of kind text"),
        ({"type": "location", "latitude": "-34", "longitude": 1}, "latitude: must be a number"),
        ({"format": "xml", "text": "hola"}, "format: must be one of cloud, legacy"),
        (
            {"format": "legacy", "type": "sticker"},
            "type: must be one of text, image, audio, video, document, location, transfer, "
            "close for the legacy format",
        ),
    ],
)
async def test_bad_simulation_request_is_400(
    client: httpx.AsyncClient, body: Dict[str, Any], reason: str
) -> None:
    answer = await user_says(client, **body)

    assert answer.status_code == 400
    assert answer.json()["reason"].startswith(reason)


async def test_bad_msisdn_in_path_is_400(client: httpx.AsyncClient) -> None:
    answer = await client.post("/sandbox/users/+549/send", json={"did": DID, "text": "hola"})

    assert answer.json()["reason"] == "msisdn: must contain digits only (in the path)"


async def test_raw_posts_the_body_as_is(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    body = {"object": "whatsapp_business_account", "entry": "broken on purpose"}

    answer = await client.post(f"/sandbox/webhooks/{DID}/raw", json=body)

    assert receiver.received[0].body == body
    assert answer.json() == {
        "message_id": None,
        "webhook_status": 200,
        "webhook_body": {"status": "ok", "queued": 1},
    }


async def test_raw_redelivery_reports_the_message_id(client: httpx.AsyncClient) -> None:
    answer = await client.post(f"/sandbox/webhooks/{DID}/raw", json=fixture("webhook_text"))

    assert answer.json()["message_id"] == "wamid.HBgNNTQ5MjY0NDQ3MjU0MhUCABIYFjNFQjA01AA=="


async def test_conversation_lists_both_directions_in_order(client: httpx.AsyncClient) -> None:
    await user_says(client, text="hola")
    await bot_says(client, "m-1", "¡Hola! ¿En qué te ayudo?")
    await user_says(
        client, type="button_reply", reply_id="/turno", title="Pedir turno", context="wamid.X"
    )

    messages = (await client.get(f"/sandbox/conversations/{DID}/{USER}")).json()["messages"]

    assert [(m["seq"], m["direction"], m["kind"], m["text"]) for m in messages] == [
        (1, "in", "text", "hola"),
        (2, "out", "text", "¡Hola! ¿En qué te ayudo?"),
        (3, "in", "button_reply", "Pedir turno"),
    ]
    assert messages[1]["payload"]["content"] == "¡Hola! ¿En qué te ayudo?"
    assert messages[0]["at"].endswith("+00:00")


async def test_conversation_after_skips_older_messages(client: httpx.AsyncClient) -> None:
    await user_says(client, text="uno")
    await user_says(client, text="dos")

    messages = (
        await client.get(f"/sandbox/conversations/{DID}/{USER}", params={"after": 1})
    ).json()["messages"]

    assert [m["text"] for m in messages] == ["dos"]


async def test_conversation_of_another_user_is_empty(client: httpx.AsyncClient) -> None:
    await user_says(client, text="hola")

    assert (await client.get(f"/sandbox/conversations/{DID}/5491100000000")).json() == {
        "messages": []
    }


async def test_long_poll_returns_when_the_bot_answers(client: httpx.AsyncClient) -> None:
    await user_says(client, text="hola")
    poll = asyncio.ensure_future(
        client.get(f"/sandbox/conversations/{DID}/{USER}", params={"after": 1, "wait": 30})
    )
    await asyncio.sleep(0)

    await bot_says(client, "m-1", "respuesta")

    messages = (await asyncio.wait_for(poll, 10)).json()["messages"]
    assert [(m["seq"], m["text"]) for m in messages] == [(2, "respuesta")]


async def test_long_poll_with_nothing_new_returns_empty(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/sandbox/conversations/{DID}/{USER}", params={"wait": 0.05})

    assert answer.json() == {"messages": []}


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"after": "x"}, "after: must be a whole number"),
        ({"wait": "-1"}, "wait: must not be negative"),
    ],
)
async def test_bad_listing_parameters_are_400(
    client: httpx.AsyncClient, params: Dict[str, str], reason: str
) -> None:
    answer = await client.get("/sandbox/messages", params=params)

    assert (answer.status_code, answer.json()["reason"]) == (400, reason)


async def test_messages_lists_only_accepted_sends(client: httpx.AsyncClient) -> None:
    await user_says(client, text="hola")
    await bot_says(client, "m-1", "uno")
    await bot_says(client, "m-2", "dos")

    messages = (await client.get("/sandbox/messages", params={"did": DID, "msisdn": USER})).json()[
        "messages"
    ]

    assert [(m["direction"], m["message_id"], m["text"]) for m in messages] == [
        ("out", "m-1", "uno"),
        ("out", "m-2", "dos"),
    ]


async def test_statuses_are_posted_when_enabled(receiver: WebhookReceiver) -> None:
    async with sandbox_posting_to(receiver, statuses=True, status_delay=0) as sandbox:
        async with logged_in(sandbox) as http:
            await bot_says(http, "m-1", "hola")
            received = await receiver.wait_for(3)

    statuses = [w.body["entry"][0]["changes"][0]["value"]["statuses"][0] for w in received]
    assert [(s["status"], s["recipient_id"], s["biz_opaque_callback_data"]) for s in statuses] == [
        ("sent", USER, "m-1"),
        ("delivered", USER, "m-1"),
        ("read", USER, "m-1"),
    ]
    assert len({s["id"] for s in statuses}) == 1


async def test_statuses_to_a_dead_webhook_do_not_break_sends() -> None:
    async with WebhookReceiver() as gone:
        url = gone.url()
    async with one_user_sandbox(statuses=True, status_delay=0) as sandbox:
        sandbox.state.webhooks[DID] = url
        async with logged_in(sandbox) as http:
            await bot_says(http, "m-1", "hola")
            await asyncio.sleep(0.05)
            await bot_says(http, "m-2", "chau")

        assert sandbox.state.stats.accepted == 2


async def test_statuses_are_off_by_default(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await bot_says(client, "m-1", "hola")
    await asyncio.sleep(0.1)

    assert receiver.received == []
