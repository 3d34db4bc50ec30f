"""Every WhatsApp message kind through the real Sanic app: fixture in, exact UserMessages out."""

# Expectations are hand-written (tests/fixtures/channel/README.md): never regenerate them
# from the code, or the test would check the code against itself.

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Tuple

import httpx
import pytest
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
from rasa_chattigo.credentials._crypto import Keyring, generate_key
from rasa_chattigo.credentials._store import CredentialStore

from conftest import LOOPBACK_ONLY, Collector, channel_settings, serve_sanic

FIXTURES = Path(__file__).parent / "fixtures"
INBOUND = FIXTURES / "inbound"
EXPECTED = FIXTURES / "channel" / "expected"
EXTRA_WEBHOOKS = FIXTURES / "channel" / "webhooks"
WEBHOOK = "/webhooks/chattigo/webhook"
RECEIVED = "<received>"
#: The business number of every fact-sheet fixture (conftest's DID is the guide's number).
FACT_SHEET_DID = "5491140001234"
Sanic.test_mode = True

#: Cases that fail because of a bug in the channel or inbound code: (fixture, case) -> bug.
KNOWN_BUGS: Dict[Tuple[str, int], str] = {}


def webhook_files() -> List[Path]:
    valid = [p for p in INBOUND.glob("*.json") if not p.name.startswith("broken_")]
    return sorted(valid + list(EXTRA_WEBHOOKS.glob("*.json")), key=lambda p: p.stem)


def expectation(path: Path) -> Dict[str, Any]:
    return json.loads((EXPECTED / path.name).read_text(encoding="utf-8"))


def cases() -> List[Any]:
    params = []
    for path in webhook_files():
        for index in range(len(expectation(path)["cases"])):
            bug = KNOWN_BUGS.get((path.stem, index))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(path, index, id=f"{path.stem}-{index}", marks=marks))
    return params


def at(document: Any, dotted: str) -> Any:
    """The part of a decoded fixture a dotted path (`entry.0.changes.0...`) names."""
    for part in filter(None, dotted.split(".")):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def make_app(channel: ChattigoInput, on_new_message: Any) -> Sanic:
    app = Sanic(f"test_channel_inbound_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
    return app


def store_channel(tmp_path: Path, dids: List[str], **settings: Any) -> ChattigoInput:
    """A channel serving several business numbers from a SQLite credentials store."""
    key_file = tmp_path / "chattigo.keys"
    key_file.write_text(generate_key() + "\n")
    key_file.chmod(0o600)
    url = f"sqlite:///{tmp_path}/credentials.db"
    store = CredentialStore(url, Keyring(key_file.read_text().split()))
    store.create_all()
    for did in dids:
        store.add(did, username=f"bot-{did}@empresa", password="s4ndbox-pw", bot_name="Aynux")
    store.close()
    return ChattigoInput.from_credentials({
        "credentials_store": url, "secret_key_file": str(key_file),
        "base_url": "http://127.0.0.1:9", "ack": "inline", "allowed_ips": LOOPBACK_ONLY,
        **settings,
    })


def inline_channel(**settings: Any) -> ChattigoInput:
    return ChattigoInput.from_credentials(channel_settings(ack="inline", **settings))


async def deliver(
    channel: ChattigoInput, body: bytes
) -> Tuple[httpx.Response, Collector, int, int]:
    """POSTs raw bytes to the channel behind a real server; the answer comes after handling."""
    collector = Collector()
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            before = int(time.time())
            answer = await http.post(WEBHOOK, content=body,
                                     headers={"Content-Type": "application/json"})
            after = int(time.time())
    return answer, collector, before, after


def expected_messages(case: Dict[str, Any], fixture: Any) -> List[Dict[str, Any]]:
    found = []
    for message in case["messages"]:
        metadata = dict(message["metadata"])
        if "raw" in message:  # only kinds nothing else describes keep the raw message
            metadata["raw"] = at(fixture, message["raw"])
        if "contact" in message:
            metadata["contact"] = at(fixture, message["contact"])
        found.append({**{k: message[k] for k in ("text", "sender_id", "message_id",
                                                  "input_channel")}, "metadata": metadata})
    return found


def received_messages(collector: Collector, expected: List[Dict[str, Any]], before: int,
                      after: int) -> List[Dict[str, Any]]:
    """The UserMessages as plain dicts; a "<received>" timestamp is checked, then matched."""
    wants_received = {m["message_id"] for m in expected
                      if m["metadata"]["timestamp"] == RECEIVED}
    found = []
    for message in collector.messages:
        metadata = json.loads(json.dumps(message.metadata))  # what a tracker store keeps
        assert metadata == message.metadata
        assert isinstance(message.output_channel, ChattigoOutput)
        if message.message_id in wants_received:
            assert before <= metadata["timestamp"] <= after
            metadata["timestamp"] = RECEIVED
        found.append({"text": message.text, "sender_id": message.sender_id,
                      "message_id": message.message_id,
                      "input_channel": message.input_channel, "metadata": metadata})
    return found


def conversations(messages: List[Dict[str, Any]]) -> Dict[str, List[str]]:
    """Each sender's message ids in order (order is kept per user; users run in parallel)."""
    grouped: Dict[str, List[str]] = {}
    for message in messages:
        grouped.setdefault(message["sender_id"], []).append(message["message_id"])
    return grouped


def test_every_valid_webhook_fixture_has_a_hand_written_expectation():
    webhooks = {p.name for p in webhook_files()}
    expected = {p.name for p in EXPECTED.glob("*.json")}
    assert (sorted(webhooks - expected), sorted(expected - webhooks)) == ([], [])


@pytest.mark.parametrize(("path", "index"), cases())
async def test_a_webhook_reaches_the_bot_exactly_as_expected(path, index, tmp_path):
    case = expectation(path)["cases"][index]
    if "store_dids" in case:
        channel = store_channel(tmp_path, case["store_dids"], **case["settings"])
    else:
        channel = inline_channel(**case["settings"])
    answer, collector, before, after = await deliver(channel, path.read_bytes())
    assert (answer.status_code, answer.json()) == (case["status"], case["answer"])
    expected = expected_messages(case, json.loads(path.read_bytes()))
    received = received_messages(collector, expected, before, after)
    assert conversations(received) == conversations(expected)
    wanted = {message["message_id"]: message for message in expected}
    for message in received:
        assert message == wanted[message["message_id"]]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("broken_entry_not_list", "entry"),
        ("broken_unknown_format", "object"),
    ],
)
async def test_a_body_in_no_known_shape_gets_400_naming_the_field(name, field):
    answer, collector, _, _ = await deliver(inline_channel(did=FACT_SHEET_DID),
                                            (INBOUND / f"{name}.json").read_bytes())
    body = answer.json()
    assert (answer.status_code, body["status"], body["field"]) == (400, "error", field)
    assert sorted(body) == ["field", "reason", "status"]
    assert isinstance(body["reason"], str) and body["reason"].strip()
    assert collector.messages == []


