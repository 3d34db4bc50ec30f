"""WhatsApp's 24-hour window: known from the tracker, what `outside_window` does with a reply."""

import logging
from types import SimpleNamespace
from typing import Any, List

import pytest
from rasa.core.agent import Agent
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.outbound import SendContext, build_requests
from rasa_chattigo.window import WINDOW_SECONDS, Window, WindowPolicy

from conftest import DID, USER, Clock, parsing_settings

CTX = SendContext(did=DID, msisdn=USER, bot_name="Aynux")
TEMPLATE = {"namespace": "aynux", "template": "aviso_pendiente", "languageCode": "es_AR",
            "parameters": ["{text}"]}
NOW = 1_800_000_000.0
HOUR = 3600.0


async def app_with(*events: Any) -> Any:
    """A server's `app.ctx.agent`: a real Rasa agent whose tracker store holds `events`."""
    domain = Domain.empty()
    agent = Agent(domain=domain, tracker_store=rasa_api.in_memory_tracker_store(domain))
    tracker = DialogueStateTracker.from_events(USER, list(events))
    await agent.tracker_store.save(tracker)
    return SimpleNamespace(ctx=SimpleNamespace(agent=agent))


def user(text: str, at: float, **metadata: Any) -> UserUttered:
    return UserUttered(text, {"name": "saludar"}, timestamp=at, metadata=metadata or None)


def window(shared: bool = False, app: Any = None) -> Window:
    found = Window(shared=shared, clock=Clock(NOW))
    found.app = app
    return found


def reply(text: str = "Tu factura vence mañana") -> List[Any]:
    return build_requests({"text": text}, CTX, parsing_settings())


async def test_a_user_message_seen_here_opens_the_window_without_a_tracker_read():
    seen = window(shared=True)  # no agent: a read would find nothing
    seen.user_wrote(USER, NOW - 23 * HOUR)
    assert await seen.age(USER) == 23 * HOUR


async def test_the_tracker_knows_a_user_message_from_before_a_restart():
    app = await app_with(user("hola", NOW - 2 * HOUR))
    assert await window(app=app).age(USER) == 2 * HOUR


async def test_bot_messages_and_external_intents_do_not_open_the_window():
    app = await app_with(
        user("hola", NOW - 30 * HOUR),
        BotUttered("¡Hola!", timestamp=NOW - 30 * HOUR),
        UserUttered.create_external("recordatorio_factura"),
        UserUttered("EXTERNAL: whatsapp_delivery_failed", {"name": "whatsapp_delivery_failed"},
                    timestamp=NOW - HOUR, metadata={"is_external": True}),
        BotUttered("Te recordamos...", timestamp=NOW - HOUR),
    )
    assert await window(app=app).age(USER) == 30 * HOUR


async def test_another_instance_may_have_seen_a_newer_message_when_shared():
    app = await app_with(user("sigo acá", NOW - HOUR))
    shared = window(shared=True, app=app)
    shared.user_wrote(USER, NOW - 30 * HOUR)
    assert await shared.age(USER) == HOUR


async def test_a_single_instance_trusts_what_it_saw():
    app = await app_with(user("sigo acá", NOW - HOUR))  # not read: this process saw everything
    alone = window(shared=False, app=app)
    alone.user_wrote(USER, NOW - 30 * HOUR)
    assert await alone.age(USER) == 30 * HOUR


async def test_a_user_who_never_wrote_has_no_window():
    assert await window(app=await app_with()).age("5490000000000") is None


async def test_inside_the_window_nothing_changes(caplog):
    seen = window()
    seen.user_wrote(USER, NOW - (WINDOW_SECONDS - 60))
    policy = WindowPolicy(parsing_settings(outside_window="drop"), seen)
    requests = reply()
    with caplog.at_level(logging.INFO, logger="rasa_chattigo.window"):
        assert await policy.apply(USER, requests, "x", CTX) == requests
    assert caplog.records == []


async def test_outside_the_window_template_replaces_the_reply_with_its_text(caplog):
    seen = window()
    seen.user_wrote(USER, NOW - 25 * HOUR)
    policy = WindowPolicy(parsing_settings(window_template=TEMPLATE), seen)
    with caplog.at_level(logging.INFO, logger="rasa_chattigo.window"):
        [sent] = await policy.apply(USER, reply(), "Tu factura vence mañana", CTX)
    assert sent.kind == "template"
    assert sent.json["hsm"]["parameters"] == ["Tu factura vence mañana"]
    assert sent.json["hsm"]["destinations"] == [{"destination": USER}]
    [record] = caplog.records
    assert record.getMessage() == (
        f"Conversation {USER} is outside WhatsApp's 24-hour window (the user last wrote 25.0 h "
        "ago): sending template aviso_pendiente instead of the reply (outside_window: template)")


async def test_outside_the_window_send_sends_and_warns(caplog):
    seen = window()
    seen.user_wrote(USER, NOW - 25 * HOUR)
    policy = WindowPolicy(parsing_settings(outside_window="send"), seen)
    requests = reply()
    with caplog.at_level(logging.INFO, logger="rasa_chattigo.window"):
        assert await policy.apply(USER, requests, "x", CTX) == requests
    assert [(r.levelname, "25.0 h ago" in r.getMessage()) for r in caplog.records] == [
        ("WARNING", True)]


async def test_outside_the_window_drop_sends_nothing_and_says_why(caplog):
    policy = WindowPolicy(parsing_settings(outside_window="drop"), window(app=await app_with()))
    with caplog.at_level(logging.INFO, logger="rasa_chattigo.window"):
        assert await policy.apply(USER, reply(), "x", CTX) == []
    [record] = [r for r in caplog.records if r.name == "rasa_chattigo.window"]
    assert record.levelname == "ERROR"
    assert "the user never wrote" in record.getMessage()
    assert "outside_window: drop" in record.getMessage()


@pytest.mark.parametrize("custom", [
    {"type": "HSM", "hsm": TEMPLATE | {"parameters": ["Ana"]}},
    {"type": "transfer"},
])
async def test_templates_and_handoff_sends_go_out_whatever_the_window(custom):
    requests = build_requests({"custom": custom}, CTX, parsing_settings())
    policy = WindowPolicy(parsing_settings(outside_window="drop"), window(app=await app_with()))
    assert await policy.apply(USER, requests, "", CTX) == requests
