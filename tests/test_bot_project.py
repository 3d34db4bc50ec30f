"""The demo bot (bot_project/) and the slow bot (bot_project/slow/): data, channel fit, replies."""

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.settings import DEFAULT_INTENTS, parse_settings

from conftest import requires_nlu, requires_rasa_cli

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "bot_project"
SLOW = PROJECT / "slow"
RASA = Path(sys.executable).parent / "rasa"
CHATTIGO_ENV = {
    "CHATTIGO_BASE_URL": "http://127.0.0.1:9",
    "CHATTIGO_DID": "5492644710400",
    "CHATTIGO_USERNAME": "bot@empresa",
    "CHATTIGO_PASSWORD": "not-a-real-password",
    "CHATTIGO_WEBHOOK_TOKEN": "bot-project-webhook-token-0123",
}
#: Components that work offline: none of them downloads a language model.
OFFLINE_COMPONENTS = {
    "WhitespaceTokenizer", "RegexFeaturizer", "LexicalSyntacticFeaturizer",
    "CountVectorsFeaturizer", "DIETClassifier", "LogisticRegressionClassifier",
    "RegexEntityExtractor", "EntitySynonymMapper", "FallbackClassifier",
    "MemoizationPolicy", "AugmentedMemoizationPolicy", "RulePolicy", "TEDPolicy",
}
LOCATION = ('/whatsapp_location{"latitude": -34.6037, "longitude": -58.3816, '
            '"name": "Obelisco", "address": "Av. 9 de Julio s/n"}')


def rasa_env() -> Dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
            **CHATTIGO_ENV}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def run_rasa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(RASA), *args], cwd=cwd, env=rasa_env(), capture_output=True,
                          text=True, timeout=600)


def rasa_warnings(output: str) -> List[str]:
    """Warnings Rasa raises about the bot's own files (library deprecations are not ours)."""
    return [line for line in output.splitlines()
            if "rasa/shared/utils/io.py" in line and "UserWarning" in line]


