"""Process-wide tuning for a responsive event loop: the start-up heap kept out of GC scans,
and a warning when Rasa's check of custom action answers holds the loop."""

import gc
import logging
import time
from importlib import metadata
from typing import Any

from rasa_chattigo.compat import rasa_api

logger = logging.getLogger(__name__)

#: Loop time of Rasa's check of one custom action answer above which start-up warns.
SLOW_ACTION_CHECK = 0.010

_frozen = False


def freeze_startup_heap() -> None:
    """Collects once, then moves every object alive now out of the garbage collector's scans.

    Called once the server has started, so the loaded model, Rasa and TensorFlow are what gets
    frozen (`gc.freeze`). A full collection otherwise walks that whole heap: with the demo
    model about half a second, every twenty seconds or so under load, and no webhook is
    answered meanwhile. Objects created later are collected as usual. Once per process.
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    logger.info("Froze %d start-up objects out of garbage collection (%.0f ms)",
                gc.get_freeze_count(), (time.perf_counter() - started) * 1000)


def warn_slow_action_check(agent: Any, limit_seconds: float = SLOW_ACTION_CHECK) -> None:
    """Warns once at start-up when Rasa's check of each custom action's answer is slow here.

    Every custom action call then holds the event loop that long, and webhooks wait for it:
    with jsonschema 4.17 (which Rasa 3.6 accepts) it took 26.6 ms on a 2-core VM, against
    2.2 ms with jsonschema 3.2.0 (docs/troubleshooting.md).
    """
    seconds = rasa_api.action_answer_check_seconds(agent)
    if seconds is not None and seconds > limit_seconds:
        logger.warning(
            "Rasa checked one custom action answer in %.1f ms on the event loop (jsonschema "
            "%s); every custom action call holds webhooks that long. Rasa 3.6 accepts "
            "jsonschema 3.2.0, about ten times faster: see docs/troubleshooting.md",
            seconds * 1000, _version("jsonschema"))


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown version"
