"""Benchmark of `parse_webhook`: one text webhook and a batch of 100 messages."""

import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from rasa_chattigo.inbound import parse_webhook
from rasa_chattigo.settings import parse_settings

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "inbound"
BATCH_SIZE = 100
REPEATS = 7


def _text_webhook() -> Dict[str, Any]:
    return json.loads((FIXTURES / "text.json").read_text(encoding="utf-8"))


def _batch_webhook(size: int = BATCH_SIZE) -> Dict[str, Any]:
    """One change holding `size` text messages from `size` senders, each with its contact."""
    body = _text_webhook()
    value = body["entry"][0]["changes"][0]["value"]
    template, contact = value["messages"][0], value["contacts"][0]
    value["messages"], value["contacts"] = [], []
    for i in range(size):
        sender = f"54911555{i:05d}"
        message = copy.deepcopy(template)
        message.update({"from": sender, "id": f"wamid.BENCH{i:05d}"})
        value["messages"].append(message)
        value["contacts"].append({**copy.deepcopy(contact), "wa_id": sender})
    return body


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
    """Runs the benchmark; returns µs per call for `text_webhook` and `batch_100`."""
    settings = parse_settings({"did": "5491140001234", "username": "u", "password": "p"})
    text, batch = _text_webhook(), _batch_webhook()
    assert len(parse_webhook(batch, settings).messages) == BATCH_SIZE
    return {
        "text_webhook": _measure(lambda: parse_webhook(text, settings), 2000),
        "batch_100": _measure(lambda: parse_webhook(batch, settings), 40),
    }


def main() -> int:
    """Prints the results, one line per case."""
    for case, result in run().items():
        print(
            f"parse_webhook {case}: median {result['median_us']} µs "
            f"(min {result['min_us']}, max {result['max_us']}, stdev {result['stdev_us']}, "
            f"{REPEATS} repeats of {result['calls_per_repeat']} calls)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