def all_buttons(domain: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    for name, variations in domain["responses"].items():
        for variation in variations:
            for button in variation.get("buttons", []):
                yield name, button


def as_sent(payload: str) -> str:
    """A payload as Rasa sends it: responses are interpolated, so `{{` arrives as `{`."""
    return rasa_api.interpolate(payload, {"plan": None})


def split_payload(payload: str) -> Tuple[str, Dict[str, Any]]:
    intent, brace, entities = payload[1:].partition("{")
    return intent, json.loads(brace + entities) if brace else {}


def load_slow_actions() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slow_bot_pausa", SLOW / "actions" / "pausa.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the demo bot's files ---------------------------------------------------------------

@requires_rasa_cli
def test_rasa_data_validate_passes_without_warnings():
    result = run_rasa("data", "validate", "--fail-on-warnings", cwd=PROJECT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert rasa_warnings(output) == []


def test_every_intent_the_channel_sends_is_in_the_domain():
    intents = set(load_yaml(PROJECT / "domain.yml")["intents"])
    assert set(DEFAULT_INTENTS.values()) - intents == set()


def test_every_intent_the_channel_sends_has_a_rule_that_answers_it():
    rules = load_yaml(PROJECT / "data" / "rules.yml")["rules"]
    answered = {step["intent"] for rule in rules for step in rule["steps"][:1] if "intent" in step}
    assert set(DEFAULT_INTENTS.values()) - answered == set()


def test_every_button_payload_names_a_domain_intent_and_domain_entities():
    domain = load_yaml(PROJECT / "domain.yml")
    wrong = []
    for response, button in all_buttons(domain):
        payload = as_sent(button["payload"])
        intent, entities = split_payload(payload)
        if not payload.startswith("/") or intent not in domain["intents"] \
                or not set(entities) <= set(domain["entities"]):
            wrong.append((response, payload))
    assert wrong == []


def test_plan_buttons_send_the_plan_as_an_entity():
    domain = load_yaml(PROJECT / "domain.yml")
    [variation] = domain["responses"]["utter_planes"]
    assert [as_sent(b["payload"]) for b in variation["buttons"]] == [
        '/elegir_plan{"plan":"basico"}',
        '/elegir_plan{"plan":"estandar"}',
        '/elegir_plan{"plan":"premium"}',
    ]


def test_yes_no_questions_offer_afirmar_and_negar_buttons():
    domain = load_yaml(PROJECT / "domain.yml")
    for name in ("utter_preguntar_reinicio", "utter_pasos_reinicio"):
        [variation] = domain["responses"][name]
        assert [b["payload"] for b in variation["buttons"]] == ["/afirmar", "/negar"]


def test_plan_slot_is_filled_from_the_plan_entity():
    plan = load_yaml(PROJECT / "domain.yml")["slots"]["plan"]
    assert plan["mappings"] == [{"type": "from_entity", "entity": "plan"}]
    assert plan["values"] == ["basico", "estandar", "premium"]


def test_credentials_name_the_chattigo_channel_with_env_placeholders():
    assert load_yaml(PROJECT / "credentials.yml") == {
        "rest": None,
        "rasa_chattigo.ChattigoInput": {
            "base_url": "${CHATTIGO_BASE_URL}",
            "did": "${CHATTIGO_DID}",
            "username": "${CHATTIGO_USERNAME}",
            "password": "${CHATTIGO_PASSWORD}",
            "bot_name": "Aynux",
            "webhook_token": "${CHATTIGO_WEBHOOK_TOKEN}",
            "outside_window": "template",
            "window_template": {"namespace": "aynux", "template": "aviso_pendiente",
                                "languageCode": "es_AR", "parameters": ["{text}"]},
        },
    }


def test_credentials_expand_into_valid_channel_settings(monkeypatch):
    for key, value in CHATTIGO_ENV.items():
        monkeypatch.setenv(key, value)
    block = rasa_api.read_config_file(PROJECT / "credentials.yml")["rasa_chattigo.ChattigoInput"]
    settings = parse_settings(block)
    assert (settings.base_url, settings.did, settings.username, settings.bot_name,
            settings.webhook_token) == ("http://127.0.0.1:9", "5492644710400", "bot@empresa",
                                        "Aynux", "bot-project-webhook-token-0123")


def test_config_is_spanish_offline_and_seeded():
    config = load_yaml(PROJECT / "config.yml")
    names = [c["name"] for c in config["pipeline"] + config["policies"]]
    assert (config["language"], bool(config["assistant_id"])) == ("es", True)
    assert set(names) - OFFLINE_COMPONENTS == set()
    seeds = {c["name"]: c.get("random_seed") for c in config["pipeline"] + config["policies"]
             if c["name"] in ("DIETClassifier", "TEDPolicy")}
    assert seeds == {"DIETClassifier": 2024}


def test_endpoints_need_no_action_server():
    assert load_yaml(PROJECT / "endpoints.yml") is None


# --- the slow bot -----------------------------------------------------------------------

@requires_rasa_cli
def test_slow_bot_data_validates_without_warnings():
    result = run_rasa("data", "validate", "--fail-on-warnings", cwd=SLOW)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert rasa_warnings(output) == []


def test_slow_bot_pause_defaults_to_five_seconds():
    assert load_slow_actions().pause_seconds({}) == 5.0


def test_slow_bot_pause_reads_slow_bot_seconds():
    assert load_slow_actions().pause_seconds({"SLOW_BOT_SECONDS": "0.25"}) == 0.25


@pytest.mark.parametrize("raw", ["abc", "-1", "nan", "inf"])
def test_slow_bot_pause_refuses_a_bad_value_naming_the_variable(raw):
    with pytest.raises(ValueError, match=f"^SLOW_BOT_SECONDS must be .*got '{raw}'$"):
        load_slow_actions().pause_seconds({"SLOW_BOT_SECONDS": raw})


async def test_slow_bot_action_answers_after_the_pause(monkeypatch):
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    monkeypatch.setenv("SLOW_BOT_SECONDS", "0")
    action = load_slow_actions().ActionPausa()
    dispatcher = CollectingDispatcher()
    tracker = Tracker("5492644472542", {}, {"text": "hola"}, [], False, None, {}, "action_listen")
    events = await action.run(dispatcher, tracker, {})
    assert (action.name(), events) == ("action_pausa", [])
    assert [m["text"] for m in dispatcher.messages] == ["Listo, ya lo procesé."]


def test_slow_bot_endpoints_point_at_a_local_action_server():
    endpoints = load_yaml(SLOW / "endpoints.yml")
    assert endpoints == {"action_endpoint": {"url": "http://127.0.0.1:5055/webhook"}}


# --- the trained demo bot (one training run for the whole module) ------------------------

@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    out = tmp_path_factory.mktemp("aynux-model")
    result = run_rasa("train", "--fixed-model-name", "aynux", "--out", str(out), cwd=PROJECT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    from rasa.core.agent import load_agent

    loop = asyncio.new_event_loop()
    try:
        yield loop, loop.run_until_complete(load_agent(model_path=str(out / "aynux.tar.gz")))
    finally:
        loop.close()


def say(agent, sender: str, text: str) -> List[Dict[str, Any]]:
    loop, bot = agent
    return loop.run_until_complete(bot.handle_text(text, sender_id=sender))


@pytest.mark.slow
@requires_nlu
@requires_rasa_cli  # nearest the function: evaluated first
def test_trained_bot_greets_hola_with_a_greeting(agent):
    greetings = [v["text"] for v in load_yaml(PROJECT / "domain.yml")["responses"]["utter_saludo"]]
    [reply] = say(agent, "user-hola", "hola")
    assert reply["text"] in greetings


@pytest.mark.slow
@requires_nlu
@requires_rasa_cli  # nearest the function: evaluated first
def test_trained_bot_quotes_the_address_of_a_shared_location(agent):
    [reply] = say(agent, "user-location", LOCATION)
    assert reply["text"] == ("Gracias, recibí tu ubicación: Av. 9 de Julio s/n 📍. Con esto "
                             "verificamos la cobertura de fibra en tu zona y te avisamos por acá.")


@pytest.mark.slow
@requires_nlu
@requires_rasa_cli  # nearest the function: evaluated first
def test_trained_bot_fills_the_plan_slot_from_a_button_payload(agent):
    loop, bot = agent
    [reply] = say(agent, "user-plan", '/elegir_plan{"plan":"premium"}')
    tracker = loop.run_until_complete(bot.tracker_store.retrieve("user-plan"))
    assert tracker.get_slot("plan") == "premium"
    assert reply["text"].startswith("Elegiste el plan premium: 1000 Mb")
    assert [b["payload"] for b in reply["buttons"]] == ["/afirmar", "/negar"]
