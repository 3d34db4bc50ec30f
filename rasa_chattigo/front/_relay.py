"""The turns' side of the link: what the turns of the front's messages settle through."""

import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional

from rasa_chattigo.delivery._intake import RETRY_FOR_SECONDS
from rasa_chattigo.front._link import Link


class Relay:
    """What the turns of the front's messages settle through (in place of the channel's
    `Intake`): each outcome is reported to the front, which holds the claim and the copy.

    Outcomes reported while no front is running wait for the next one.

    Args:
        remember: how many handled messages to remember, for a front that started again and
            passes on what its inbox still holds (it may have died before it heard they were
            handled; its dedup claims in memory died with it): `dedup_max_entries`.
        clock: wall-clock seconds; injectable for tests.
    """

    def __init__(self, remember: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._remember = remember
        self._clock = clock
        self._kept_at: Dict[str, float] = {}  # each message running here: when it was kept
        self._link: Optional[Link] = None
        self._unsent: List[Dict[str, str]] = []
        self._handled: OrderedDict[str, None] = OrderedDict()  # the latest, oldest first

    def take(self, key: str, kept_at: float) -> bool:
        """Records a message passed on; False when it is running here already, or was handled
        lately (a front that started again passes on what its inbox holds: it may not have
        heard of the outcome); the front then hears it again."""
        if key in self._kept_at:
            return False
        if key in self._handled:
            self._send("done", key)
            return False
        self._kept_at[key] = kept_at
        return True

    def connect(self, link: Optional[Link]) -> None:
        """Reports to `link` from now on (None while no front runs); sends what waited."""
        self._link = link
        if link is not None:
            for outcome in self._unsent:
                link.send(**outcome)
            self._unsent.clear()

    async def done(self, key: str) -> None:
        """The bot handled the message; once is enough."""
        self.report("done", key)

    def may_retry(self, key: str) -> bool:
        """Whether `key` is young enough to retry after a passing failure."""
        now = self._clock()
        return now - self._kept_at.get(key, now) < RETRY_FOR_SECONDS

    async def retry_later(self, key: str) -> None:
        """A store the bot needs is down: the front releases it and tries again later."""
        self.report("retry", key)

    async def stopped(self, key: str) -> None:
        """Not handled before shutdown: the front keeps it for the next start."""
        self.report("stopped", key)

    def report(self, op: str, key: str) -> None:
        """Reports `op` (done, retry or stopped) for `key`, unless it was settled already."""
        if self._kept_at.pop(key, None) is None:
            return  # settled already
        if op == "done":
            self._handled[key] = None
            if len(self._handled) > self._remember:
                self._handled.popitem(last=False)
        self._send(op, key)

    def _send(self, op: str, key: str) -> None:
        if self._link is None or self._link.closed:
            self._unsent.append({"op": op, "key": key})
        else:
            self._link.send(op, key=key)
