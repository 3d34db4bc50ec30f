"""Hand-off and failed deliveries through the real Sanic app, a real Rasa agent (the trained
demo bot, in process) and the real sandbox playing Chattigo's agents and WhatsApp."""

import asyncio
import logging
from typing import Any, List

import pytest
import yaml
from rasa.shared.core.events import ConversationPaused, UserUttered

from rasa_chattigo.delivery import OUTBOX
from rasa_chattigo.sandbox import build_status_webhook
from rasa_chattigo.sandbox.legacy import build_legacy_webhook

from bots import PROJECT
from conftest import DID, Clock, requires_nlu, requires_rasa_cli
from demo_agent import Stack, stack

DOMAIN = yaml.safe_load((PROJECT / "domain.yml").read_text())["responses"]

pytestmark = [pytest.mark.slow, requires_rasa_cli, requires_nlu]  # the model Rasa trains


def texts(name: str) -> List[str]:
    return [variant["text"] for variant in DOMAIN[name] if "text" in variant]


async def handed_off(running: Stack) -> None:
    replies = await running.say("quiero hablar con una persona")
    assert [r["type"] for r in replies] == ["text", "transfer"]
    assert replies[0]["content"] in texts("utter_derivar_humano")
    assert running.sandbox.handoffs.get(DID, running.user).holder == "agent"
    assert (await running.tracker()).is_paused()


async def test_the_bot_keeps_quiet_while_an_agent_has_the_chat_and_greets_when_it_comes_back(
        agent):
    async with stack(agent) as running:
        await handed_off(running)
        for text in ("hola?", "¿sigue ahí alguien?", "quiero dar de baja el servicio"):
            assert await running.say(text) == []
        tracker = await running.tracker()
        paused_at = max(i for i, e in enumerate(tracker.events)
                        if isinstance(e, ConversationPaused))
        after = [e.text for e in list(tracker.events)[paused_at:] if isinstance(e, UserUttered)]
        assert after == ["hola?", "¿sigue ahí alguien?", "quiero dar de baja el servicio"]
        await running.agent_side("messages", text="Hola, soy Marta. ¿En qué te ayudo?")
        before = len(running.sent())
        answer = await running.agent_side("handback")
        assert answer["webhook_status"] == 200
        [greeting] = running.sent()[before:]
        assert greeting["content"] in texts("utter_de_vuelta")
        tracker = await running.tracker()
        assert not tracker.is_paused()
        assert tracker.latest_message.intent["name"] == "chattigo_handback"
        [reply] = await running.say("¿a qué hora atienden?")
        assert reply["content"] in texts("utter_horarios")


async def test_a_handoff_chattigo_cannot_take_yet_pauses_the_bot_only_once_it_goes(agent):
    async with stack(agent, max_attempts=1, outbox_backoff_seconds=0.05,
                     outbox_max_backoff_seconds=0.1) as running:
        running.sandbox.faults.configure({"mode": "500", "count": 1_000_000})
        assert await running.say("quiero hablar con una persona") == []
        kept = await running.channel.delivery.store.records(OUTBOX)
        assert [r.body["kind"] for r in kept] == ["message", "transfer"]
        assert not (await running.tracker()).is_paused()  # the agent has not got the chat
        running.sandbox.faults.clear()
        await wait_for(lambda: running.sandbox.handoffs.get(DID, running.user).holder == "agent")
        assert [r["type"] for r in running.sent()] == ["text", "transfer"]

        async def paused() -> bool:
            return bool((await running.tracker()).is_paused())
        while not await paused():
            await asyncio.sleep(0.01)
        await running.channel.delivery.outbox.stop()


async def test_the_agent_writes_to_the_user_and_the_bot_is_told_nothing(agent):
    async with stack(agent) as running:
        await handed_off(running)
        events = len((await running.tracker()).events)
        await running.agent_side("messages", text="Hola, soy Marta.")
        assert [m["content"] for m in running.sent()[-1:]] == ["Hola, soy Marta."]
        assert len((await running.tracker()).events) == events


async def test_a_close_from_chattigo_ends_the_pause_without_a_greeting(agent):
    async with stack(agent) as running:
        await handed_off(running)
        before = len(running.sent())
        body = build_legacy_webhook("close", did=DID, msisdn=running.user, text="")
        assert (await running.post(body))["messages"] == 1
        assert running.sent()[before:] == []
        assert not (await running.tracker()).is_paused()
        [reply] = await running.say("¿a qué hora atienden?")
        assert reply["content"] in texts("utter_horarios")


async def test_a_handback_redelivered_is_handled_once(agent):
    async with stack(agent) as running:
        await handed_off(running)
        body = build_legacy_webhook("transfer", did=DID, msisdn=running.user, text="")
        before = len(running.sent())
        assert (await running.post(body))["messages"] == 1
        assert (await running.post(body))["duplicates"] == 1
        assert len(running.sent()[before:]) == 1


async def test_a_handoff_never_given_back_ends_after_the_timeout(agent, caplog):
    async with stack(agent, handoff_timeout_seconds=3600) as running:
        clock = Clock(running.channel.conversations.handoffs.clock())
        running.channel.conversations.handoffs.clock = clock
        await handed_off(running)
        clock.now += 3599
        assert await running.say("¿hola?") == []
        clock.now += 2
        with caplog.at_level(logging.INFO, logger="rasa_chattigo.handoff"):
            [reply] = await running.say("¿a qué hora atienden?")
        assert reply["content"] in texts("utter_horarios")
        assert any("given no answer for 3601 s" in r.getMessage() for r in caplog.records)


