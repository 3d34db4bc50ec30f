"""Benchmark of the 24-hour-window check per reply: the memory shortcut and the tracker read."""

import asyncio
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Dict, List

from bench.stats import REPEATS, per_call_lines, time_per_call
from rasa_chattigo.outbound._build import SendContext, build_requests
from rasa_chattigo.settings import parse_settings
from rasa_chattigo.window import Window, WindowPolicy

USER = "5492644472542"
TEMPLATE = {"namespace": "aynux", "template": "aviso_pendiente", "languageCode": "es_AR",
            "parameters": ["{text}"]}


async def _per_call(call: Callable[[], Awaitable[Any]], number: int) -> Dict[str, float]:
    """`time_per_call` for a coroutine: `REPEATS` timings of `number` awaits, µs per call."""
    timings: List[float] = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        for _ in range(number):
            await call()
        timings.append((time.perf_counter_ns() - start) / number / 1000)
    return {"median_us": round(statistics.median(timings), 1),
            "min_us": round(min(timings), 1), "max_us": round(max(timings), 1),
            "stdev_us": round(statistics.stdev(timings), 1), "calls_per_repeat": number}


async def _app_with_tracker(events: int) -> Any:
    """A Rasa agent whose in-memory tracker store holds a conversation of `events` events,
    the user's last message 25 hours old (so a shared instance reads it on every reply)."""
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.empty()
    agent = Agent(domain=domain, tracker_store=InMemoryTrackerStore(domain))
    now = time.time()
    history = [UserUttered("hola", {"name": "saludar"}, timestamp=now - 25 * 3600 - i)
               if i % 2 else BotUttered("¡Hola!", timestamp=now - 25 * 3600 - i)
               for i in range(events)]
    await agent.tracker_store.save(DialogueStateTracker.from_events(USER, history))
    return SimpleNamespace(ctx=SimpleNamespace(agent=agent))


async def _run(quick: bool) -> Dict[str, Dict[str, float]]:
    settings = parse_settings({"did": "5492644710400", "username": "u", "password": "p",
                               "window_template": TEMPLATE})
    ctx = SendContext(did="5492644710400", msisdn=USER, bot_name="Aynux")
    reply = build_requests({"text": "Tu factura vence mañana."}, ctx, settings)
    n = 200 if quick else 20_000
    seen = Window(shared=False)
    seen.user_wrote(USER)
    late = Window(shared=False)
    late.user_wrote(USER, time.time() - 25 * 3600)
    shared = Window(shared=True)
    shared.app = await _app_with_tracker(40)
    inside, outside = WindowPolicy(settings, seen), WindowPolicy(settings, late)
    return {
        "build_requests_text (for scale)": time_per_call(
            lambda: build_requests({"text": "Tu factura vence mañana."}, ctx, settings), n),
        "inside_window_memory": await _per_call(
            lambda: inside.apply(USER, reply, "x", ctx), n),
        "outside_window_template": await _per_call(
            lambda: outside.apply(USER, reply, "Tu factura vence mañana.", ctx), n // 4),
        "tracker_read_40_events": await _per_call(lambda: shared.age(USER), max(20, n // 40)),
    }


def run(quick: bool = False) -> Dict[str, Dict[str, float]]:
    """µs per reply of the window check: inside the window (memory), outside (the template
    built), and the tracker read a shared instance makes for a conversation it has not seen."""
    return asyncio.run(_run(quick))


def main() -> int:
    """Prints the results, one line per case."""
    print("\n".join(per_call_lines("window check", run("--quick" in sys.argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
