"""NLU ahead of the turn (Rasa 3.6): one parse per message, in a step of its own, taken by Rasa
as its own; Rasa parses in the turn wherever that cannot hold."""

from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered
from test_handoff import agent, stack  # noqa: F401 - the demo bot behind the real server

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.compat.rasa_api import RASA_PRO, parse_ahead

PARSE: Dict[str, Any] = {"text": "hola", "intent": {"name": "saludo", "confidence": 0.9},
                         "entities": []}


class Processor:
    """Stands in for Rasa's `MessageProcessor`: answers `parse_message` with `answer`."""

    def __init__(self, answer: Any = PARSE, http_interpreter: Any = None) -> None:
        self.answer, self.http_interpreter, self.parsed = answer, http_interpreter, []

    async def parse_message(self, message: UserMessage) -> Dict[str, Any]:
        self.parsed.append(message.text)
        if isinstance(self.answer, Exception):
            raise self.answer
        return dict(self.answer)


@pytest.mark.skipif(RASA_PRO, reason="Rasa Pro parses in the turn")
async def test_the_parse_is_kept_on_the_message_for_rasa():
    processor, message = Processor(), UserMessage("hola")
    assert await parse_ahead(SimpleNamespace(processor=processor), message)
    assert message.parse_data == PARSE
    assert processor.parsed == ["hola"]


@pytest.mark.parametrize("agent_, message", [
    (None, UserMessage("hola")),
    (SimpleNamespace(processor=None), UserMessage("hola")),
    (SimpleNamespace(processor=Processor(http_interpreter=object())), UserMessage("hola")),
    (SimpleNamespace(processor=Processor()), UserMessage("hola", parse_data=dict(PARSE))),
    (SimpleNamespace(processor=Processor(RuntimeError("the model broke"))), UserMessage("x")),
], ids=["no agent", "no model", "an NLU server", "parsed already", "a failing NLU"])
async def test_rasa_parses_in_the_turn_where_parsing_ahead_cannot_hold(agent_, message):
    before = message.parse_data
    assert not await parse_ahead(agent_, message)
    assert message.parse_data == before


async def test_rasa_pro_always_parses_in_the_turn(monkeypatch):
    monkeypatch.setattr(rasa_api, "RASA_PRO", True)
    processor, message = Processor(), UserMessage("hola")
    assert not await parse_ahead(SimpleNamespace(processor=processor), message)
    assert message.parse_data is None and processor.parsed == []


@pytest.mark.slow
@pytest.mark.skipif(RASA_PRO, reason="Rasa Pro parses in the turn")
@pytest.mark.parametrize("ahead", [True, False], ids=["parse_ahead", "parse_ahead: false"])
async def test_each_message_is_parsed_once_and_rasa_logs_that_parse(agent, ahead):  # noqa: F811
    processor = agent.processor
    graph_parse, handle = processor._parse_message_with_graph, processor.handle_message
    parsed: List[str] = []
    turns: List[Any] = []

    def counted(message: UserMessage, *args: Any, **kwargs: Any) -> Any:
        parsed.append(message.text)
        return graph_parse(message, *args, **kwargs)

    async def turn(message: UserMessage) -> Any:
        turns.append(message.parse_data)
        return await handle(message)

    processor._parse_message_with_graph = counted  # Rasa's NLU, counted
    processor.handle_message = turn  # Rasa's turn, seen as it starts
    try:
        async with stack(agent, parse_ahead=ahead) as running:
            replies = await running.say("quiero ver los planes")
            tracker = await running.tracker()
    finally:
        del processor._parse_message_with_graph, processor.handle_message
    assert parsed == ["quiero ver los planes"]
    if ahead:
        assert [t["intent"]["name"] for t in turns] == [tracker.latest_message.intent["name"]]
    else:
        assert turns == [None]  # Rasa parses in the turn
    assert replies, "the bot answered"
    [uttered] = [e for e in tracker.events if isinstance(e, UserUttered)]
    expected = await processor.parse_message(UserMessage("quiero ver los planes"))
    assert uttered.intent == expected["intent"]
    assert uttered.parse_data["intent_ranking"] == expected["intent_ranking"]
