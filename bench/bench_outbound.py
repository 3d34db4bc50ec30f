"""Benchmark of `build_requests`: a short text, a 10,000-character text and a 3-button menu."""

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from rasa_chattigo.outbound import SendContext, build_requests
from rasa_chattigo.settings import parse_settings

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "outbound"
REPEATS = 7


def _measure(call: Callable[[], Any], number: int) -> Dict[str, float]:
    """Median and spread of `REPEATS` timings of `number` calls, in µs per call."""
    timings: List[float] = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        for _ in range(number):
            call()
        timings.append((time.perf_counter_ns() - start) / number / 1000)
    return {
        "median_us": round(statistics.median(timings), 1),
        "min_us": round(min(timings), 1),
        "max_us": round(max(timings), 1),
        "stdev_us": round(statistics.stdev(timings), 1),
        "calls_per_repeat": number,
    }


def run() -> Dict[str, Dict[str, float]]:
    """Runs the benchmark; returns µs per call for `short_text`, `text_10000` and `menu_3`."""
    settings = parse_settings({"did": "5492644710400", "username": "u", "password": "p"})
    ctx = SendContext(did="5492644710400", msisdn="5492644472542", bot_name="Aynux")
    prose = json.loads((FIXTURES / "prose_10000.json").read_text(encoding="utf-8"))["text"]
    short = {"text": "¡Hola! ¿En qué puedo ayudarte?"}
    long = {"text": prose}
    menu = {
        "text": "¿Confirmás el turno del lunes a las 10:00?",
        "buttons": [
            {"title": "Sí", "payload": "/affirm"},
            {"title": "No", "payload": "/deny"},
            {"title": "Reprogramar", "payload": "/reprogramar"},
        ],
    }
    assert len(build_requests(long, ctx, settings)) == 3
    return {
        "short_text": _measure(lambda: build_requests(short, ctx, settings), 5000),
        "text_10000": _measure(lambda: build_requests(long, ctx, settings), 200),
        "menu_3": _measure(lambda: build_requests(menu, ctx, settings), 3000),
    }


def main() -> int:
    """Prints the results, one line per case."""
    for case, result in run().items():
        print(
            f"build_requests {case}: median {result['median_us']} µs "
            f"(min {result['min_us']}, max {result['max_us']}, stdev {result['stdev_us']}, "
            f"{REPEATS} repeats of {result['calls_per_repeat']} calls)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
