"""`bench.burner`: the stand-in for the Chattigo harness's CPU beside REST."""

import time

import pytest

from bench.burner import Burner, harness_share
from bench.procs import cpu_seconds


def test_the_share_is_the_harness_cpu_beyond_rest_at_chattigo_pace():
    # 2.5 ms more per message at 40 msg/s: a tenth of a core
    assert harness_share(3.0, 0.5, 40.0) == pytest.approx(0.1)


@pytest.mark.parametrize("chattigo_ms, rest_ms, expected", [(0.4, 0.5, 0.0), (60.0, 0.5, 1.0)])
def test_the_share_stays_within_one_core(chattigo_ms, rest_ms, expected):
    assert harness_share(chattigo_ms, rest_ms, 50.0) == expected


@pytest.mark.parametrize("share", [0.15, 0.45])
def test_a_burner_uses_about_its_share_then_stops(share):
    with Burner(share) as burner:
        process = burner._process
        time.sleep(0.5)  # Python's start-up, not counted
        start = cpu_seconds(process.pid)
        time.sleep(2.0)
        used = (cpu_seconds(process.pid) - start) / 2.0
    assert share - 0.1 < used < share + 0.1
    assert share - 0.15 < burner.used < share + 0.1  # what the report shows, start-up included
    assert process.poll() is not None


def test_a_burner_of_nothing_starts_no_process():
    with Burner(0.0) as burner:
        assert burner._process is None


def test_a_share_beyond_one_core_is_refused():
    with pytest.raises(ValueError, match="share"):
        Burner(1.5)
