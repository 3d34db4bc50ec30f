"""NLU ahead of the turn (`parse_ahead`, Rasa 3.6): the parse in an event-loop step of its own."""

import logging
import weakref
from typing import Any, Optional

from rasa_chattigo.compat import rasa_api

logger = logging.getLogger(__name__)


async def parse_ahead(agent: Any, message: Any) -> Optional[Any]:
    """Runs the agent's NLU on `message` now, as Rasa would, and keeps the result on it.

    Rasa 3.6's graph runs synchronously, and a turn runs NLU, the tracker and the first
    prediction in one stretch of the event loop that no webhook can interrupt. Parsed here,
    in a step of its own, that stretch is shorter by the NLU's share (about 40% with the demo
    bot), and Rasa takes `message.parse_data` as its parse. Rasa 3.6's own NLU components do
    not read the conversation (`/model/parse` runs them on an empty tracker too). None,
    leaving Rasa to parse, where that does not hold or gains nothing: no agent or model, an
    NLU server (`http_interpreter`), a message parsed already, a custom NLU component that
    takes the tracker, or Rasa Pro (its graph runs as coroutines, and its command generators
    read the conversation). A failure is Rasa's to report: it parses again in the turn.

    Returns:
        The processor (the loaded model) that parsed it, for `drop_if_replaced`; None where
        Rasa is left to parse.
    """
    processor = getattr(agent, "processor", None)
    if (rasa_api.RASA_PRO or processor is None or getattr(processor, "http_interpreter", None)
            or getattr(message, "parse_data", None) or _nlu_reads_tracker(processor)):
        return None
    try:
        message.parse_data = await processor.parse_message(message)
    except Exception as exc:
        logger.debug("NLU ahead of the turn failed (%s); Rasa parses in the turn",
                     type(exc).__name__)
        return None
    return processor


def drop_if_replaced(parsed_by: Any, agent: Any, message: Any) -> None:
    """Drops the parse made ahead if Rasa has loaded another model since (`PUT /model`, or a
    model server's pull): the intents of one model must not reach another's policies, so the
    turn's model parses the message itself (its NLU runs twice). Called just before the turn
    starts, with the agent read again (`PUT /model` replaces it). One window stays: a model
    server's pull landing while the turn waits for a conversation lock held elsewhere
    (Rasa tries again every second) meets the parse of the model before it; `PUT /model`
    cannot, as Rasa's handler has bound the old agent by then."""
    if getattr(agent, "processor", None) is not parsed_by:
        logger.debug("A new model was loaded since the message was parsed; Rasa parses again")
        message.parse_data = None


#: `_nlu_reads_tracker` per loaded model's processor: its graph does not change.
_READS_TRACKER: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def _nlu_reads_tracker(processor: Any) -> bool:
    """Whether a node of the model's NLU takes the conversation, read once per processor."""
    try:
        return _READS_TRACKER[processor]
    except (KeyError, TypeError):
        pass
    answer = _graph_reads_tracker(processor)
    try:
        _READS_TRACKER[processor] = answer
    except TypeError:  # not weakly referable: asked again next time
        pass
    return answer


def _graph_reads_tracker(processor: Any) -> bool:
    """Whether a node of the model's NLU (its `nlu_target` and what that needs) takes the
    conversation; True where the model cannot tell, so Rasa parses in the turn."""
    try:
        from rasa.engine.constants import PLACEHOLDER_TRACKER

        metadata = processor.model_metadata
        nodes, todo, seen = metadata.predict_schema.nodes, [metadata.nlu_target], set()
        while todo:
            name = todo.pop()
            if name in seen or name not in nodes:
                continue
            seen.add(name)
            needs = list(nodes[name].needs.values())
            if PLACEHOLDER_TRACKER in needs:
                return True
            todo.extend(needs)
    except Exception:  # an unexpected model layout: leave the parse to Rasa
        return True
    return False
