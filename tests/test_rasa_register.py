"""The channel as `rasa run` mounts it: Rasa's own `register()` on a real Sanic server on
127.0.0.1 (Sanic 21.12 under Rasa 3.6, Sanic 25 under Rasa Pro), replying through the sandbox."""

import warnings
from typing import Any, AsyncIterator, List, Tuple

import httpx
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from rasa_chattigo import ChattigoInput
from rasa_chattigo.channel import ChattigoOutput
from rasa_chattigo.compat.rasa_api import RASA_PRO
from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook

from conftest import DID, USER, channel_settings, serve_sanic

WEBHOOK = "/webhooks/chattigo/webhook"
CHATTIGO_TEXT = {"did": DID, "msisdn": USER, "type": "text", "channel": "WHATSAPP",
                 "name": "Aynux", "isAttachment": False}


class EchoAgent:
    """Stands in for Rasa's agent at `app.ctx.agent`, where `register()`'s handler finds it:
    answers every message through the message's own output channel, as Rasa does."""

    def __init__(self) -> None:
        self.handled: List[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.handled.append(message)
        await message.output_channel.send_response(
            message.sender_id, {"text": f"Recibí: {message.text}"})


@pytest.fixture
async def registered(sandbox: Sandbox) -> AsyncIterator[Tuple[httpx.AsyncClient, EchoAgent]]:
    """`ChattigoInput.from_credentials` registered by Rasa's `register()` and served."""
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url, ack="inline"))
    app = Sanic(f"rasa_register_{id(channel)}", configure_logging=False)
    agent = EchoAgent()
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")
    async with serve_sanic(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            yield http, agent


def sent_texts(sandbox: Sandbox) -> List[Any]:
    return [{k: v for k, v in m.payload.items() if k != "id"}
            for m in sandbox.state.select(direction="out")]


async def test_a_cloud_api_webhook_is_answered_through_the_sandbox_in_chattigo_format(
        registered, sandbox):
    http, agent = registered
    answer = await http.post(WEBHOOK, json=build_cloud_webhook(
        "text", did=DID, msisdn=USER, text="hola", message_id="wamid.register-1"))
    assert (answer.status_code, answer.json()["messages"]) == (200, 1)
    [message] = agent.handled
    assert (message.text, message.sender_id, message.input_channel, message.message_id) == (
        "hola", USER, "chattigo", "wamid.register-1")
    assert sent_texts(sandbox) == [{**CHATTIGO_TEXT, "content": "Recibí: hola"}]


async def test_a_redelivered_message_is_dropped_before_rasa_and_answered_once(
        registered, sandbox):
    # The channel's store acts first, at the webhook: Rasa Pro's own check of a repeated
    # message id (which would replay the stored replies) never sees the redelivery.
    http, agent = registered
    body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola",
                               message_id="wamid.register-2")
    first = await http.post(WEBHOOK, json=body)
    again = await http.post(WEBHOOK, json=body)
    assert [(a.json()["messages"], a.json()["duplicates"]) for a in (first, again)] == [
        (1, 0), (0, 1)]
    assert len(agent.handled) == 1
    assert sent_texts(sandbox) == [{**CHATTIGO_TEXT, "content": "Recibí: hola"}]


async def test_the_health_route_is_where_rasa_mounts_the_channel(registered):
    http, _ = registered
    answer = await http.get("/webhooks/chattigo/")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


async def test_starting_and_stopping_the_server_raises_no_sanic_deprecation(sandbox):
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url))
    app = Sanic(f"rasa_register_warnings_{id(channel)}", configure_logging=False)
    register([channel], app, route="/webhooks/")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with serve_sanic(app):
            pass
    assert [str(w.message) for w in caught if "sanic" in w.filename.replace("\\", "/")] == []


# --- Rasa Pro's output-channel hooks -----------------------------------------------------


async def test_buttons_without_text_go_out_as_the_numbered_menu_alone(sandbox):
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url))
    await channel.get_output_channel().send_buttons(USER, [
        {"title": "Sí", "payload": "/afirmar"}, {"title": "No", "payload": "/negar"}])
    await channel.client.aclose()
    assert sent_texts(sandbox) == [{**CHATTIGO_TEXT, "content": "1. Sí\n2. No"}]


async def test_hangup_sends_nothing(sandbox):
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url))
    await channel.get_output_channel().hangup(USER)
    await channel.client.aclose()
    assert sandbox.state.select(direction="out") == []


def test_the_output_channel_asks_rasa_for_no_serialized_tracker_state():
    output = ChattigoInput.from_credentials(channel_settings()).get_output_channel()
    assert output.wants_tracker_state is False


@pytest.mark.skipif(not RASA_PRO, reason="Rasa 3.6's OutputChannel has no response deliveries")
async def test_rasa_pros_response_delivery_state_is_set_up():
    output = ChattigoInput.from_credentials(channel_settings()).get_output_channel()
    assert isinstance(output, ChattigoOutput)
    await output.wait_for_response_deliveries()
    await output.shutdown_response_deliveries()
    assert output.tracker_state is None
