"""The sandbox as Chattigo's agent side: hand-off sends, the agent writing, the hand-back."""

from typing import Any, AsyncIterator, Dict

import pytest

from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.receiver import WebhookReceiver

from conftest import DID, USER, sandbox_posting_to

AGENT = f"/sandbox/agent/{DID}/{USER}"


def control_send(kind: str, **extra: Any) -> Dict[str, Any]:
    """A hand-off send as the channel fills it in: id, did, msisdn, channel, name."""
    return {"id": f"h-{kind}", "did": DID, "msisdn": USER, "channel": "WHATSAPP",
            "name": "Aynux", "type": kind, **extra}


@pytest.fixture
async def sandbox(receiver: WebhookReceiver) -> AsyncIterator[Sandbox]:
    async with sandbox_posting_to(receiver) as running:
        yield running


@pytest.mark.parametrize(("kind", "extra", "holder", "text"), [
    ("transfer", {}, "agent", "[chat transferido a un agente]"),
    ("transfer", {"idCampaign": "7"}, "agent", "[chat transferido a un agente, campaña 7]"),
    ("group", {"idCampaign": "7", "content": "ventas"}, "agent",
     "[chat transferido al grupo ventas, campaña 7]"),
    ("close", {}, "bot", "[el bot cerró la conversación]"),
    ("timeout", {}, "bot", "[conversación cerrada por inactividad]"),
])
async def test_a_hand_off_send_is_accepted_and_recorded(client, sandbox, receiver, kind, extra,
                                                        holder, text):
    answer = await client.post("/webhooks/inbound", json=control_send(kind, **extra))

    assert (answer.status_code, answer.text) == (200, "")
    [message] = sandbox.state.messages
    assert (message.direction, message.kind, message.text) == ("out", kind, text)
    assert (await client.get(AGENT)).json()["holder"] == holder
    assert receiver.received == []  # no status: nothing reached the phone


@pytest.mark.parametrize(("kind", "change", "reason"), [
    ("group", {"content": None}, "content: is required"),
    ("group", {"idCampaign": None}, "idCampaign: is required"),
    ("group", {"content": " "}, "content: must not be empty"),
    ("transfer", {"idCampaign": ""}, "idCampaign: must not be empty"),
    ("transfer", {"msisdn": "+549"}, "msisdn: must contain digits only (no '+', spaces or dashes)"),
    ("close", {"isAttachment": True}, "isAttachment: must be false when type is close"),
    ("timeout", {"attachment": {"mediaUrl": "https://x.test/a.pdf"}},
     "attachment: is not allowed when type is timeout"),
])
async def test_a_malformed_hand_off_send_is_400_naming_the_field(client, sandbox, kind, change,
                                                                 reason):
    body = {**control_send(kind, idCampaign="7", content="ventas"), **change}
    body = {key: value for key, value in body.items() if value is not None}

    answer = await client.post("/webhooks/inbound", json=body)

    assert (answer.status_code, answer.json()["reason"]) == (400, reason)
    assert sandbox.state.messages == []


async def test_the_agent_writes_to_the_user_and_the_bot_is_sent_nothing(client, sandbox,
                                                                        receiver):
    await client.post("/webhooks/inbound", json=control_send("transfer"))

    answer = await client.post(f"{AGENT}/messages", json={"text": "Hola, soy Marta"})

    assert answer.status_code == 200
    agent_message = sandbox.state.messages[-1]
    assert (agent_message.direction, agent_message.kind, agent_message.payload) == (
        "out", "agent", {"type": "agent", "name": "Agente", "content": "Hola, soy Marta"})
    assert receiver.received == []


async def test_the_agent_cannot_write_while_the_bot_has_the_chat(client):
    answer = await client.post(f"{AGENT}/messages", json={"text": "hola"})

    assert (answer.status_code, answer.json()["error"]) == (409, "not_with_agent")


async def test_taking_the_chat_from_the_console_needs_no_transfer(client):
    assert (await client.post(f"{AGENT}/take")).json()["holder"] == "agent"
    assert (await client.post(f"{AGENT}/messages", json={"text": "hola"})).status_code == 200


async def test_handing_back_posts_chattigos_flat_transfer_webhook(client, sandbox, receiver):
    await client.post("/webhooks/inbound", json=control_send("transfer", idCampaign="7"))

    answer = await client.post(f"{AGENT}/handback")

    assert (answer.status_code, answer.json()["webhook_status"]) == (200, 200)
    [webhook] = receiver.received
    body = webhook.body
    assert {k: body[k] for k in ("did", "msisdn", "type", "content", "chatType", "stateAgent",
                                 "isAttachment", "channel")} == {
        "did": DID, "msisdn": USER, "type": "transfer", "content": "", "chatType": "INBOUND",
        "stateAgent": "BOT", "isAttachment": False, "channel": "WHATSAPP"}
    assert body["id"] == answer.json()["message_id"] and isinstance(body["idChat"], int)
    assert (await client.get(AGENT)).json()["holder"] == "bot"


async def test_handing_back_a_chat_the_bot_holds_is_409(client, receiver):
    answer = await client.post(f"{AGENT}/handback")

    assert (answer.status_code, answer.json()["error"]) == (409, "not_with_agent")
    assert receiver.received == []


async def test_chattigo_closing_the_chat_posts_close(client, receiver):
    await client.post(f"{AGENT}/take")

    answer = await client.post(f"{AGENT}/close", json={"text": "cerrado por el agente"})

    assert answer.status_code == 200
    assert (receiver.received[0].body["type"], receiver.received[0].body["content"]) == (
        "close", "cerrado por el agente")
    assert (await client.get(AGENT)).json() == {
        "holder": "bot", "campaign": None, "group": None, "closed": "close"}


async def test_user_messages_still_reach_the_bot_while_an_agent_has_the_chat(client, receiver):
    await client.post("/webhooks/inbound", json=control_send("transfer"))

    answer = await client.post(f"/sandbox/users/{USER}/send", json={"did": DID, "text": "¿hola?"})

    assert answer.json()["webhook_status"] == 200
    assert len(receiver.received) == 1


async def test_a_bot_send_while_an_agent_has_the_chat_is_flagged_for_the_page(client, sandbox):
    await client.post("/webhooks/inbound", json=control_send("transfer"))

    await client.post("/webhooks/inbound", json={**control_send("text"), "id": "t-1",
                                                 "content": "¡Hola!", "isAttachment": False})

    events = (await client.get("/sandbox/events.json")).json()["events"]
    flags = [e["data"]["while_agent"] for e in events
             if e["kind"] == "message" and e["data"]["kind"] == "text"]
    assert flags == [True]
