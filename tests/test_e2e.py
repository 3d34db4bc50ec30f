"""End to end: a real `rasa run` on the trained bot_project, the real sandbox, real HTTP."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import httpx
import pytest
import yaml

from rasa_chattigo.devtools._stack import LocalStack

from conftest import MODELS, requires_nlu, requires_rasa_cli, server_logs

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "bot_project"
MODEL = PROJECT / MODELS / "current.tar.gz"
DID = "5492644710400"

pytestmark = [pytest.mark.e2e, requires_rasa_cli, requires_nlu]


def ensure_model() -> Path:
    """The model `make test` trains; trained here when pytest runs on its own."""
    if not MODEL.exists():
        subprocess.run(
            [str(Path(sys.executable).parent / "rasa"), "train", "--fixed-model-name", "current",
             "--out", MODELS, "--quiet"],
            cwd=PROJECT, check=True,
        )
    return MODEL


def responses(name: str) -> List[str]:
    domain = yaml.safe_load((PROJECT / "domain.yml").read_text())
    return [variant["text"] for variant in domain["responses"][name]]


class WhatsAppUser:
    """One phone, talking through the sandbox; `say` returns the bot's replies as sent."""

    #: One HTTP client per sandbox, shared by its users and closed with the stack.
    clients: Dict[str, httpx.Client] = {}

    def __init__(self, stack: LocalStack, phone: str, did: str = DID) -> None:
        self.stack, self.phone, self.did = stack, phone, did
        url = stack.sandbox_url
        self.http = self.clients.get(url) or self.clients.setdefault(
            url, httpx.Client(base_url=url, timeout=60))
        self.seq = max((m["seq"] for m in self._messages(0, 0)), default=0)

    def _messages(self, after: int, wait: float) -> List[Dict[str, Any]]:
        answer = self.http.get("/sandbox/messages", params={
            "did": self.did, "msisdn": self.phone, "after": after, "wait": wait})
        answer.raise_for_status()
        return answer.json()["messages"]

    def say(self, expect: int = 1, **body: Any) -> List[Dict[str, Any]]:
        sent = self.http.post(f"/sandbox/users/{self.phone}/send", json={"did": self.did, **body})
        assert sent.status_code == 200, sent.text
        assert sent.json()["webhook_status"] == 200, sent.json()
        replies: List[Dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(replies) < expect and time.monotonic() < deadline:
            batch = self._messages(self.seq, 10)
            if batch:
                self.seq = batch[-1]["seq"]
                replies += batch
        time.sleep(0.5)  # anything beyond `expect` would be a bug: collect it too
        extra = self._messages(self.seq, 0)
        if extra:
            self.seq = extra[-1]["seq"]
        return replies + extra


@pytest.fixture(scope="module")
def stack():
    model = ensure_model()
    logs = server_logs("e2e")
    endpoints = logs / "endpoints.yml"
    # A SQL tracker store, so conversations survive the restart test.
    endpoints.write_text(yaml.safe_dump({"tracker_store": {
        "type": "SQL", "dialect": "sqlite", "db": str(logs / "trackers.db")}}))
    running = LocalStack(PROJECT, model, did=DID, logs=logs, endpoints=str(endpoints),
                         rasa_args=["--enable-api"])
    try:
        running.start()
        yield running
    finally:
        running.stop()
        for client in WhatsAppUser.clients.values():
            client.close()
        WhatsAppUser.clients.clear()


def test_hola_gets_a_spanish_greeting_in_chattigo_format(stack):
    [reply] = WhatsAppUser(stack, "5492644472542").say(type="text", text="hola", name="Ana")
    payload = reply["payload"]
    assert {k: payload[k] for k in ("did", "msisdn", "name", "type", "channel", "isAttachment")} \
        == {"did": DID, "msisdn": "5492644472542", "name": "Aynux", "type": "text",
            "channel": "WHATSAPP", "isAttachment": False}
    assert payload["content"] in [text.replace("{name}", "Ana") for text in responses(
        "utter_saludo")] or payload["content"] in responses("utter_saludo")


def test_a_button_tap_triggers_the_buttons_payload(stack):
    user = WhatsAppUser(stack, "5492644000001")
    replies = user.say(type="button_reply", reply_id='/elegir_plan{"plan":"premium"}',
                       title="Premium · 1000 Mb")
    assert "premium" in replies[0]["payload"]["content"].lower()


def test_a_shared_location_is_answered_with_its_address(stack):
    user = WhatsAppUser(stack, "5492644000002")
    reply, *_ = user.say(type="location", latitude=-34.6037, longitude=-58.3816,
                       place_name="Obelisco", address="Av. 9 de Julio s/n")
    assert "Av. 9 de Julio s/n" in reply["payload"]["content"]


def test_a_numbered_menu_answered_with_2_picks_the_second_button(stack):
    user = WhatsAppUser(stack, "5492644000003")
    [menu] = user.say(type="text", text="¿Qué planes tienen?")
    assert "2. Estándar · 300 Mb" in menu["payload"]["content"]
    replies = user.say(type="text", text="2")
    assert replies[0]["payload"]["content"].startswith("Elegiste el plan estándar")


def test_the_menu_survives_a_restart_of_rasa_run(stack):
    user = WhatsAppUser(stack, "5492644000004")
    [menu] = user.say(type="text", text="quiero ver los planes")
    assert "3. Premium · 1000 Mb" in menu["payload"]["content"]
    stack.stop_rasa(0)
    url = stack.start_rasa(wait=True)
    stack.register_webhook(stack.webhook_of(url))
    replies = user.say(type="text", text="3")
    assert "premium" in replies[0]["payload"]["content"].lower()


def test_a_proactive_message_reaches_the_whatsapp_user(stack):
    user = WhatsAppUser(stack, "5492644000005")
    user.say(type="text", text="hola")  # inside WhatsApp's 24-hour window (docs/24-hour-window.md)
    rasa_url = stack.rasa_urls[-1]
    answer = httpx.post(
        f"{rasa_url}/conversations/{user.phone}/trigger_intent",
        params={"output_channel": "chattigo"}, json={"name": "horarios"}, timeout=60)
    assert answer.status_code == 200, answer.text
    [reply] = user._messages(user.seq, 10)
    assert reply["payload"]["msisdn"] == user.phone
    assert reply["payload"]["content"] in responses("utter_horarios")


def test_the_conversation_view_shows_both_directions_in_order(stack):
    user = WhatsAppUser(stack, "5492644000006")
    user.say(type="text", text="hola")
    answer = httpx.get(f"{stack.sandbox_url}/sandbox/conversations/{DID}/{user.phone}")
    directions = [m["direction"] for m in answer.json()["messages"]]
    assert directions == ["in", "out"]
    assert json.loads(json.dumps(answer.json()))["messages"][0]["text"] == "hola"


SECOND_DID = "5491140001234"


def test_two_numbers_served_by_one_rasa_run_reply_from_the_number_addressed():
    """A credentials store with two numbers, made with the CLI; one `rasa run` serves both."""
    from rasa_chattigo.credentials._crypto import generate_key

    model = ensure_model()
    logs = server_logs("two-numbers")
    key = generate_key()
    store = f"sqlite:///{logs / 'credentials.db'}"
    (logs / "credentials.yml").write_text(yaml.safe_dump({"rasa_chattigo.ChattigoInput": {
        "base_url": "${CHATTIGO_BASE_URL}", "did": "${CHATTIGO_DID}", "credentials_store": store,
        "webhook_token": "${CHATTIGO_WEBHOOK_TOKEN}"}}))
    stack = LocalStack(PROJECT, model, did=DID, logs=logs,
                       credentials=str(logs / "credentials.yml"),
                       extra_env={"CHATTIGO_SECRET_KEY": key}, sandbox_args=["--did", SECOND_DID])
    for did, bot_name in ((DID, "Aynux"), (SECOND_DID, "Ventas")):
        subprocess.run(
            [sys.executable, "-m", "rasa_chattigo", "credentials", "add", "--store", store,
             "--did", did, "--name", f"Línea {bot_name}", "--username", "demo@sandbox",
             "--bot-name", bot_name],
            input=stack.password + "\n", text=True, check=True, capture_output=True,
            env={**os.environ, "CHATTIGO_SECRET_KEY": key})
    with stack:
        stack.start()
        stack.register_webhook(stack.webhook_url, did=SECOND_DID)
        phone = "5492644000099"
        first = WhatsAppUser(stack, phone)
        [menu] = first.say(type="text", text="¿Qué planes tienen?")
        second = WhatsAppUser(stack, phone, did=SECOND_DID)
        replies = second.say(type="text", text="2")
    assert (menu["payload"]["did"], menu["payload"]["name"]) == (DID, "Aynux")
    assert [(r["payload"]["did"], r["payload"]["name"]) for r in replies] == [
        (SECOND_DID, "Ventas")] * len(replies)
    # The menu was shown on the first number only: "2" on the second picks no plan.
    assert not replies[0]["payload"]["content"].startswith("Elegiste el plan estándar")
