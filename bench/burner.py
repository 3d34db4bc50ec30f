"""A process that keeps a share of one core busy: the load the Chattigo harness puts beside
`rasa run`, without the harness.

Under Chattigo the sandbox (receiving every reply) and the generator (building webhooks,
long-polling for replies) use more CPU than the REST generator does. On a 2-core machine that
CPU shares the second core with `rasa run`'s TensorFlow threads, and slows Rasa's own work,
though a real deployment has Chattigo on other machines. REST run beside a burner of the same
share (`e2e.alternate`) measures what that costs REST, so the channel's own cost can be told
apart from the harness's.

Run as `python -m bench.burner SHARE PARENT_PID` (`Burner` does); it spins `SHARE` (0-1) of
every 10 ms, sleeps the rest, and stops when killed or when the process that started it is gone.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Optional, Type

from bench.procs import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent

#: Seconds per spin-and-sleep cycle.
PERIOD = 0.010


def harness_share(chattigo_ms: float, rest_ms: float, throughput: float) -> float:
    """The share of a core the harness uses beyond REST's generator, at Chattigo's pace.

    Args:
        chattigo_ms: sandbox plus generator CPU per message under Chattigo, in ms.
        rest_ms: the same under REST (the generator alone, in practice).
        throughput: Chattigo's messages per second in the same run.
    """
    return min(max((chattigo_ms - rest_ms) * throughput / 1000, 0.0), 1.0)


class Burner:
    """Keeps `share` of one core busy while the `with` block runs (no process at 0).

    Args:
        share: 0-1 of a core.

    Attributes:
        used: the share of a core the burner process did use, measured from /proc when the
            block ends (0 when it never ran): what the report shows next to `share`.
    """

    def __init__(self, share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be within 0-1, not {share}")
        self.share = share
        self.used = 0.0
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._started = 0.0

    def __enter__(self) -> "Burner":
        if self.share > 0:
            self._process = subprocess.Popen(  # noqa: S603 - this module, no shell
                [sys.executable, "-m", "bench.burner", repr(self.share), str(os.getpid())],
                cwd=ROOT)
            self._started = time.perf_counter()
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], error: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        if self._process is not None:
            spent = cpu_seconds(self._process.pid)
            self.used = spent / max(time.perf_counter() - self._started, 1e-9)
            self._process.kill()
            self._process.wait()
            self._process = None


def burn(share: float, parent: int) -> None:
    """Spins `share` of every `PERIOD`, sleeps the rest, until `parent` is no longer its parent
    (a bench killed outright never reaches `Burner.__exit__`; one killed before this started
    is noticed too)."""
    busy = share * PERIOD
    while os.getppid() == parent:
        started = time.perf_counter()
        while time.perf_counter() - started < busy:
            pass
        time.sleep(max(PERIOD - (time.perf_counter() - started), 0.0))


if __name__ == "__main__":
    burn(float(sys.argv[1]), int(sys.argv[2]))
