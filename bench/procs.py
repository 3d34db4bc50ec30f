"""CPU time of the processes under test (read from /proc), and of this load generator."""

import os
import time
from pathlib import Path
from typing import Dict, List

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> List[str]:
    """The fields of /proc/<pid>/stat after the command name (the state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by `pid` (0 once it is gone)."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def child_pid(parent: int, marker: str) -> int:
    """The pid of a child of `parent` whose command line contains `marker`.

    Raises:
        LookupError: `parent` has no such child (now).
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry.name))[1])
            command = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if ppid == parent and marker.encode() in command:
            return int(entry.name)
    raise LookupError(f"process {parent} has no child running {marker}")


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
