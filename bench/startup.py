"""Start-up: what importing the channel adds to `rasa run`'s own imports."""

import json
import subprocess
import sys
from typing import Any, Dict, List

from bench.stats import summary

# Imports what `rasa run` imports, then what credentials.yml's `rasa_chattigo.ChattigoInput`
# makes Rasa import, timing each in the same interpreter (so nothing is counted twice).
_PROBE = """
import json, time
t0 = time.perf_counter()
import rasa.core.run, rasa.core.agent, rasa.core.channels
t1 = time.perf_counter()
import rasa_chattigo
rasa_chattigo.ChattigoInput
t2 = time.perf_counter()
print(json.dumps({"rasa": t1 - t0, "chattigo": t2 - t1}))
"""


def _one() -> Dict[str, float]:
    env = {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": ""}
    answer = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe, no shell
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, env=env)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def run(reps: int) -> Dict[str, Any]:
    """Import times over `reps` fresh interpreters (one unmeasured first warms the disk cache)."""
    _one()
    samples: List[Dict[str, float]] = [_one() for _ in range(reps)]
    rasa = summary([s["rasa"] * 1000 for s in samples], "ms", 1)
    chattigo = summary([s["chattigo"] * 1000 for s in samples], "ms", 1)
    return {"rasa_imports": rasa, "chattigo_import": chattigo,
            "ratio": round(chattigo["median"] / rasa["median"], 3)}
