"""NLU ahead of the turn (Rasa 3.6): one parse per message, in a step of its own, taken by Rasa
as its own; Rasa parses in the turn wherever that cannot hold."""

import asyncio
import copy
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Tuple

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.compat.nlu_ahead import drop_if_replaced, parse_ahead
from rasa_chattigo.compat.rasa_api import RASA_PRO

from demo_agent import stack

PARSE: Dict[str, Any] = {"text": "hola", "intent": {"name": "saludo", "confidence": 0.9},
                         "entities": []}


def nlu_graph(*, tracker: bool) -> Any:
    """A model's metadata whose NLU ends in a node needing a featurizer that may take the
    conversation; policies always do."""
    featurizer_needs = {"messages": "__message__", **({"tracker": "__tracker__"} if tracker
                                                      else {})}
    nodes = {"run_RegexMessageHandler": SimpleNamespace(needs={"messages": "featurize"}),
             "featurize": SimpleNamespace(needs=featurizer_needs),
             "run_RulePolicy0": SimpleNamespace(needs={"tracker": "__tracker__"})}
    return SimpleNamespace(nlu_target="run_RegexMessageHandler",
                           predict_schema=SimpleNamespace(nodes=nodes))


class Processor:
    """Stands in for Rasa's `MessageProcessor`: answers `parse_message` with `answer`."""

    def __init__(self, answer: Any = PARSE, http_interpreter: Any = None,
                 reads_tracker: bool = False, **model_metadata: Any) -> None:
        self.answer, self.http_interpreter, self.parsed = answer, http_interpreter, []
        self.model_metadata = model_metadata.get("model_metadata",
                                                 nlu_graph(tracker=reads_tracker))

    async def parse_message(self, message: UserMessage) -> Dict[str, Any]:
        self.parsed.append(message.text)
        if isinstance(self.answer, Exception):
            raise self.answer
        return dict(self.answer)


@pytest.mark.skipif(RASA_PRO, reason="Rasa Pro parses in the turn")
async def test_the_parse_is_kept_on_the_message_for_rasa():
    processor, message = Processor(), UserMessage("hola")
    assert await parse_ahead(SimpleNamespace(processor=processor), message) is processor
    assert message.parse_data == PARSE
    assert processor.parsed == ["hola"]


@pytest.mark.skipif(RASA_PRO, reason="Rasa Pro parses in the turn")
async def test_a_parse_is_dropped_only_once_another_model_is_loaded():
    processor, message = Processor(), UserMessage("hola")
    parsed_by = await parse_ahead(SimpleNamespace(processor=processor), message)
    assert parsed_by is processor
    drop_if_replaced(parsed_by, SimpleNamespace(processor=processor), message)
    assert message.parse_data == PARSE
    drop_if_replaced(parsed_by, SimpleNamespace(processor=Processor()), message)
    assert message.parse_data is None


@pytest.mark.parametrize("agent_, message", [
    (None, UserMessage("hola")),
    (SimpleNamespace(processor=None), UserMessage("hola")),
    (SimpleNamespace(processor=Processor(http_interpreter=object())), UserMessage("hola")),
    (SimpleNamespace(processor=Processor()), UserMessage("hola", parse_data=dict(PARSE))),
    (SimpleNamespace(processor=Processor(RuntimeError("the model broke"))), UserMessage("x")),
    (SimpleNamespace(processor=Processor(reads_tracker=True)), UserMessage("hola")),
    (SimpleNamespace(processor=Processor(model_metadata=None)), UserMessage("hola")),
], ids=["no agent", "no model", "an NLU server", "parsed already", "a failing NLU",
        "an NLU component taking the tracker", "a model whose graph cannot be read"])
async def test_rasa_parses_in_the_turn_where_parsing_ahead_cannot_hold(agent_, message):
    before = message.parse_data
    assert await parse_ahead(agent_, message) is None
    assert message.parse_data == before


async def test_rasa_pro_always_parses_in_the_turn(monkeypatch):
    monkeypatch.setattr(rasa_api, "RASA_PRO", True)
    processor, message = Processor(), UserMessage("hola")
    assert await parse_ahead(SimpleNamespace(processor=processor), message) is None
    assert message.parse_data is None and processor.parsed == []


@pytest.mark.slow
@pytest.mark.skipif(RASA_PRO, reason="Rasa Pro parses in the turn")
@pytest.mark.parametrize("ahead", [True, False], ids=["parse_ahead", "parse_ahead: false"])
async def test_each_message_is_parsed_once_and_rasa_logs_that_parse(agent, ahead):
    processor = agent.processor
    graph_parse, handle = processor._parse_message_with_graph, processor.handle_message
    parsed: List[str] = []
    turns: List[Any] = []

    between: List[str] = []  # what the event loop ran between the parse and the turn

    def counted(message: UserMessage, *args: Any, **kwargs: Any) -> Any:
        parsed.append(message.text)
        between.clear()
        asyncio.get_running_loop().call_soon(between.append, "a webhook's callback")
        return graph_parse(message, *args, **kwargs)

    async def turn(message: UserMessage) -> Any:
        turns.append((message.parse_data, list(between)))
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
    [(parse, loop_ran)] = turns
    if ahead:  # the turn is a step of its own: the loop ran what was waiting meanwhile
        assert parse["intent"]["name"] == tracker.latest_message.intent["name"]
        assert loop_ran == ["a webhook's callback"]
    else:
        assert parse is None  # Rasa parses in the turn
    assert replies, "the bot answered"
    [uttered] = [e for e in tracker.events if isinstance(e, UserUttered)]
    expected = await processor.parse_message(UserMessage("quiero ver los planes"))
    assert uttered.intent == expected["intent"]
    assert uttered.parse_data["intent_ranking"] == expected["intent_ranking"]


@pytest.mark.slow
@pytest.mark.skipif(RASA_PRO, reason="Rasa Pro parses in the turn")
@pytest.mark.parametrize("replaced", ["processor", "agent"],
                         ids=["a model server's pull", "PUT /model"])
async def test_a_model_loaded_between_the_parse_and_the_turn_parses_the_message_again(
        agent, replaced):
    old = agent.processor
    new = copy.copy(old)  # another model's processor
    graph_parse = old._parse_message_with_graph
    parsed: List[Tuple[str, str]] = []

    async with stack(agent) as running:
        def load_new_model() -> None:
            if replaced == "processor":  # a model server's pull loads into the agent
                agent.processor = new
            else:  # `PUT /model` serves a new agent
                running.app.ctx.agent = copy.copy(agent)
                running.app.ctx.agent.processor = new

        def counted(name: str) -> Callable[..., Any]:
            def parse(message: UserMessage, *args: Any, **kwargs: Any) -> Any:
                parsed.append((name, message.text))
                if name == "old":  # loaded while the turn waits for its own step
                    asyncio.get_running_loop().call_soon(load_new_model)
                return graph_parse(message, *args, **kwargs)
            return parse

        old._parse_message_with_graph = counted("old")
        new._parse_message_with_graph = counted("new")
        try:
            replies = await running.say("quiero ver los planes")
            tracker = await running.tracker()
        finally:
            agent.processor = old
            del old._parse_message_with_graph
    assert parsed == [("old", "quiero ver los planes"), ("new", "quiero ver los planes")]
    assert replies, "the bot answered"
    [uttered] = [e for e in tracker.events if isinstance(e, UserUttered)]
    expected = await old.parse_message(UserMessage("quiero ver los planes"))
    assert uttered.intent == expected["intent"]
