"""`bench.channels`: the REST baseline that sends each response to the sandbox, through a real
Sanic server and the real sandbox (the bot is a stand-in: the baseline wraps any turn), and the
credentials that mount every variant."""

import uuid
from typing import Any, AsyncIterator, Dict, List, Tuple

import httpx
import pytest
import yaml
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bench.channels import REST_REPLY, RestInputWithReply, front_webhook_url, write_credentials
from bench.load import run_rest
from rasa_chattigo.outbound import SendContext, build_requests
from rasa_chattigo.settings import parse_settings

from conftest import DID, channel_settings, one_user_sandbox, serve_sanic

Sanic.test_mode = True
MENU = {"text": "¿Qué plan querés?", "buttons": [
    {"title": "Hogar 100 MB", "payload": "/elegir_plan{\"plan\": \"hogar\"}"},
    {"title": "Móvil 10 GB", "payload": "/elegir_plan{\"plan\": \"movil\"}"}]}


async def _bot(message: UserMessage) -> None:
    """Answers with a text and a menu, as the demo bot's plan step does."""
    await message.output_channel.send_response(message.sender_id, {"text": f"eco: {message.text}"})
    await message.output_channel.send_response(message.sender_id, dict(MENU))


@pytest.fixture
async def served() -> AsyncIterator[Tuple[Any, str, RestInputWithReply]]:
    """The sandbox and the baseline behind a real Sanic server: (sandbox, url, channel)."""
    async with one_user_sandbox() as sandbox:
        channel = RestInputWithReply.from_credentials(channel_settings(base_url=sandbox.url))
        app = Sanic(f"test_bench_{uuid.uuid4().hex}", configure_logging=False)
        app.blueprint(channel.blueprint(_bot), url_prefix=f"/webhooks/{REST_REPLY}")
        async with serve_sanic(app) as url:
            yield sandbox, url, channel


async def _say(url: str, sender: str) -> List[Dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.post(f"/webhooks/{REST_REPLY}/webhook",
                                 json={"sender": sender, "message": "hola"})
    assert answer.status_code == 200
    return list(answer.json())


def _sent(sandbox: Any) -> List[Dict[str, Any]]:
    return [m.payload for m in sandbox.state.select(direction="out", did=DID)]


async def test_each_response_is_answered_and_sent_as_the_chattigo_channel_would_send_it(served):
    sandbox, url, _ = served
    answer = await _say(url, "bench-1-0")
    assert [reply["text"] for reply in answer] == ["eco: hola", MENU["text"]]
    sent = _sent(sandbox)
    settings = parse_settings(channel_settings(base_url=sandbox.url))
    context = SendContext(did=DID, msisdn=sent[0]["msisdn"], bot_name=settings.bot_name)
    channel_would = [request.json for response in ({"text": "eco: hola"}, MENU)
                     for request in build_requests(response, context, settings)]
    assert [_without_id(body) for body in sent] == [_without_id(b) for b in channel_would]
    assert "1." in sent[1]["content"] and "Móvil 10 GB" in sent[1]["content"]  # the menu
    assert len({body["id"] for body in sent}) == 2


async def test_a_failed_send_is_counted_and_left_out_while_the_turn_goes_on(served):
    sandbox, url, channel = served
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        (await http.post("/sandbox/faults", json={"mode": "500", "count": 1})).raise_for_status()
    answer = await _say(url, "bench-1-1")
    assert [reply["text"] for reply in answer] == [MENU["text"]]  # the first one failed
    assert [body["content"] for body in _sent(sandbox)][-1].startswith(MENU["text"])
    assert channel.failures == 1


async def test_the_bench_counts_a_reply_missing_from_the_answer_as_an_error(served):
    sandbox, url, _ = served
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        (await http.post("/sandbox/faults", json={"mode": "500", "count": 1})).raise_for_status()
    result = await run_rest(url, 1, 2, "count", route=REST_REPLY, expected=[2, 2])
    assert (result.messages, result.replies, result.errors, result.unexpected_replies) == (
        2, 3, 1, 0)
    extra = await run_rest(url, 1, 1, "extra", route=REST_REPLY, expected=[1])
    assert (extra.errors, extra.unexpected_replies) == (0, 1)


@pytest.mark.parametrize("sender", ["bench-1-2", "otro"])
async def test_a_sender_always_gets_the_same_number_of_digits(served, sender):
    sandbox, url, _ = served
    await _say(url, sender)
    await _say(url, sender)
    numbers = {body["msisdn"] for body in _sent(sandbox)}
    assert len(numbers) == 1 and numbers.pop().isdigit()


def _without_id(body: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in body.items() if key != "id"}


def test_the_credentials_mount_three_chattigo_variants_the_front_on_its_port(tmp_path):
    blocks = yaml.safe_load(write_credentials(tmp_path, 5999).read_text(encoding="utf-8"))
    settings = {name: parse_settings({**blocks[name], **channel_settings()}) for name in (
        "rasa_chattigo.ChattigoInput", "bench.channels.ChattigoInputGateOff",
        "bench.channels.ChattigoInputFront")}
    assert [(parsed.starts_adaptively, parsed.front_port, parsed.store_namespace)
            for parsed in settings.values()] == [(True, None, "rasa_chattigo"),
                                            (False, None, "bench_gate_off"),
                                            (False, 5999, "bench_front")]
    assert settings["bench.channels.ChattigoInputFront"].front_host == "127.0.0.1"


def test_the_fronts_webhook_is_the_channels_path_on_the_fronts_port():
    assert front_webhook_url(5999) == "http://127.0.0.1:5999/webhooks/chattigo/webhook"
