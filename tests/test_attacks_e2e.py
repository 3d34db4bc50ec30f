"""Issue 12's attacks against a real `rasa run` (and the sandbox): no 5xx of ours, no hang,
bounded memory, the token in no server log, and a real Meta payload with errors in the tracker."""

import json
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import httpx
import pytest
from test_attacks import flow_reply, head, raw_exchange

from rasa_chattigo.devtools._stack import LocalStack

from conftest import load_fixture, requires_nlu, requires_rasa_cli, server_logs
from test_e2e import DID, ensure_model

pytestmark = [pytest.mark.e2e, requires_rasa_cli, requires_nlu]

PROJECT = Path(__file__).resolve().parent.parent / "bot_project"
WEBHOOK_TOKEN = "attack-e2e-webhook-token-0123456789"
#: How much more memory (MB) `rasa run` may hold after the Flow attack than before it.
RASA_RSS_BOUND_MB = 300
#: Every route's body limit, for what the channel does not own (docs/security.md).
REQUEST_MAX_SIZE = 6_000_000


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    logs = server_logs("attacks")
    running = LocalStack(PROJECT, ensure_model(), did=DID, logs=logs,
                         webhook_token=WEBHOOK_TOKEN, rasa_args=["--enable-api"],
                         extra_env={"SANIC_REQUEST_MAX_SIZE": str(REQUEST_MAX_SIZE)})
    with running.start():
        yield running


def rasa_rss_mb(stack: LocalStack) -> float:
    with open(f"/proc/{stack.pids['rasa-0']}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def healthy(stack: LocalStack) -> bool:
    """The health check answers within a second (a client timeout, not a timing assertion)."""
    with httpx.Client(timeout=1.0) as http:
        return http.get(f"{stack.rasa_urls[0]}/webhooks/chattigo/").status_code == 200


def post(stack: LocalStack, body: Any) -> httpx.Response:
    """POSTs to the webhook, the token in a header (httpx logs URLs)."""
    with httpx.Client(timeout=30) as http:
        return http.post(f"{stack.rasa_urls[0]}/webhooks/chattigo/webhook", json=body,
                         headers={"X-Webhook-Token": WEBHOOK_TOKEN})


def user_events(stack: LocalStack, sender: str) -> List[Dict[str, Any]]:
    """The sender's user events, once the bot has answered the last one (waits up to 60 s)."""
    with httpx.Client(base_url=stack.rasa_urls[0], timeout=10) as http:
        for _ in range(600):
            events = http.get(f"/conversations/{sender}/tracker").json().get("events", [])
            users = [e for e in events if e["event"] == "user"]
            if users and events[-1]["event"] == "action" and \
                    events[-1]["name"] == "action_listen":
                return users
            time.sleep(0.1)
    raise AssertionError(f"the bot never handled {sender}'s message")


@pytest.mark.parametrize("value", ["-1", "1e3"])
@pytest.mark.parametrize("path", [f"/webhooks/chattigo/webhook?token={WEBHOOK_TOKEN}",
                                  "/webhooks/rest/webhook"], ids=["channel", "rasa-rest"])
async def test_a_bad_content_length_gets_400_and_rasa_keeps_answering(stack, value, path):
    status, closed = await raw_exchange(stack.rasa_urls[0], head(path, value))
    assert (status.split(b" ")[1], closed) == (b"400", True)
    assert healthy(stack)


def test_a_body_over_the_sanic_limit_gets_413_on_a_route_not_ours(stack):
    with httpx.Client(timeout=30) as http:
        answer = http.post(f"{stack.rasa_urls[0]}/webhooks/rest/webhook",
                           content=b" " * (REQUEST_MAX_SIZE + 1))
    assert answer.status_code == 413
    assert healthy(stack)


def test_a_flow_reply_with_20000_fields_keeps_rasa_bounded(stack):
    before = rasa_rss_mb(stack)
    body = flow_reply(20_000)
    body = json.loads(json.dumps(body).replace("5492644470001", "5492644479001"))
    assert post(stack, body).status_code == 200
    (event,) = user_events(stack, "5492644479001")[-1:]
    assert len(event["parse_data"]["entities"]) <= 32
    assert healthy(stack)
    assert rasa_rss_mb(stack) - before < RASA_RSS_BOUND_MB


def test_a_real_meta_payload_with_errors_reaches_the_tracker(stack):
    sender = f"549264447{uuid.uuid4().int % 10**4:04d}"
    raw = json.dumps(load_fixture("inbound", "interactive_unsupported_with_value_error"))
    body = json.loads(raw.replace("5491140001234", DID).replace("5491155551234", sender))
    answer = post(stack, body)
    assert (answer.status_code, answer.json()["messages"]) == (200, 1)
    (event,) = user_events(stack, sender)
    assert event["text"] == "/whatsapp_unsupported"
    assert [e["code"] for e in event["metadata"]["errors"]] == [131000]


async def test_the_token_is_in_no_server_log_even_when_sanic_logs_an_error(stack):
    # Rasa's REST channel fails on a JSON array: Sanic logs the whole URL at ERROR
    request = head(f"/webhooks/rest/webhook?token={WEBHOOK_TOKEN}", "2", body=b"[]")
    status, _ = await raw_exchange(stack.rasa_urls[0], request, closes=False)
    assert status.split(b" ")[1] == b"500"
    assert healthy(stack)
    rasa_log = (stack.logs / "rasa-0.log").read_text(encoding="utf-8", errors="replace")
    assert "token=***" in rasa_log  # Sanic did log the URL
    for log in stack.logs.glob("*.log"):
        assert WEBHOOK_TOKEN not in log.read_text(encoding="utf-8", errors="replace"), log.name
