"""`python -m bench --quick --only channel` runs and writes both result files with every figure."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURE_KEYS = {"unit", "reps", "median", "min", "max"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "channel", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    return done, out


def test_the_quick_channel_bench_exits_cleanly(quick_run):
    done, _ = quick_run
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_json_has_every_channel_only_figure(quick_run):
    _, out = quick_run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    channel = results["channel_only"]
    assert set(channel) == {"parse_webhook", "build_requests", "sends", "send_cpu", "memory"}
    assert set(channel["send_cpu"]) == {"channel", "bare_aiohttp", "bare_httpx"}
    assert set(channel["parse_webhook"]) == {"text_webhook", "batch_100"}
    assert set(channel["build_requests"]) == {"short_text", "text_10000", "menu_3"}
    assert FIGURE_KEYS <= set(channel["sends"]["chattigo"])
    assert FIGURE_KEYS <= set(channel["sends"]["baseline_bare_httpx"])
    assert FIGURE_KEYS <= set(channel["memory"]["in_flight"])
    assert FIGURE_KEYS <= set(channel["memory"]["processed"])


def test_one_login_serves_every_send(quick_run):
    _, out = quick_run
    sends = json.loads((out / "results.json").read_text(encoding="utf-8"))["channel_only"]["sends"]
    assert sends["logins"] == 1


def test_the_run_records_its_machine_and_no_errors(quick_run):
    _, out = quick_run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["quick"] is True
    assert results["errors"] == {}
    assert {"cpu", "cores", "memory_gib", "os", "python", "rasa"} == set(results["machine"])


def test_the_markdown_table_has_a_row_per_channel_only_figure(quick_run):
    _, out = quick_run
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "| Figure | Chattigo | Baseline | Ratio |" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Figure" not in line]
    assert len(rows) == 2 + 3 + 1 + 2 + 2
