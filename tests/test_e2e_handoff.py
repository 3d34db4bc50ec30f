"""Issues 14 and 15 end to end: real `rasa run` on the trained demo bot, the real sandbox.

Hand-off: the user asks for a person, the bot keeps quiet while an agent has the chat, and
greets when it comes back, on one instance and on two sharing Redis and PostgreSQL.
The 24-hour window: with the sandbox's clock moved 25 hours, a proactive message becomes the
configured template (`template`), is refused and reported back to the bot (`send`), or is not
sent (`drop`); inside the window nothing changes.
"""

import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import httpx
import pytest
import yaml

from rasa_chattigo.devtools._stack import LocalStack

from conftest import requires_nlu, requires_postgres, requires_rasa_cli, requires_redis, server_logs
from test_e2e import DID, PROJECT, WhatsAppUser, ensure_model, responses

pytestmark = [pytest.mark.e2e, requires_rasa_cli, requires_nlu]

PERSON = "quiero hablar con una persona"
WHILE_WITH_AGENT = ["hola?", "¿sigue ahí alguien?", "quiero dar de baja el servicio"]
HOUR = 3600.0


def phone() -> str:
    return "549264" + str(uuid.uuid4().int)[:7]


def credentials(path: Path, **extra: Any) -> str:
    path.write_text(yaml.safe_dump({"rasa_chattigo.ChattigoInput": {
        "base_url": "${CHATTIGO_BASE_URL}", "did": "${CHATTIGO_DID}",
        "username": "${CHATTIGO_USERNAME}", "password": "${CHATTIGO_PASSWORD}",
        "bot_name": "Aynux", "webhook_token": "${CHATTIGO_WEBHOOK_TOKEN}", **extra}}))
    return str(path)


def tracker(rasa_url: str, sender: str) -> Dict[str, Any]:
    answer = httpx.get(f"{rasa_url}/conversations/{sender}/tracker", timeout=60)
    answer.raise_for_status()
    return dict(answer.json())


def user_texts_after_pause(state: Dict[str, Any]) -> List[str]:
    events = state["events"]
    paused = max(i for i, e in enumerate(events) if e["event"] == "pause")
    return [e["text"] for e in events[paused:] if e["event"] == "user"]


