"""Benchmark of `parse_webhook`: one text webhook and a batch of 100 messages."""

import copy
import json
import sys
from pathlib import Path
from typing import Any, Dict

from bench.stats import per_call_lines, time_per_call
from rasa_chattigo.inbound._parse import parse_webhook
from rasa_chattigo.settings import parse_settings

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "inbound"
BATCH_SIZE = 100


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


def run() -> Dict[str, Dict[str, float]]:
    """Runs the benchmark; returns µs per call for `text_webhook` and `batch_100`."""
    settings = parse_settings({"did": "5491140001234", "username": "u", "password": "p"})
    text, batch = _text_webhook(), _batch_webhook()
    assert len(parse_webhook(batch, settings).messages) == BATCH_SIZE
    return {
        "text_webhook": time_per_call(lambda: parse_webhook(text, settings), 2000),
        "batch_100": time_per_call(lambda: parse_webhook(batch, settings), 40),
    }


def main() -> int:
    """Prints the results, one line per case."""
    print("\n".join(per_call_lines("parse_webhook", run())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
