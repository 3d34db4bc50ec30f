"""`bench.procs`: the processes whose CPU the bench reads, found from /proc."""

import os
import subprocess
import sys

import pytest

from bench.procs import child_pid

MARKER = "bench-procs-test-marker"


def test_a_child_is_found_by_its_command_line():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", MARKER])
    try:
        assert child_pid(os.getpid(), MARKER) == child.pid
    finally:
        child.kill()
        child.wait()


def test_no_child_running_the_marker_names_the_parent():
    with pytest.raises(LookupError, match=f"process {os.getpid()} has no child"):
        child_pid(os.getpid(), MARKER)