@pytest.mark.parametrize(
    ("name", "problem", "delivered"),
    [
        ("broken_message_without_sender",
         {"field": "entry.0.changes.0.value.messages.0.from",
          "reason": "is missing or empty, and so is from_user_id"}, 0),
        ("broken_text_without_body",
         {"field": "entry.0.changes.0.value.messages.0.text.body", "reason": "field required"},
         1),
    ],
)
async def test_an_authenticated_body_in_a_known_shape_gets_200_listing_its_problem(
        name, problem, delivered):
    answer, collector, _, _ = await deliver(inline_channel(did=FACT_SHEET_DID),
                                            (INBOUND / f"{name}.json").read_bytes())
    assert (answer.status_code, answer.json()["problems"]) == (200, [problem])
    assert [m.text for m in collector.messages] == ["/whatsapp_unsupported"] * delivered


async def test_a_mixed_batch_for_one_served_number_delivers_it_and_reports_the_other():
    body = (INBOUND / "batch_mixed.json").read_bytes()
    answer, collector, _, _ = await deliver(inline_channel(did=FACT_SHEET_DID), body)
    summary = answer.json()
    assert (answer.status_code, summary["messages"], summary["statuses"], summary["ignored"]) == (
        200, 2, 2, 1)
    assert {p["field"] for p in summary["problems"]} == {"business_number"}
    assert all("525540001234" in p["reason"] for p in summary["problems"])
    assert [(m.message_id, m.sender_id) for m in collector.messages] in (
        [("wamid.MIXED01", "5491155551234"), ("wamid.MIXED02", "5215512345678")],
        [("wamid.MIXED02", "5215512345678"), ("wamid.MIXED01", "5491155551234")],
    )


def warnings_of(caplog) -> List[str]:
    """WARNINGs about the webhook's content (not the start-up advice on securing the route)."""
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name.startswith("rasa_chattigo")
            and r.name != "rasa_chattigo.guard"]


async def test_a_failed_status_is_logged_at_warning_with_code_and_title(caplog):
    body = (INBOUND / "status_failed.json").read_bytes()
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo"):
        answer, collector, _, _ = await deliver(inline_channel(did=FACT_SHEET_DID), body)
    assert (answer.status_code, answer.json()["statuses"], collector.messages) == (200, 1, [])
    failed = [m for m in warnings_of(caplog) if "131047" in m]
    assert len(failed) == 1
    assert "Re-engagement message" in failed[0]
    assert "wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABEYEjQ1QjE3RkM1QUU2RTlFRDRBNwA=" in failed[0]
    assert "5491155551234" in failed[0]


async def test_a_delivered_status_logs_no_warning(caplog):
    body = (INBOUND / "status_delivered.json").read_bytes()
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo"):
        answer, _, _, _ = await deliver(inline_channel(did=FACT_SHEET_DID), body)
    assert (answer.status_code, warnings_of(caplog)) == (200, [])


async def test_the_failed_status_inside_a_mixed_batch_is_logged_too(caplog, tmp_path):
    channel = store_channel(tmp_path, [FACT_SHEET_DID, "525540001234"])
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo"):
        answer, _, _, _ = await deliver(channel, (INBOUND / "batch_mixed.json").read_bytes())
    failed = [m for m in warnings_of(caplog) if "131047" in m]
    assert answer.status_code == 200
    assert len(failed) == 1
    assert "Re-engagement message" in failed[0] and "wamid.OUT02" in failed[0]


async def test_value_level_errors_are_logged_at_warning_with_code_and_title(caplog):
    body = (INBOUND / "value_errors.json").read_bytes()
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo"):
        answer, _, _, _ = await deliver(inline_channel(did=FACT_SHEET_DID), body)
    assert answer.status_code == 200
    assert [m for m in warnings_of(caplog) if "130429" in m and "Rate limit hit" in m] != []


async def test_a_legacy_echo_logs_nothing_at_warning(caplog):
    body = (INBOUND / "legacy_outbound_echo.json").read_bytes()
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo"):
        answer, collector, _, _ = await deliver(inline_channel(), body)
    assert (answer.status_code, answer.json()["ignored"], collector.messages) == (200, 1, [])
    assert warnings_of(caplog) == []
