"""CPU time of the processes under test (read from /proc), and of this load generator."""

import os
import time
from pathlib import Path
from typing import Dict

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by `pid` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


class ProcessCPU:
    """CPU seconds spent by named processes (and by this one, `generator`) between marks.

    Args:
        pids: name -> pid of a child process, e.g. from `LocalStack.pids`.
    """

    def __init__(self, pids: Dict[str, int]) -> None:
        self._pids = dict(pids)
        self._last = self._read()

    def _read(self) -> Dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        now["generator"] = time.process_time()
        return now

    def mark(self) -> Dict[str, float]:
        """CPU seconds per process since the previous mark."""
        now = self._read()
        spent = {name: now[name] - self._last[name] for name in now}
        self._last = now
        return spent
