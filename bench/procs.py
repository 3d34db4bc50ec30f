"""CPU time of the processes under test (read from /proc), and of this load generator."""

import os
import time
from pathlib import Path
from typing import Dict, Optional

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def pid_serving(url: str) -> Optional[int]:
    """The pid of our child process started with `url`'s port among its arguments, if any."""
    port = url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if port.encode() in args and any(b"rasa" in arg for arg in args):
            return int(entry.name)
    return None


def cpu_seconds(pid: Optional[int]) -> float:
    """User plus system CPU seconds used so far by `pid` (0 when unknown or gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


class ProcessCPU:
    """CPU seconds spent by named processes (and by this one, `generator`) between marks.

    Args:
        urls: name -> base URL of a child process listening on that port.
    """

    def __init__(self, urls: Dict[str, str]) -> None:
        self._pids = {name: pid_serving(url) for name, url in urls.items()}
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
