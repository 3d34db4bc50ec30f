"""`bench.e2e`, `bench.slowbot` and `bench.report` without a `rasa run`: the order of the
Chattigo variants, their CPU figures, and the webhook front's figures and rows in the results."""

from typing import Any, Dict, List

import pytest

from bench import channels, e2e, report, slowbot
from bench.load import RunResult

VARIANTS = (channels.ON, channels.OFF, channels.FRONT)
REST_RUNS = (channels.REST, channels.REST_METADATA, channels.REST_REPLY, channels.REST_LOADED)


def _figures(messages: int = 10, seconds: float = 1.0, rasa: float = 0.2,
             front: float = 0.05) -> Dict[str, Any]:
    """One run's figures: `messages` in `seconds`, `rasa` and `front` CPU seconds."""
    result = RunResult("chattigo", messages=messages, replies=2 * messages, seconds=seconds,
                       latencies_ms=[100.0, 200.0], acks_ms=[5.0, 9.0],
                       acks_seen_ms=[6.0, 30.0], notify_lag_ms=[2.0])
    cpu = {"rasa": rasa, "sandbox": 0.01, "generator": 0.01, "front": front}
    return {**e2e.run_figures(result, cpu), "harness_share": 0.1, "burner_share": 0.1}


def _runs() -> Dict[str, List[Dict[str, Any]]]:
    """One repetition of every run; the front's is twice as fast as the others."""
    runs = {name: [_figures(front=0.001)] for name in (*REST_RUNS, channels.ON, channels.OFF)}
    runs[channels.FRONT] = [_figures(seconds=0.5, rasa=0.3, front=0.1)]
    return runs


def _results() -> Dict[str, Any]:
    runs = _runs()
    return {"started": "2026-12-05T00:00:00+00:00", "quick": True, "duration_seconds": 1.0,
            "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 1.0, "os": "os",
                        "python": "3.10", "rasa": "3.6"},
            "load_average": {}, "load": {"users": 1, "messages_per_run": 10, "reps": 1},
            "end_to_end": e2e.end_to_end_figures(runs),
            "ack": {"normal": e2e.variant_ack_figures(runs), "slow_bot": slowbot.summarise(runs)}}


def test_each_repetition_rotates_the_three_chattigo_variants():
    assert [e2e.turn_order(rep) for rep in range(4)] == [
        [channels.ON, channels.OFF, channels.FRONT], [channels.OFF, channels.FRONT, channels.ON],
        [channels.FRONT, channels.ON, channels.OFF], [channels.ON, channels.OFF, channels.FRONT]]


@pytest.mark.parametrize("base", [0, 100])
def test_every_run_of_fifty_repetitions_has_its_own_phone_numbers(base):
    tags = {e2e.run_tag(variant, rep, base) for variant in VARIANTS for rep in range(50)}
    assert len(tags) == 150


def test_a_run_adds_the_fronts_cpu_to_rasa_runs():
    figures = _figures(rasa=0.2, front=0.05)
    assert (figures["cpu_rasa"], figures["cpu_front"]) == (pytest.approx(20.0),
                                                           pytest.approx(5.0))
    assert figures["cpu_rasa_and_front"] == pytest.approx(25.0)


def test_a_run_without_the_fronts_cpu_has_no_combined_figure():
    result = RunResult("rest", messages=1, seconds=1.0, latencies_ms=[1.0])
    assert "cpu_rasa_and_front" not in e2e.run_figures(result, {"rasa": 0.1})


def test_the_summary_compares_the_front_with_rest_and_every_baseline():
    throughput = e2e.end_to_end_figures(_runs())["throughput"]
    assert throughput["chattigo_front"]["median"] == 20.0
    assert {key: throughput[key] for key in (
        "ratio_front", "ratio_front_to_rest_metadata", "ratio_front_to_rest_reply",
        "ratio_front_to_rest_loaded")} == dict.fromkeys((
            "ratio_front", "ratio_front_to_rest_metadata", "ratio_front_to_rest_reply",
            "ratio_front_to_rest_loaded"), 2.0)
    assert "ratio_gate_off_to_rest_loaded" not in throughput


def test_the_summary_has_the_fronts_cpu_alone_and_with_rasa_runs():
    figures = e2e.end_to_end_figures(_runs())
    assert figures["cpu_front"]["chattigo_front"]["median"] == 10.0
    assert figures["cpu_rasa_and_front"]["chattigo_front"]["median"] == 40.0
    assert figures["cpu_rasa_and_front"]["rest"]["median"] == 20.1


def test_the_results_carry_the_fronts_ack_and_slow_bot_figures():
    ack = _results()["ack"]
    assert set(ack["normal"]["front"]) == {"p50", "p99", "seen_p99"}
    assert set(ack["slow_bot"]["front"]) == {
        "p50", "p99", "seen_p99", "latency_p50", "throughput", "cpu_rasa", "cpu_front",
        "cpu_rasa_and_front", "rasa_cores"}


@pytest.mark.parametrize("row", [
    "| End to end, webhook front: Throughput | 20 msg/s | REST 10 msg/s | 2.000 |",
    "| End to end, webhook front: Webhook front CPU per message | 10 ms/msg "
    f"| REST, front idle, 0.1 ms/msg | {report.DASH} |",
    "| End to end, webhook front: `rasa run` + webhook front CPU per message | 40 ms/msg "
    "| REST, front idle, 20.1 ms/msg | 1.990 |",
    "| End to end, webhook front, against REST sending each reply: Throughput | 20 msg/s "
    "| REST sending replies 10 msg/s | 2.000 |",
    "| End to end, webhook front, against REST beside that burner: Throughput | 20 msg/s "
    "| REST with burner 10 msg/s | 2.000 |",
    "| Ack, webhook front: webhook answer p99, normal bot | 8.96 ms "
    "| adaptive start on 8.96 ms | 1.000 |",
    "| Ack, webhook front: webhook answer p99 as the generator's loop read it, normal bot "
    "| 29.76 ms | adaptive start on 29.76 ms | 1.000 |",
    "| Ack: webhook answer p99 as the generator's loop read it, 1 s bot | 29.76 ms "
    "| adaptive start off 29.76 ms | 1.000 |",
    "| 1 s bot, webhook front: throughput | 20 msg/s | adaptive start on 10 msg/s | 2.000 |",
])
def test_the_table_has_the_fronts_rows(row):
    assert row in report.markdown(_results()).splitlines()


def test_results_without_the_generators_own_ack_times_still_make_a_table():
    results = _results()
    for bot in ("normal", "slow_bot"):
        for figures in (results["ack"][bot], results["ack"][bot]["front"],
                        results["ack"][bot]["gate_off"]):
            del figures["seen_p99"]
    rows = report.markdown(results).splitlines()
    assert not [row for row in rows if "as the generator's loop read it" in row]
    assert [row for row in rows if row.startswith("| Ack, webhook front: webhook answer p99,")]


def test_the_fronts_rows_follow_the_gate_off_rows():
    rows = [line.split(" | ")[0] for line in report.markdown(_results()).splitlines()]
    last_gate_off = rows.index("| End to end, adaptive start off: `rasa run` CPU per message")
    assert rows[last_gate_off + 1] == "| End to end, webhook front: Throughput"
