"""The chattigo channel through a real Sanic app on 127.0.0.1: verify, parse, dispatch, respond."""

import asyncio
import json

import httpx
import pytest
from sanic import Sanic

from rasa_chattigo import webhook as webhook_module
from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook

from conftest import DID, LOOPBACK_ONLY, USER, channel_settings, load_fixture, serve_sanic


def fixture(name):
    return load_fixture("inbound", name)


def make_app(channel, on_new_message):
    app = Sanic(f"test_channel_{id(channel)}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
    return app


@pytest.fixture
async def served(collector):
    """A channel in `ack: inline` mode (answers after handling) behind a real Sanic server."""
    channel = ChattigoInput.from_credentials(channel_settings(ack="inline"))
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            yield http, channel


async def post(http, body, **kwargs):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return await http.post("/webhooks/chattigo/webhook", content=raw,
                           headers={"Content-Type": "application/json"}, **kwargs)


async def test_health_answers_ok(served):
    http, _ = served
    answer = await http.get("/webhooks/chattigo/")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


async def test_a_text_becomes_one_user_message(served, collector):
    http, _ = served
    answer = await post(http, fixture("guide_text"))
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "messages": 1, "duplicates": 0, "statuses": 0,
                             "ignored": 0, "problems": []}
    [message] = collector.messages
    assert (message.text, message.sender_id, message.input_channel) == (
        "Hola", "5492644472542", "chattigo")
    assert message.message_id == "wamid.HBgNNTQ5MjY0NDQ3MjU0MhUCABI..."
    assert isinstance(message.output_channel, ChattigoOutput)
    meta = message.metadata
    assert (meta["name"], meta["business_number"], meta["phone_number_id"], meta["timestamp"]) == (
        "Nombre Usuario", "5492644710400", "734053143122597", 1767030562)


async def test_a_status_update_is_acknowledged_and_never_reaches_the_bot(served, collector):
    http, _ = served
    answer = await post(http, fixture("guide_status_minimal"))
    assert (answer.status_code, answer.json()["statuses"]) == (200, 1)
    assert collector.messages == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"this is not json", "body"),
        (b"", "body"),
        (b"[1, 2]", "body"),
        (json.dumps({"hello": "world"}).encode(), "object"),
        (json.dumps({"object": "whatsapp_business_account", "entry": {}}).encode(), "entry"),
    ],
)
async def test_a_malformed_body_gets_400_with_a_json_reason(served, collector, body, field):
    http, _ = served
    answer = await post(http, body)
    assert answer.status_code == 400
    assert answer.json()["status"] == "error"
    assert answer.json()["field"] == field
    assert answer.json()["reason"]
    assert collector.messages == []


async def test_a_message_for_another_business_number_is_refused_with_403(served, collector):
    http, _ = served
    body = build_cloud_webhook("text", did="5491100000000", msisdn=USER, text="hola")
    answer = await post(http, body)
    assert answer.status_code == 403
    assert "5491100000000" in answer.json()["reason"]
    assert collector.messages == []


async def test_a_redelivered_message_reaches_the_bot_once(served, collector):
    http, _ = served
    body = fixture("guide_text")
    first, second = await post(http, body), await post(http, body)
    assert (first.json()["messages"], second.json()["messages"]) == (1, 0)
    assert second.json()["duplicates"] == 1
    assert len(collector.messages) == 1


async def test_inline_mode_handles_a_message_the_bot_fails_on_once_and_not_again(collector):
    calls = []

    async def flaky(message):
        calls.append(message.text)
        if len(calls) == 1:
            raise RuntimeError("the bot crashed")

    channel = ChattigoInput.from_credentials(channel_settings(ack="inline"))
    async with serve_sanic(make_app(channel, flaky)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            first = await post(http, fixture("guide_text"))
            second = await post(http, fixture("guide_text"))
    assert (first.status_code, first.json()["messages"]) == (200, 1)
    assert (second.status_code, second.json()["duplicates"]) == (200, 1)
    assert calls == ["Hola"]  # a poison message is not handed over again


async def test_background_mode_answers_before_the_bot_finishes(collector):
    release, finished = asyncio.Event(), asyncio.Event()
    handled = []

    async def slow(message):
        await release.wait()
        handled.append(message.text)
        finished.set()

    channel = ChattigoInput.from_credentials(channel_settings())
    async with serve_sanic(make_app(channel, slow)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await post(http, fixture("guide_text"))
            assert (answer.status_code, answer.json()["messages"], handled) == (200, 1, [])
            release.set()
            await asyncio.wait_for(finished.wait(), timeout=10)
    assert handled == ["Hola"]


async def test_the_webhook_token_is_required_when_configured(collector):
    channel = ChattigoInput.from_credentials(channel_settings(webhook_token="t0k3n-abc"))
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            missing = await post(http, fixture("guide_text"))
            wrong = await post(http, fixture("guide_text"), params={"token": "nope"})
            right = await post(http, fixture("guide_text"), params={"token": "t0k3n-abc"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "t0k3n-abc" not in missing.text + wrong.text


async def test_a_reply_leaves_through_the_sandbox_in_chattigo_format(sandbox):
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url))
    output = channel.get_output_channel()
    await output.send_response(USER, {"text": "¡Hola! Soy Aynux."})
    await channel.client.aclose()
    [sent] = sandbox.state.select(direction="out")
    assert {k: v for k, v in sent.payload.items() if k != "id"} == {
        "did": DID, "msisdn": USER, "type": "text", "channel": "WHATSAPP",
        "content": "¡Hola! Soy Aynux.", "name": "Aynux", "isAttachment": False,
    }


async def test_dry_run_logs_test_mode_instead_of_sending(caplog, sandbox):
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url, dry_run=True))
    with caplog.at_level("INFO", logger="rasa_chattigo"):
        await channel.get_output_channel().send_response(USER, {"text": "prueba"})
    await channel.client.aclose()
    assert sandbox.state.select(direction="out") == []
    assert sandbox.state.stats.logins == 0
    assert any(r.getMessage().startswith("[TEST MODE]") and "prueba" in r.getMessage()
               for r in caplog.records)


