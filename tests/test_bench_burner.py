"""`bench.burner`: the stand-in for the Chattigo harness's CPU beside REST."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.burner import Burner, harness_share
from bench.procs import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent


def test_the_share_is_the_harness_cpu_beyond_rest_at_chattigo_pace():
    # 2.5 ms more per message at 40 msg/s: a tenth of a core
    assert harness_share(3.0, 0.5, 40.0) == pytest.approx(0.1)


@pytest.mark.parametrize("chattigo_ms, rest_ms, expected", [(0.4, 0.5, 0.0), (60.0, 0.5, 1.0)])
def test_the_share_stays_within_one_core(chattigo_ms, rest_ms, expected):
    assert harness_share(chattigo_ms, rest_ms, 50.0) == expected


def test_a_burner_uses_about_its_share_then_stops():
    # Loose below (a busy machine gives it less), strict above, and two shares told apart.
    used = {share: _burn_for_a_while(share) for share in (0.15, 0.45)}
    for share, (measured, reported) in used.items():
        assert share / 3 < measured < share + 0.1
        assert share / 3 < reported < share + 0.1  # what the report shows, start-up included
    assert used[0.45][0] > 2 * used[0.15][0]


def _burn_for_a_while(share):
    with Burner(share) as burner:
        process = burner._process
        time.sleep(0.5)  # Python's start-up, not counted
        start = cpu_seconds(process.pid)
        time.sleep(2.0)
        measured = (cpu_seconds(process.pid) - start) / 2.0
    assert process.poll() is not None
    return measured, burner.used


def test_a_burner_of_nothing_starts_no_process():
    with Burner(0.0) as burner:
        assert burner._process is None


def test_a_share_beyond_one_core_is_refused():
    with pytest.raises(ValueError, match="share"):
        Burner(1.5)


def test_a_burner_stops_once_the_bench_is_gone():
    # Killed at once: before the burner process even reached its loop.
    bench = subprocess.Popen([sys.executable, "-c", (
        "import time\n"
        "from bench.burner import Burner\n"
        "print(Burner(0.1).__enter__()._process.pid, flush=True)\n"
        "time.sleep(60)\n")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    burner = int(bench.stdout.readline())
    bench.kill()
    bench.wait()
    bench.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(burner):
        time.sleep(0.05)
    assert not _running(burner)


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
