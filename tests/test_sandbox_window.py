"""WhatsApp's 24-hour window in the sandbox: 200 always, `failed` 131047 outside, templates pass."""

from typing import Any, AsyncIterator, Dict, List

import httpx
import pytest

from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.receiver import WebhookReceiver
from rasa_chattigo.sandbox.window import MovableClock, parse_span

from conftest import DID, USER, Clock, load_fixture, logged_in, sandbox_posting_to, text_send


@pytest.fixture
async def sandbox(receiver: WebhookReceiver) -> AsyncIterator[Sandbox]:
    options = {"window": True, "status_delay": 0, "clock": Clock(1_800_000_000)}
    async with sandbox_posting_to(receiver, **options) as running:
        yield running


def statuses(receiver: WebhookReceiver) -> List[Dict[str, Any]]:
    return [w.body["entry"][0]["changes"][0]["value"]["statuses"][0] for w in receiver.received
            if "statuses" in w.body["entry"][0]["changes"][0]["value"]]


async def user_writes(client: httpx.AsyncClient) -> None:
    answer = await client.post(f"/sandbox/users/{USER}/send", json={"did": DID, "text": "hola"})
    assert answer.json()["webhook_status"] == 200


def hsm_send(**hsm: Any) -> Dict[str, Any]:
    return {"id": "t-1", "did": DID, "type": "HSM", "channel": "WHATSAPP", "hsm": {
        "namespace": "aynux", "template": "recordatorio_turno", "languageCode": "es_AR",
        "parameters": ["Ana"], "destinations": [{"destination": USER}], **hsm}}


async def test_a_text_to_a_user_who_never_wrote_is_accepted_then_fails_with_131047(
        client, sandbox, receiver):
    answer = await client.post("/webhooks/inbound", json=text_send("m-1", "¿Seguís ahí?"))

    assert (answer.status_code, answer.text) == (200, "")
    await receiver.wait_for(1)
    [failed] = statuses(receiver)
    assert (failed["status"], failed["recipient_id"], failed["biz_opaque_callback_data"]) == (
        "failed", USER, "m-1")
    assert failed["errors"] == [load_fixture("sandbox", "error_131047")]
    assert failed["timestamp"] == "1800000000"


async def test_inside_the_window_a_text_is_delivered_and_read(client, sandbox, receiver):
    sandbox.statuses = True
    await user_writes(client)

    await client.post("/webhooks/inbound", json=text_send("m-1"))
    await receiver.wait_for(4)  # the user's message, then three statuses

    assert [s["status"] for s in statuses(receiver)] == ["sent", "delivered", "read"]


async def test_moving_the_clock_25_hours_closes_the_window(client, sandbox, receiver):
    await user_writes(client)

    moved = await client.post("/sandbox/clock", json={"advance": "+25h"})
    async with logged_in(sandbox) as fresh:  # the 8-hour token expired with the clock's move
        await fresh.post("/webhooks/inbound", json=text_send("m-1"))
    await receiver.wait_for(2)

    assert moved.json()["offset_seconds"] == 90000
    assert moved.json()["windows"] == [
        {"did": DID, "msisdn": USER, "open": False, "seconds_left": -3600.0}]
    assert [(s["status"], s["errors"][0]["code"]) for s in statuses(receiver)] == [
        ("failed", 131047)]


async def test_23_hours_later_the_window_is_still_open(client, sandbox):
    await user_writes(client)

    await client.post("/sandbox/clock", json={"advance": 23 * 3600})

    [window] = (await client.get("/sandbox/clock")).json()["windows"]
    assert (window["open"], window["seconds_left"]) == (True, 3600.0)


async def test_only_the_users_own_messages_open_the_window(client, sandbox, receiver):
    await client.post(f"/sandbox/agent/{DID}/{USER}/take")
    await client.post(f"/sandbox/agent/{DID}/{USER}/handback")  # Chattigo's, not the user's

    assert (await client.get("/sandbox/clock")).json()["windows"] == []


async def test_a_template_outside_the_window_is_delivered(client, sandbox, receiver):
    sandbox.statuses = True

    answer = await client.post("/webhooks/inbound", json=hsm_send())
    await receiver.wait_for(3)

    assert answer.status_code == 200
    assert [s["status"] for s in statuses(receiver)] == ["sent", "delivered", "read"]
    assert sandbox.state.messages[-1].text == "[plantilla: recordatorio_turno]"


async def test_a_cloud_api_template_outside_the_window_is_delivered(client, sandbox, receiver):
    sandbox.statuses = True
    body = {"messaging_product": "whatsapp", "to": USER, "type": "template", "template": {
        "name": "recordatorio_turno", "language": {"code": "es_AR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}}

    answer = await client.post(f"/v15.0/{DID}/messages", json=body)
    await receiver.wait_for(3)

    assert answer.status_code == 200
    assert [s["status"] for s in statuses(receiver)] == ["sent", "delivered", "read"]


async def test_a_cloud_api_text_outside_the_window_fails(client, sandbox, receiver):
    body = {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "hola"}}

    answer = await client.post(f"/v15.0/{DID}/messages", json=body)
    await receiver.wait_for(1)

    assert answer.status_code == 200
    assert [(s["status"], s["id"]) for s in statuses(receiver)] == [
        ("failed", answer.json()["messages"][0]["id"])]


async def test_the_legacy_elementname_still_names_the_template(client, sandbox):
    body = hsm_send()
    body["hsm"]["elementName"] = body["hsm"].pop("template")

    assert (await client.post("/webhooks/inbound", json=body)).status_code == 200


@pytest.mark.parametrize(("advance", "reason"), [
    ("-1h", "advance: '-1h' is not a time span such as +25h, 90m, 1d or 30s"),
    (-5, "advance: the clock only moves forward"),
    (True, "advance: is required: a span such as '+25h', or seconds"),
])
async def test_the_clock_only_moves_forward(client, advance, reason):
    answer = await client.post("/sandbox/clock", json={"advance": advance})

    assert (answer.status_code, answer.json()["reason"]) == (400, reason)


@pytest.mark.parametrize(("span", "seconds"), [
    ("+25h", 90000), ("90m", 5400), ("1d", 86400), ("30s", 30), ("45", 45), ("+1.5h", 5400)])
def test_spans(span, seconds):
    assert parse_span(span) == seconds


def test_the_movable_clock_adds_its_offset_to_the_base():
    clock = MovableClock(Clock(100))
    clock.advance(50)
    assert (clock(), clock.offset) == (150, 50)
