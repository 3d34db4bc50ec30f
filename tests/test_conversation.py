"""Numbered-menu answers: from this process's memory, else from Rasa's tracker store."""

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.conversation import MenuMemory, menu_payload

PLANS = {"text": "¿Qué plan?", "buttons": [
    {"title": "Básico", "payload": '/elegir_plan{"plan":"basico"}'},
    {"title": "Estándar", "payload": '/elegir_plan{"plan":"estandar"}'}]}
SENDER = "5492644472542"


async def store_with(*events):
    store = rasa_api.in_memory_tracker_store(Domain.empty())
    await store.save(DialogueStateTracker.from_events(SENDER, list(events)))
    return store


async def answer(text, *, memory, store, typed=True):
    return await menu_payload(text, SENDER, typed=typed, memory=memory, tracker_store=store)


async def test_the_tracker_answers_after_a_restart():
    store = await store_with(UserUttered("planes"), BotUttered(PLANS["text"], PLANS))
    assert await answer("2", memory=MenuMemory(), store=store) == '/elegir_plan{"plan":"estandar"}'


async def test_without_memory_several_instances_read_the_tracker():
    store = await store_with(UserUttered("planes"), BotUttered(PLANS["text"], PLANS))
    assert await answer("básico", memory=None, store=store) == '/elegir_plan{"plan":"basico"}'


async def test_a_user_message_after_the_menu_ends_it_in_the_tracker():
    store = await store_with(BotUttered(PLANS["text"], PLANS), UserUttered("otra cosa"))
    assert await answer("2", memory=None, store=store) is None


async def test_memory_answers_without_reading_the_tracker():
    memory, empty = MenuMemory(), await store_with()
    await answer("hola", memory=memory, store=empty)  # the conversation becomes known
    memory.remember(SENDER, PLANS)
    assert await answer("2", memory=memory, store=empty) == '/elegir_plan{"plan":"estandar"}'


async def test_any_message_ends_the_remembered_menu():
    memory, empty = MenuMemory(), await store_with()
    await answer("hola", memory=memory, store=empty)
    memory.remember(SENDER, PLANS)
    await answer("/whatsapp_image", memory=memory, store=empty, typed=False)
    assert await answer("2", memory=memory, store=empty) is None


async def test_a_long_text_also_ends_the_remembered_menu():
    memory, empty = MenuMemory(), await store_with()
    await answer("hola", memory=memory, store=empty)
    memory.remember(SENDER, PLANS)
    await answer("x" * 200, memory=memory, store=empty)
    assert await answer("1", memory=memory, store=empty) is None


async def test_a_response_without_buttons_keeps_the_pending_menu():
    memory, empty = MenuMemory(), await store_with()
    await answer("hola", memory=memory, store=empty)
    memory.remember(SENDER, PLANS)
    memory.remember(SENDER, {"text": "Elegí con el número."})
    assert await answer("1", memory=memory, store=empty) == '/elegir_plan{"plan":"basico"}'


def test_memory_forgets_the_least_recently_active_conversations():
    memory = MenuMemory(max_entries=2)
    for sender in ("a", "b", "c"):
        memory.take(sender)
    assert (len(memory), memory.take("a")) == (2, (False, None))
