"""Rasa: what differs between Rasa Open Source 3.6 and Rasa Pro (3.21), and our tracker calls.

The flavour is read once, from the installed distribution's metadata, without importing Rasa.
What moved is imported lazily, so importing this module stays cheap.

Differences handled elsewhere, because they need no version check:
- `OutputChannel.__init__` holds Rasa Pro's response-delivery state (for `hangup`, streaming
  and `shutdown_response_deliveries`); `ChattigoOutput` calls it, a no-op on Rasa 3.6.
- Rasa Pro's hooks `send_buttons`, `hangup` and `wants_tracker_state` are defined on
  `ChattigoOutput`; Rasa 3.6 never calls them.
"""

import importlib
import logging
import time
from typing import Any, Dict, List, Optional, Tuple

from rasa.shared.core.constants import IS_EXTERNAL
from rasa.shared.core.events import ConversationPaused, ConversationResumed, Event, UserUttered

logger = logging.getLogger(__name__)

try:
    from importlib import metadata as _metadata
except ImportError:  # pragma: no cover - Python < 3.8 is not supported
    _metadata = None  # type: ignore[assignment]


def _installed_rasa() -> Tuple[str, Optional[str]]:
    """("pro", version), ("oss", version), or ("none", None) when no Rasa is installed."""
    for flavour, distribution in (("pro", "rasa-pro"), ("oss", "rasa")):
        try:
            return flavour, _metadata.version(distribution)
        except _metadata.PackageNotFoundError:
            continue
    return "none", None


RASA_FLAVOUR, RASA_VERSION = _installed_rasa()
#: Whether the installed Rasa is Rasa Pro (`pip install "rasa-chattigo[pro]"`).
RASA_PRO = RASA_FLAVOUR == "pro"

# Where each moved name lives: (Rasa 3.6, Rasa Pro).
_MOVED = {
    "tracker_store": ("rasa.core.tracker_store", "rasa.core.tracker_stores.tracker_store"),
    "interpolator": ("rasa.core.nlg.interpolator", "rasa.core.nlg.interpolator"),
    "config_file": ("rasa.shared.utils.io", "rasa.shared.utils.yaml"),
}


def _module(name: str) -> Any:
    return importlib.import_module(_MOVED[name][1 if RASA_PRO else 0])

#: Seconds between two looks at a conversation's lock while another turn holds it.
LOCK_POLL_SECONDS = 0.05


def app_tracker_store(app: Any) -> Any:
    """The tracker store of the Rasa agent serving `app`, or None outside `rasa run`."""
    agent = getattr(app.ctx, "agent", None)
    return getattr(agent, "tracker_store", None)


def in_memory_tracker_store(domain: Any) -> Any:
    """Rasa's InMemoryTrackerStore (`rasa.core.tracker_store` moved to
    `rasa.core.tracker_stores.tracker_store` in Rasa Pro)."""
    return _module("tracker_store").InMemoryTrackerStore(domain)


def interpolate(template: str, values: Dict[str, Any]) -> str:
    """Fills `{slot}` placeholders as Rasa does for a response text (Rasa 3.6's
    `interpolate_text` is `interpolate_format_template` in Rasa Pro)."""
    interpolator = _module("interpolator")
    if RASA_PRO:
        return str(interpolator.interpolate_format_template(template, values))
    return str(interpolator.interpolate_text(template, values))


def read_config_file(path: Any) -> Dict[str, Any]:
    """A YAML file as Rasa reads credentials.yml, `${VAR}` expanded (`rasa.shared.utils.io` in
    Rasa 3.6, `rasa.shared.utils.yaml` in Rasa Pro)."""
    return dict(_module("config_file").read_config_file(path))


def app_agent(app: Any) -> Any:
    """The Rasa agent serving `app`, or None outside `rasa run`."""
    if app is None:
        return None
    agent = getattr(app.ctx, "agent", None)
    return agent if getattr(agent, "tracker_store", None) is not None else None


def paused() -> Event:
    """The event that stops the bot answering (Rasa's own `ConversationPaused`)."""
    return ConversationPaused()


def resumed() -> Event:
    """The event that lets the bot answer again (Rasa's own `ConversationResumed`)."""
    return ConversationResumed()


def pause_state(tracker: Any) -> Optional[float]:
    """When the conversation was paused, or None when it is not paused."""
    if tracker is None or not tracker.is_paused():
        return None
    for event in reversed(tracker.events):
        if isinstance(event, ConversationPaused):
            return float(event.timestamp)
    return None  # pragma: no cover - paused without a pause event


def is_external(event: Any) -> bool:
    """Whether a user event was triggered (trigger_intent, reminder) rather than written."""
    return bool((event.metadata or {}).get(IS_EXTERNAL)) or event.text is None or str(
        event.text).startswith("EXTERNAL: ")


