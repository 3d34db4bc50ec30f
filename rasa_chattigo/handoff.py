"""Hand-off to Chattigo's human agents: the pause in the tracker, the hand-back, the timeout."""

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Set

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.logsafe import escape
from rasa_chattigo.notes import Notes
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

class Handoffs:
    """Pauses a conversation when the bot hands it to agents, and resumes it when it comes back.

    The pause is Rasa's own `ConversationPaused` event, added under the conversation's lock
    once the bot's turn is saved, so every instance sharing the tracker store sees it; Rasa
    then records the user's messages and predicts nothing. A pause older than
    `handoff_timeout_seconds` ends at the user's next message.

    When each pause began is also noted in `notes` (memory, or the shared Redis), so checking
    the timeout costs no tracker read; with one instance, a conversation not seen since start-up
    is read from the tracker once.

    Args:
        settings: the channel settings (`handoff_timeout_seconds`, `intents`).
        notes: when each pause this channel made began, kept longer than the timeout.
        shared: whether other instances serve the same numbers (the notes are then shared).
        clock: Unix seconds, injectable for tests.
    """

    def __init__(self, settings: ChattigoSettings, notes: Notes, *, shared: bool,
                 clock: Callable[[], float] = time.time, max_entries: int = 100_000) -> None:
        self._timeout = settings.handoff_timeout_seconds
        self._intent = settings.intent_for["transfer"]
        self.notes = notes
        self._shared = shared
        self.clock = clock
        self._max_entries = max_entries
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._pending: Dict[str, asyncio.Task[None]] = {}
        self._tasks: Set[asyncio.Task[None]] = set()
        self.app: Any = None

    def bot_handed_off(self, sender_id: str) -> None:
        """The bot sent a `transfer` or `group`: pause the conversation once this turn ends.

        The pause waits for the conversation's lock, which the bot's turn holds until its
        tracker is saved; `settle` waits for it.
        """
        task = asyncio.ensure_future(self._pause(sender_id))
        self._tasks.add(task)
        self._pending[sender_id] = task
        task.add_done_callback(lambda done: self._forget_task(sender_id, done))

    def _forget_task(self, sender_id: str, task: "asyncio.Task[None]") -> None:
        self._tasks.discard(task)
        if self._pending.get(sender_id) is task:
            del self._pending[sender_id]

    def handing_off(self, sender_id: str) -> bool:
        """Whether a pause this turn asked for is not in the tracker yet."""
        return sender_id in self._pending

    async def settle(self, sender_id: str) -> None:
        """Waits until a pause this turn asked for is in the tracker."""
        task = self._pending.get(sender_id)
        if task is not None:
            await asyncio.shield(task)

    async def _pause(self, sender_id: str) -> None:
        agent = rasa_api.app_agent(self.app)
        if agent is None:
            logger.warning("Hand-off of %s not recorded: no Rasa agent to pause it",
                           escape(sender_id))
            return
        try:
            await rasa_api.update_conversation(agent, sender_id, [rasa_api.paused()])
            await self.notes.put(sender_id, repr(self.clock()))
        except Exception:  # the turn is over: nothing else can report it
            logger.exception("Could not pause conversation %s after its hand-off",
                             escape(sender_id))
            return
        logger.info("Conversation %s handed to Chattigo's agents: the bot keeps quiet",
                    escape(sender_id))

    async def hand_back(self, sender_id: str, output: Any, how: str) -> None:
        """Chattigo gave the chat back (`transfer`) or closed it (`close`): resume the bot.

        On `transfer` the bot also receives the hand-back intent (`/chattigo_handback`).
        """
        agent = rasa_api.app_agent(self.app)
        if agent is None:
            logger.warning("Hand-back of %s ignored: no Rasa agent", escape(sender_id))
            return
        intent = self._intent if how == "transfer" else None
        resumed, told = await rasa_api.update_conversation(
            agent, sender_id, [rasa_api.resumed()], only_if_paused=True, intent=intent,
            output=output)
        await self.notes.drop(sender_id)
        logger.info("Chattigo sent %s for %s: %s%s", how, escape(sender_id),
                    "the bot answers again" if resumed else "the bot was not paused",
                    f"; intent {intent} triggered" if told else "")
        if intent is not None and not told:
            logger.warning("The bot's domain has no intent %s: add it to greet the user "
                           "when the chat comes back", intent)

    async def expire(self, sender_id: str) -> None:
        """Before a user message: a pause older than `handoff_timeout_seconds` ends, logged."""
        since = await self._paused_since(sender_id)
        if since is None:
            return
        age = self.clock() - since
        if age < self._timeout:
            return
        agent = rasa_api.app_agent(self.app)
        resumed, _ = await rasa_api.update_conversation(
            agent, sender_id, [rasa_api.resumed()], only_if_paused=True)
        await self.notes.drop(sender_id)
        if resumed:
            logger.info("Hand-off of %s given no answer for %.0f s (handoff_timeout_seconds "
                        "%.0f): the bot answers again", escape(sender_id), age,
                        self._timeout)

    async def _paused_since(self, sender_id: str) -> Optional[float]:
        noted = await self.notes.get(sender_id)
        if noted is not None:
            return float(noted)
        if self._shared or sender_id in self._seen:
            return None
        self._seen[sender_id] = None  # one tracker read per conversation after start-up
        while len(self._seen) > self._max_entries:
            self._seen.popitem(last=False)
        agent = rasa_api.app_agent(self.app)
        if agent is None:
            return None
        since = rasa_api.pause_state(await rasa_api.read_tracker(agent, sender_id))
        if since is not None:
            await self.notes.put(sender_id, repr(since))
        return since

    async def close(self) -> None:
        """Waits for the pauses still being written (they only wait for a lock)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
