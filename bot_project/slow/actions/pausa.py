"""`action_pausa`: waits SLOW_BOT_SECONDS seconds, then answers, to simulate a slow backend."""

import asyncio
import logging
import math
import os
from typing import Any, Dict, List, Mapping, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

SECONDS_VARIABLE = "SLOW_BOT_SECONDS"
DEFAULT_SECONDS = 5.0
REPLY = "Listo, ya lo procesé."


def pause_seconds(environ: Optional[Mapping[str, str]] = None) -> float:
    """Reads how long the action waits from SLOW_BOT_SECONDS (default 5).

    Args:
        environ: where to read the variable from; the process environment by default.

    Returns:
        The pause in seconds, zero or more.

    Raises:
        ValueError: naming SLOW_BOT_SECONDS when it is not a finite, non-negative number.
    """
    env = os.environ if environ is None else environ
    raw = env.get(SECONDS_VARIABLE, "").strip()
    if raw == "":
        return DEFAULT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{SECONDS_VARIABLE} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{SECONDS_VARIABLE} must be zero or more seconds, got {raw!r}")
    return seconds


class ActionPausa(Action):
    """Sleeps without blocking the action server, then answers "Listo, ya lo procesé."."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_pausa"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Dict[str, Any],
    ) -> List[Dict[str, Any]]:
        """Waits, then answers "Listo, ya lo procesé."."""
        seconds = pause_seconds()
        logger.debug("Pausing %.3f s for conversation %s", seconds, tracker.sender_id)
        await asyncio.sleep(seconds)
        dispatcher.utter_message(text=REPLY)
        return []