def agent_side(stack: LocalStack, user: WhatsAppUser, action: str, **body: Any) -> Any:
    answer = httpx.post(f"{stack.sandbox_url}/sandbox/agent/{DID}/{user.phone}/{action}",
                        json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def bot_sends(user: WhatsAppUser, count: int) -> List[Dict[str, Any]]:
    """The next `count` messages the bot sent this user (agent messages skipped)."""
    found: List[Dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(found) < count and time.monotonic() < deadline:
        batch = user._messages(user.seq, 10)
        if batch:
            user.seq = batch[-1]["seq"]
            found += [m["payload"] for m in batch if m["payload"].get("type") != "agent"]
    return found


def hand_off_and_back(stack: LocalStack, user: WhatsAppUser, rasa_urls: List[str]) -> None:
    """The issue's Done-when, with the webhook moved between instances as given."""
    replies = [r["payload"] for r in user.say(type="text", text=PERSON, expect=2)]
    assert [r["type"] for r in replies] == ["text", "transfer"]
    assert replies[0]["content"] in responses("utter_derivar_humano")
    assert httpx.get(f"{stack.sandbox_url}/sandbox/agent/{DID}/{user.phone}").json()[
        "holder"] == "agent"
    deadline = time.monotonic() + 30  # the pause follows the turn's tracker save
    while not tracker(rasa_urls[0], user.phone)["paused"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tracker(rasa_urls[0], user.phone)["paused"] is True
    paused_at = time.monotonic()
    for n, text in enumerate(WHILE_WITH_AGENT):
        stack.register_webhook(stack.webhook_of(rasa_urls[n % len(rasa_urls)]))
        assert user.say(type="text", text=text, expect=0) == []
    assert user_texts_after_pause(tracker(rasa_urls[-1], user.phone)) == WHILE_WITH_AGENT
    agent_side(stack, user, "messages", text="Hola, soy Marta, del equipo de Aynux.")
    stack.register_webhook(stack.webhook_of(rasa_urls[-1]))
    handed_back = time.monotonic()
    assert agent_side(stack, user, "handback")["webhook_status"] == 200
    [greeting] = bot_sends(user, 1)
    print(f"\n{len(rasa_urls)} instance(s): hand-back to greeting "
          f"{(time.monotonic() - handed_back) * 1000:.0f} ms; three paused messages and the "
          f"agent's line took {(handed_back - paused_at):.1f} s")
    assert greeting["content"] in responses("utter_de_vuelta")
    stack.register_webhook(stack.webhook_of(rasa_urls[0]))
    [answer] = user.say(type="text", text="¿a qué hora atienden?")
    assert answer["payload"]["content"] in responses("utter_horarios")
    assert tracker(rasa_urls[0], user.phone)["paused"] is False


def test_the_bot_hands_the_chat_to_an_agent_keeps_quiet_and_greets_when_it_comes_back():
    logs = server_logs("e2e-handoff")
    with LocalStack(PROJECT, ensure_model(), did=DID, logs=logs,
                    rasa_args=["--enable-api"]) as stack:
        stack.start()
        hand_off_and_back(stack, WhatsAppUser(stack, phone()), stack.rasa_urls)


@requires_redis
@requires_postgres
def test_two_instances_sharing_redis_and_postgres_see_the_pause_and_the_hand_back():
    logs = server_logs("e2e-handoff-two")
    run = uuid.uuid4().hex[:8]
    (logs / "endpoints.yml").write_text(yaml.safe_dump({
        "tracker_store": {"type": "SQL", "dialect": "postgresql", "url": "127.0.0.1",
                          "port": 5432, "db": "test", "username": "postgres"},
        "lock_store": {"type": "redis", "url": "127.0.0.1", "port": 6379, "db": 1,
                       "key_prefix": f"handoff{run}"},
    }))
    creds = credentials(logs / "credentials.yml", dedup_store="redis://127.0.0.1:6379/2")
    with LocalStack(PROJECT, ensure_model(), did=DID, logs=logs, rasa_args=["--enable-api"],
                    endpoints=str(logs / "endpoints.yml"), credentials=creds) as stack:
        stack.start(rasa_instances=2)
        hand_off_and_back(stack, WhatsAppUser(stack, phone()), stack.rasa_urls)


# --- the 24-hour window ----------------------------------------------------------------------


def wrote_long_ago(rasa_url: str, sender: str, hours: float) -> None:
    """The conversation's history: the user last wrote `hours` ago (as after a CRM import)."""
    event = {"event": "user", "text": "hola", "timestamp": time.time() - hours * HOUR,
             "input_channel": "chattigo",
             "parse_data": {"intent": {"name": "saludar", "confidence": 1.0}, "entities": []}}
    answer = httpx.post(f"{rasa_url}/conversations/{sender}/tracker/events", json=[event],
                        timeout=60)
    assert answer.status_code == 200, answer.text


def remind(rasa_url: str, sender: str) -> None:
    """A proactive message: Rasa's trigger_intent, answered once the bot's turn is done."""
    answer = httpx.post(f"{rasa_url}/conversations/{sender}/trigger_intent",
                        params={"output_channel": "chattigo"},
                        json={"name": "recordatorio_factura"}, timeout=60)
    assert answer.status_code == 200, answer.text


def sent_to(stack: LocalStack, sender: str) -> List[Dict[str, Any]]:
    answer = httpx.get(f"{stack.sandbox_url}/sandbox/messages",
                       params={"did": DID, "msisdn": sender})
    return [m["payload"] for m in answer.json()["messages"]]


def restart_with(stack: LocalStack, creds: str) -> str:
    stack.stop_rasa(len(stack.rasa_urls) - 1)
    stack.credentials = creds
    url = stack.start_rasa(wait=True)
    stack.register_webhook(stack.webhook_of(url))
    return url


def failed_intents(state: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [{e["entity"]: e["value"] for e in event["parse_data"]["entities"]}
            for event in state["events"] if event["event"] == "user"
            and event["parse_data"]["intent"]["name"] == "whatsapp_delivery_failed"]


def test_outside_the_24_hour_window_template_send_and_drop():
    logs = server_logs("e2e-window")
    reminder = responses("utter_recordatorio_factura")[0]
    with LocalStack(PROJECT, ensure_model(), did=DID, logs=logs,
                    rasa_args=["--enable-api"]) as stack:
        stack.start()
        url = stack.rasa_urls[0]
        moved = httpx.post(f"{stack.sandbox_url}/sandbox/clock", json={"advance": "+25h"})
        assert moved.json()["offset_seconds"] == 25 * HOUR

        # template (the demo bot's credentials.yml): the reminder goes out as aviso_pendiente
        late = phone()
        wrote_long_ago(url, late, 25)
        remind(url, late)
        [template] = sent_to(stack, late)
        assert (template["type"], template["hsm"]["template"]) == ("HSM", "aviso_pendiente")
        assert template["hsm"]["parameters"] == [reminder]

        # inside the window nothing changes: free-form, delivered
        user = WhatsAppUser(stack, phone())
        user.say(type="text", text="hola")
        remind(url, user.phone)
        assert sent_to(stack, user.phone)[-1]["content"] == reminder

        # send: the free-form reminder is refused by WhatsApp; the bot hears of it (131047)
        url = restart_with(stack, credentials(logs / "send.yml", outside_window="send"))
        refused = phone()
        wrote_long_ago(url, refused, 25)
        remind(url, refused)
        deadline = time.monotonic() + 60
        while not failed_intents(tracker(url, refused)) and time.monotonic() < deadline:
            time.sleep(0.2)
        [failure] = failed_intents(tracker(url, refused))
        [reminder_sent, *after] = sent_to(stack, refused)
        assert reminder_sent["content"] == reminder
        assert failure == {"code": "131047", "title": "Re-engagement message",
                           "message_id": reminder_sent["id"]}
        assert [a["hsm"]["template"] for a in after] == ["retomar_conversacion"]

        # drop: nothing is sent, and the log says why
        url = restart_with(stack, credentials(logs / "drop.yml", outside_window="drop"))
        dropped = phone()
        wrote_long_ago(url, dropped, 25)
        remind(url, dropped)
        assert sent_to(stack, dropped) == []
    log = (logs / "rasa-2.log").read_text()
    assert (f"Conversation {dropped} is outside WhatsApp's 24-hour window (the user last wrote "
            "25.0 h ago): reply not sent (outside_window: drop)") in log
    warned = (logs / "rasa-1.log").read_text()
    assert f"Conversation {refused} is outside WhatsApp's 24-hour window" in warned