async def test_an_oversized_body_without_content_length_gets_413(collector):
    channel = ChattigoInput.from_credentials(channel_settings(max_body_bytes=1024))
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            async def chunks():
                for _ in range(64):
                    yield b" " * 1024
            answer = await http.post("/webhooks/chattigo/webhook", content=chunks())
    assert answer.status_code == 413
    assert "max_body_bytes" in answer.json()["reason"]


async def test_a_failing_credentials_store_answers_503_not_500(tmp_path, collector, monkeypatch):
    from sqlalchemy import create_engine, text

    from rasa_chattigo.credentials._crypto import generate_key

    monkeypatch.setenv("CHATTIGO_SECRET_KEY", generate_key())
    store = f"sqlite:///{tmp_path}/c.db"
    channel = ChattigoInput.from_credentials({"credentials_store": store,
                                              "allowed_ips": LOOPBACK_ONLY})
    engine = create_engine(store)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE chattigo_credentials"))
    engine.dispose()
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await post(http, load_fixture("inbound", "guide_text"))
    assert answer.status_code == 503
    assert answer.json()["status"] == "error"
    assert collector.messages == []


async def test_an_inline_webhook_waiting_for_its_turn_holds_no_job_step_back():
    """Job steps let a webhook's handling finish first (`WebhooksInProgress`), but not its
    `ack: inline` wait for the very turn those steps make: that one would hold every step of
    the turn back for the hold."""
    seen = []

    async def bot(message):
        seen.append(_webhooks(channel).busy)

    channel = ChattigoInput.from_credentials(channel_settings(ack="inline"))
    async with serve_sanic(make_app(channel, bot)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await post(http, fixture("guide_text"))
    assert (answer.status_code, answer.json()["messages"]) == (200, 1)
    assert seen == [False]


async def test_a_client_slow_to_send_its_body_holds_no_job_step_back(collector, monkeypatch):
    channel = ChattigoInput.from_credentials(channel_settings())
    reading, read_body = asyncio.Event(), webhook_module.sanic_api.read_body

    async def signalled_read_body(request, limit):
        reading.set()
        return await read_body(request, limit)

    monkeypatch.setattr(webhook_module.sanic_api, "read_body", signalled_read_body)
    async with serve_sanic(make_app(channel, collector)) as url:
        host, port = url.split("//")[1].split(":")
        _, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"POST /webhooks/chattigo/webhook HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ob")
            await writer.drain()
            await asyncio.wait_for(reading.wait(), 5)  # its headers in, the rest awaited
            await asyncio.sleep(0.05)
            assert not _webhooks(channel).busy
        finally:
            writer.close()
            await writer.wait_closed()
    assert collector.messages == []


async def test_a_webhook_is_counted_while_its_claim_is_under_way_and_not_after(collector):
    """helper-27's test: without the count, no other test here failed."""
    channel = ChattigoInput.from_credentials(channel_settings())
    claiming, release, seen = asyncio.Event(), asyncio.Event(), []
    claim = channel.dedup.claim

    async def slow_claim(key):
        claiming.set()
        await release.wait()
        return await claim(key)

    channel.dedup.claim = slow_claim
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answering = asyncio.ensure_future(post(http, fixture("guide_text")))
            await asyncio.wait_for(claiming.wait(), 5)
            seen.append(_webhooks(channel).busy)
            release.set()
            answer = await answering
    assert (answer.status_code, seen, _webhooks(channel).busy) == (200, [True], False)


async def test_a_webhook_whose_store_fails_is_no_longer_counted(collector):
    channel = ChattigoInput.from_credentials(channel_settings())

    async def failing_claim(key):
        raise RuntimeError("a bug in the store")

    channel.dedup.claim = failing_claim
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await post(http, fixture("guide_text"))
    assert (answer.status_code, _webhooks(channel).busy) == (503, False)


def _webhooks(channel):
    """The count of webhooks being handled, which the channel's adaptive start keeps."""
    gate = channel.dispatcher._gate
    assert gate is not None  # adaptive start: on by default
    return gate._webhooks