def last_user_message_at(tracker: Any) -> Optional[float]:
    """When the user last wrote (external intents do not count), or None."""
    if tracker is None:
        return None
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered) and not is_external(event):
            return float(event.timestamp)
    return None


async def read_tracker(agent: Any, sender_id: str) -> Any:
    """The stored tracker of a conversation (None when there is none), without locking."""
    return await agent.tracker_store.retrieve(sender_id)


async def update_conversation(
    agent: Any,
    sender_id: str,
    events: List[Event],
    *,
    only_if_paused: bool = False,
    intent: Optional[str] = None,
    entities: Optional[Dict[str, Any]] = None,
    output: Any = None,
) -> Tuple[bool, bool]:
    """Adds events under the conversation's lock, then optionally an external intent.

    The lock is the one Rasa's own message handling holds, so every instance sharing the
    lock store sees the events in order.

    Args:
        agent: the Rasa agent.
        sender_id: the conversation.
        events: the events to add (e.g. `paused()`).
        only_if_paused: add them only when the conversation is paused now.
        intent: an intent to trigger afterwards, as Rasa's `trigger_intent` does.
        entities: its entities.
        output: the output channel the bot's answer to `intent` goes through.

    Returns:
        (whether the events were added, whether the intent was triggered: False when the
        bot's domain lacks it).
    """
    processor = agent.processor
    if processor is None:
        raise RuntimeError("the Rasa agent has no model loaded")
    # Rasa waits 1 s between two looks at a busy lock; a pause should follow its turn sooner.
    async with agent.lock_store.lock(sender_id, wait_time_in_seconds=LOCK_POLL_SECONDS):
        tracker = await processor.get_tracker(sender_id)
        added = _add_events(tracker, events, processor.domain, only_if_paused)
        return added, await _trigger_or_save(processor, tracker, intent, entities, output)


def _add_events(tracker: Any, events: List[Event], domain: Any, only_if_paused: bool) -> bool:
    """Adds `events` to `tracker` (only while it is paused, if asked); whether they were added."""
    if only_if_paused and not tracker.is_paused():
        return False
    for event in events:
        tracker.update(event, domain)
    return True


async def _trigger_or_save(
    processor: Any,
    tracker: Any,
    intent: Optional[str],
    entities: Optional[Dict[str, Any]],
    output: Any,
) -> bool:
    """Triggers `intent` on `tracker` (which saves it), or just saves it when the domain lacks
    the intent; whether the intent was triggered."""
    if intent is None or intent not in processor.domain.intents:
        await processor.save_tracker(tracker)
        return False
    await processor.trigger_external_user_uttered(intent, entities or {}, tracker, output)
    return True


#: Errors a bot's turn raises when a store it uses is down for now, by (module, class) along
#: the exception's classes: Rasa's lock store, SQL tracker stores, Redis tracker/lock stores.
_TRANSIENT = {
    ("rasa.core.lock_store", "LockError"),
    ("sqlalchemy.exc", "OperationalError"),
    ("sqlalchemy.exc", "InterfaceError"),
    ("sqlalchemy.exc", "DisconnectionError"),
    ("sqlalchemy.exc", "TimeoutError"),
    ("redis.exceptions", "ConnectionError"),
    ("redis.exceptions", "TimeoutError"),
    ("redis.exceptions", "BusyLoadingError"),
    ("builtins", "ConnectionError"),
    ("builtins", "TimeoutError"),
    ("asyncio.exceptions", "TimeoutError"),
}


def is_transient(exc: BaseException) -> bool:
    """Whether a turn failed because a store it needs is down for now (worth a retry), not
    because of the message (a poison message, which fails every time)."""
    return any((cls.__module__, cls.__name__) in _TRANSIENT for cls in type(exc).__mro__)


def action_answer_check_seconds(agent: Any, tries: int = 3) -> Optional[float]:
    """How long Rasa's own check of one custom action's answer takes here (the fastest of
    `tries`), or None.

    Rasa 3.6 checks every action server answer with `jsonschema.validate`, which checks the
    schema itself first, every time, on the event loop. None when the agent has no action
    endpoint or this Rasa checks answers some other way (Rasa Pro builds its validator once).
    Never raises: a diagnostic must not stop start-up.
    """
    endpoint = getattr(agent, "action_endpoint", None)
    if endpoint is None:
        return None
    try:
        from rasa.core.actions.action import RemoteAction

        if not hasattr(RemoteAction, "_validate_action_result"):
            return None
        check = RemoteAction("action_answer_check", endpoint)._validate_action_result
        fastest = float("inf")
        for _ in range(tries):
            started = time.perf_counter()
            check({"events": [], "responses": []})  # Rasa's check, timed as it runs
            fastest = min(fastest, time.perf_counter() - started)
    except Exception as exc:  # an endpoint Rasa refuses is reported by Rasa, not here
        logger.debug("Rasa's check of an action answer could not be timed: %r", exc)
        return None
    return fastest
