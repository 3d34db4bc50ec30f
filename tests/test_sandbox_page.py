"""The web chat's server side: its files, the event stream, redelivery, refusals, config."""

import json
from typing import Any, AsyncIterator, Dict, List, Tuple

import httpx
import pytest

from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.receiver import WebhookReceiver

from conftest import DID, USER, one_user_sandbox, sandbox_posting_to, text_send


@pytest.fixture
async def sandbox(receiver: WebhookReceiver) -> AsyncIterator[Sandbox]:
    async with sandbox_posting_to(receiver, bot_name="Aynux", people={USER: "Ana"}) as running:
        yield running


async def read_frames(http: httpx.AsyncClient, count: int,
                      **headers: str) -> List[Tuple[str, str, Dict[str, Any]]]:
    """The first `count` events of the stream as (id, event, data), logins left out."""
    frames: List[Tuple[str, str, Dict[str, Any]]] = []
    async with http.stream("GET", "/sandbox/events", headers=headers) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        fields: Dict[str, str] = {}
        async for line in response.aiter_lines():
            if line:
                key, _, value = line.partition(": ")
                fields[key] = value
            elif fields.get("event", "login") != "login":
                frames.append((fields["id"], fields["event"], json.loads(fields["data"])))
                if len(frames) == count:
                    return frames
                fields = {}
            else:
                fields = {}
    return frames


@pytest.mark.parametrize(("path", "kind"), [
    ("/", "text/html"), ("/static/chat.js", "text/javascript"),
    ("/static/chat.css", "text/css"), ("/static/demo.png", "image/png")])
async def test_the_page_and_its_files_are_served(client, path, kind):
    answer = await client.get(path)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith(kind)


async def test_the_page_fetches_nothing_from_the_internet(client):
    page = (await client.get("/")).text + (await client.get("/static/chat.js")).text
    assert "//cdn" not in page and 'src="http' not in page and "import(" not in page


async def test_the_stream_replays_the_conversation_then_follows_it(client):
    await client.post(f"/sandbox/users/{USER}/send", json={"did": DID, "text": "hola"})
    await client.post("/webhooks/inbound", json=text_send("m-1", "¡Hola!"))

    frames = await read_frames(client, 3)

    assert [(event, data.get("text")) for _, event, data in frames] == [
        ("message", "hola"), ("delivery", None), ("message", "¡Hola!")]
    user, delivery, bot = (data for _, _, data in frames)
    assert (user["direction"], user["did"], user["msisdn"]) == ("in", DID, USER)
    assert (delivery["seq"], delivery["webhook_status"]) == (user["seq"], 200)
    assert bot["wamid"].startswith("wamid.") and bot["payload"]["content"] == "¡Hola!"


async def test_the_stream_resumes_after_last_event_id(client):
    await client.post("/webhooks/inbound", json=text_send("m-1", "uno"))
    await client.post("/webhooks/inbound", json=text_send("m-2", "dos"))
    [(first_id, _, _)] = await read_frames(client, 1)

    [(_, event, data)] = await read_frames(client, 1, **{"Last-Event-ID": first_id})

    assert (event, data["text"]) == ("message", "dos")


async def test_a_refused_send_is_an_event_naming_its_conversation(client, sandbox):
    answer = await client.post("/webhooks/inbound", json=text_send("m-1", ""))

    events = (await client.get("/sandbox/events.json")).json()["events"]
    [event] = [e for e in events if e["kind"] != "login"]
    assert answer.status_code == 400
    assert (event["kind"], event["data"]["did"], event["data"]["msisdn"]) == ("refused", DID, USER)
    assert (event["data"]["status"], event["data"]["reason"], event["data"]["field"]) == (
        400, "content: must not be empty", "content")


async def test_redelivering_posts_the_same_webhook_again(client, sandbox, receiver):
    sent = await client.post(f"/sandbox/users/{USER}/send", json={"did": DID, "text": "hola"})

    again = await client.post(f"/sandbox/messages/{sandbox.state.messages[0].seq}/redeliver")

    assert (again.status_code, again.json()["message_id"]) == (200, sent.json()["message_id"])
    assert [w.body for w in receiver.received] == [receiver.received[0].body] * 2
    assert len(sandbox.state.messages) == 1


async def test_redelivering_an_unknown_message_is_404(client):
    answer = await client.post("/sandbox/messages/99/redeliver")

    assert (answer.status_code, answer.json()["field"]) == (404, "seq")


async def test_a_slow_answer_is_delayed_then_accepted(client, sandbox):
    await client.post("/sandbox/faults", json={"mode": "slow", "count": 1, "stall_seconds": 0.01})

    answer = await client.post("/webhooks/inbound", json=text_send())

    assert answer.status_code == 200
    assert (sandbox.state.stats.faults_injected, sandbox.state.stats.accepted) == (1, 1)


async def test_config_names_numbers_people_and_switches(client):
    webhooks = (await client.get("/sandbox/stats")).json()["webhooks"]
    assert (await client.get("/sandbox/config")).json() == {
        "dids": [DID], "webhooks": webhooks,
        "people": [{"phone": USER, "name": "Ana"}], "bot_name": "Aynux", "statuses": False,
        "window": False}


async def test_a_reset_empties_the_stream_with_a_reset_event(client):
    await client.post("/webhooks/inbound", json=text_send())

    await client.post("/sandbox/reset")

    assert [e["kind"] for e in (await client.get("/sandbox/events.json")).json()["events"]] == [
        "reset"]


async def test_stopping_the_sandbox_ends_open_streams():
    sandbox = one_user_sandbox()
    await sandbox.start()
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        async with http.stream("GET", "/sandbox/events") as response:
            await sandbox.stop()
            rest = [line async for line in response.aiter_lines()]
    assert rest[:1] == ["retry: 1000"]


def test_without_chromium_the_browser_tests_say_what_to_install(monkeypatch):
    import webchat

    monkeypatch.setattr(webchat, "CHROMEDRIVER", "/nonexistent/chromedriver")

    assert webchat.browser_missing() == (
        "no Chromium: install Debian's chromium and chromium-driver")


@pytest.mark.parametrize("path", ["/static/missing.js", "/static/%2e%2e", "/static/app.py"])
async def test_only_the_pages_own_files_are_served_from_static(client, path):
    assert (await client.get(path)).status_code == 404