async def wait_for(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_failed_delivery_reaches_the_bot_which_re_engages_with_a_template(agent):
    # The sandbox enforces the window; this user never wrote through it, so the greeting fails.
    async with stack(agent, window=True) as running:
        [greeting] = await running.say("hola")
        await wait_for(lambda: any(m["type"] == "HSM" for m in running.sent()))
        tracker = await running.tracker()
        failed = [e for e in tracker.events if isinstance(e, UserUttered)
                  and e.intent.get("name") == "whatsapp_delivery_failed"]
        assert [{x["entity"]: x["value"] for x in e.entities} for e in failed] == [
            {"code": "131047", "title": "Re-engagement message", "message_id": greeting["id"]}]
        assert failed[0].metadata["is_external"] is True
        assert running.sent()[-1]["hsm"]["template"] == "retomar_conversacion"


async def test_a_failed_status_is_forwarded_once_and_one_for_a_message_never_sent_not_at_all(
        agent, caplog):
    async with stack(agent) as running:
        [greeting] = await running.say("hola")
        status = build_status_webhook("failed", did=DID, recipient=running.user, wamid="wamid.X1",
                                      callback_data=greeting["id"],
                                      errors=[{"code": 131026, "title": "Message undeliverable"}])
        await running.post(status)
        await running.post(status)
        stranger = build_status_webhook("failed", did=DID, recipient=running.user,
                                        wamid="wamid.NOT-OURS",
                                        errors=[{"code": 131049, "title": "x"}])
        with caplog.at_level(logging.INFO, logger="rasa_chattigo.failures"):
            await running.post(stranger)
        tracker = await running.tracker()
        failed = [e for e in tracker.events if isinstance(e, UserUttered)
                  and e.intent.get("name") == "whatsapp_delivery_failed"]
        assert [{x["entity"]: x["value"] for x in e.entities}["code"] for e in failed] == [
            "131026"]
        assert any("'wamid.NOT-OURS', which this bot did not send" in r.getMessage()
                   for r in caplog.records)


async def test_failed_deliveries_can_be_kept_from_the_bot(agent):
    async with stack(agent, delivery_failed_intent=False) as running:
        [greeting] = await running.say("hola")
        status = build_status_webhook("failed", did=DID, recipient=running.user, wamid="wamid.X2",
                                      callback_data=greeting["id"],
                                      errors=[{"code": 131047, "title": "Re-engagement message"}])
        assert (await running.post(status))["statuses"] == 1
        tracker = await running.tracker()
        assert [e.intent.get("name") for e in tracker.events if isinstance(e, UserUttered)] == [
            "saludar"]


async def test_a_malformed_handoff_sends_nothing_of_its_response_and_names_the_field(
        agent, caplog):
    async with stack(agent) as running:
        output = running.channel.get_output_channel()
        with caplog.at_level(logging.ERROR, logger="rasa_chattigo.output"):
            await output.send_response(running.user, {
                "text": "Te paso con ventas", "custom": {"type": "group", "idCampaign": "12"}})
        assert running.sent() == []
        [record] = [r for r in caplog.records if r.name == "rasa_chattigo.output"]
        assert "bot response field 'custom.content': is required in a group send" in \
            record.getMessage()


async def test_a_handoff_in_a_proactive_message_pauses_once_its_turn_is_saved(agent):
    async with stack(agent) as running:
        await running.say("hola")
        from rasa_chattigo.compat import rasa_api

        await rasa_api.update_conversation(agent, running.user, [], intent="hablar_con_humano",
                                           output=running.channel.get_output_channel())
        await running.channel.conversations.handoffs.close()
        assert [m["type"] for m in running.sent()[-2:]] == ["text", "transfer"]
        assert (await running.tracker()).is_paused()


async def test_a_sender_id_with_a_newline_stays_on_one_log_line(agent, caplog):
    async with stack(agent) as running:
        body = build_legacy_webhook("close", did=DID, msisdn=running.user, text="")
        body["msisdn"] = f"{running.user}\nINFO forged line"
        with caplog.at_level(logging.INFO, logger="rasa_chattigo.handoff"):
            await running.post(body)
        [record] = [r for r in caplog.records if "Chattigo sent close" in r.getMessage()]
        assert "\n" not in record.getMessage()
        assert f"{running.user}\\nINFO forged line" in record.getMessage()


async def test_after_a_restart_the_timeout_finds_the_pause_in_the_tracker(agent, caplog):
    async with stack(agent, handoff_timeout_seconds=3600) as running:
        await handed_off(running)
    # A new channel on the same tracker store: nothing in memory, the pause only in the tracker.
    async with stack(agent, handoff_timeout_seconds=3600) as restarted:
        restarted.user = running.user
        handoffs = restarted.channel.conversations.handoffs
        handoffs.clock = Clock(handoffs.clock() + 3601)
        with caplog.at_level(logging.INFO, logger="rasa_chattigo.handoff"):
            [reply] = await restarted.say("¿a qué hora atienden?")
        assert reply["content"] in texts("utter_horarios")
        assert any("given no answer for" in r.getMessage() for r in caplog.records)
