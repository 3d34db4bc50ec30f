"""WhatsApp's 24-hour window: when each user last wrote, and what a reply outside it becomes."""

import logging
import time
from collections import OrderedDict
from typing import Any, Callable, List, Optional

from rasa_chattigo.compat import rasa_api
from rasa_chattigo.logsafe import escape
from rasa_chattigo.outbound._build import OutboundRequest, SendContext, template_request
from rasa_chattigo.outbound._templates import fill_template
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

#: WhatsApp delivers free-form messages only this long after the user's last message.
WINDOW_SECONDS = 24 * 3600


class Window:
    """When each user last wrote: the tracker's word, with an in-memory shortcut.

    A user message this process saw less than 24 hours ago settles it (the window is open,
    whatever other instances saw). Otherwise the tracker is read: it holds every instance's
    messages and survives restarts. When this process is the only one serving the numbers
    (`shared` False), what it saw since start-up is complete, so a closed window it knows
    of needs no read either. Bot messages, external intents and statuses never count.

    Args:
        shared: whether other instances serve the same numbers.
        clock: Unix seconds, injectable for tests and benchmarks.
        max_entries: conversations remembered; the least recently active go first.
    """

    def __init__(self, *, shared: bool, clock: Callable[[], float] = time.time,
                 max_entries: int = 100_000) -> None:
        self._shared = shared
        self._clock = clock
        self._max_entries = max_entries
        self._last: OrderedDict[str, float] = OrderedDict()
        self.app: Any = None

    def user_wrote(self, sender_id: str, at: Optional[float] = None) -> None:
        """Notes a message the user wrote (never call it for intents the channel makes)."""
        self._put(sender_id, self._clock() if at is None else at)

    async def age(self, sender_id: str) -> Optional[float]:
        """Seconds since the user last wrote; None when the user never wrote."""
        now = self._clock()
        last = self._last.get(sender_id)
        if last is not None and (now - last < WINDOW_SECONDS or not self._shared):
            return now - last
        agent = rasa_api.app_agent(self.app)
        if agent is None:
            return None if last is None else now - last
        stored = rasa_api.last_user_message_at(await rasa_api.read_tracker(agent, sender_id))
        if stored is not None and (last is None or stored > last):
            self._put(sender_id, stored)
            last = stored
        return None if last is None else now - last

    def _put(self, sender_id: str, at: float) -> None:
        if self._last.get(sender_id, 0.0) > at:
            return
        self._last[sender_id] = at
        self._last.move_to_end(sender_id)
        while len(self._last) > self._max_entries:
            self._last.popitem(last=False)


def _describe(age: Optional[float]) -> str:
    return "the user never wrote" if age is None else f"the user last wrote {age / 3600:.1f} h ago"


class WindowPolicy:
    """Applies `outside_window` to the requests of one reply.

    Args:
        settings: `outside_window` and `window_template`.
        window: when each user last wrote.
    """

    def __init__(self, settings: ChattigoSettings, window: Window) -> None:
        self._settings = settings
        self._action = settings.outside_window_action
        self._window = window

    async def apply(
        self, sender_id: str, requests: List[OutboundRequest], text: str, ctx: SendContext
    ) -> List[OutboundRequest]:
        """The requests to send: unchanged inside the window; outside, per `outside_window`."""
        if not any(r.kind == "message" for r in requests):
            return requests  # templates and hand-off sends are allowed at any time
        age = await self._window.age(sender_id)
        if age is not None and age < WINDOW_SECONDS:
            return requests
        kept = [r for r in requests if r.kind != "message"]
        if self._action == "send":
            logger.warning("Conversation %s is outside WhatsApp's 24-hour window (%s): "
                           "sending the reply anyway (outside_window: send)",
                           escape(sender_id), _describe(age))
            return requests
        if self._action == "drop":
            logger.error("Conversation %s is outside WhatsApp's 24-hour window (%s): reply "
                         "not sent (outside_window: drop)", escape(sender_id),
                         _describe(age))
            return kept
        template = fill_template(self._settings.window_template or {}, text)
        logger.info("Conversation %s is outside WhatsApp's 24-hour window (%s): sending "
                    "template %s instead of the reply (outside_window: template)",
                    escape(sender_id),
                    _describe(age), template.get("template", template.get("elementName")))
        return [template_request(template, ctx, self._settings), *kept]
