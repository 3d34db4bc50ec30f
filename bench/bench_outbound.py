"""Benchmark of `build_requests`: a short text, a 10,000-character text and a 3-button menu."""

import json
import sys
from pathlib import Path
from typing import Dict

from bench.stats import per_call_lines, time_per_call
from rasa_chattigo.outbound._build import SendContext, build_requests
from rasa_chattigo.settings import parse_settings

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "outbound"


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
    assert len(build_requests(long, ctx, settings)) == 4  # Chattigo's 3,000 characters
    return {
        "short_text": time_per_call(lambda: build_requests(short, ctx, settings), 5000),
        "text_10000": time_per_call(lambda: build_requests(long, ctx, settings), 200),
        "menu_3": time_per_call(lambda: build_requests(menu, ctx, settings), 3000),
    }


def main() -> int:
    """Prints the results, one line per case."""
    print("\n".join(per_call_lines("build_requests", run())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
