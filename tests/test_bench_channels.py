"""`bench.channels`: the REST baseline that sends each reply to the sandbox, through a real
Sanic server and the real sandbox (the bot is a stand-in: the baseline wraps any turn)."""

import uuid
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bench.channels import REST_REPLY, RestInputWithReply
from rasa_chattigo.outbound import CHATTIGO_SEND_PATH

from conftest import DID, PASSWORD, USERNAME, one_user_sandbox, serve_sanic

Sanic.test_mode = True


async def _bot(message: UserMessage) -> None:
    """Answers twice, as a bot with two responses does."""
    await message.output_channel.send_text_message(message.sender_id, f"eco: {message.text}")
    await message.output_channel.send_text_message(message.sender_id, "¿algo más?")


async def _post(sandbox: Any, password: str, sender: str) -> httpx.Response:
    channel = RestInputWithReply.from_credentials(
        {"base_url": sandbox.url, "did": DID, "username": USERNAME, "password": password})
    app = Sanic(f"test_bench_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(_bot), url_prefix=f"/webhooks/{REST_REPLY}")
    async with serve_sanic(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post(f"/webhooks/{REST_REPLY}/webhook",
                               json={"sender": sender, "message": "hola"})


async def test_each_reply_is_answered_over_rest_and_sent_to_the_sandbox_as_chattigo_s_send():
    async with one_user_sandbox() as sandbox:
        answer = await _post(sandbox, PASSWORD, "bench-1-0")
        assert answer.status_code == 200
        assert [reply["text"] for reply in answer.json()] == ["eco: hola", "¿algo más?"]
        sent = sandbox.state.select(direction="out", did=DID)
    assert [message.payload["content"] for message in sent] == ["eco: hola", "¿algo más?"]
    first = sent[0].payload
    assert {"did": DID, "type": "text", "isAttachment": False}.items() <= first.items()
    assert first["msisdn"].isdigit() and first["id"] != sent[1].payload["id"]
    assert CHATTIGO_SEND_PATH == "/webhooks/inbound"  # the path the sandbox recorded them on


async def test_a_refused_send_leaves_its_reply_out_of_the_answer_for_the_bench_to_count():
    # Rasa's REST channel answers 200 whatever the turn raised: the missing reply tells.
    async with one_user_sandbox() as sandbox:
        answer = await _post(sandbox, "not-the-password", "bench-1-1")
        assert answer.status_code == 200 and answer.json() == []
        assert sandbox.state.select(direction="out", did=DID) == []


@pytest.mark.parametrize("sender", ["bench-1-2", "otro"])
async def test_a_sender_always_gets_the_same_number_of_digits(sender):
    async with one_user_sandbox() as sandbox:
        await _post(sandbox, PASSWORD, sender)
        await _post(sandbox, PASSWORD, sender)
        numbers = {m.payload["msisdn"] for m in sandbox.state.select(direction="out", did=DID)}
    assert len(numbers) == 1 and numbers.pop().isdigit()
