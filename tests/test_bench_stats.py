"""The benchmark's summaries: per-call timings, percentiles, medians with spread, ratios."""

import pytest

from bench.stats import from_bench_module, per_call_lines, percentile, ratio, summary, time_per_call


def test_percentile_interpolates_between_ranks():
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0


def test_percentile_99_of_a_hundred_values():
    assert percentile([float(v) for v in range(1, 101)], 99) == pytest.approx(99.01)


def test_percentile_of_nothing_names_the_argument():
    with pytest.raises(ValueError, match="values"):
        percentile([], 50)


def test_summary_keeps_every_repetition_and_the_spread():
    assert summary([3.0, 1.0, 2.0], "ms") == {
        "unit": "ms", "reps": [3.0, 1.0, 2.0], "median": 2.0, "min": 1.0, "max": 3.0}


def test_ratio_is_median_over_baseline_median():
    assert ratio({"median": 19.0}, {"median": 20.0}) == 0.95


def test_ratio_to_a_zero_baseline_is_none():
    assert ratio({"median": 1.0}, {"median": 0}) is None


def test_time_per_call_makes_number_calls_per_repeat():
    calls = []
    result = time_per_call(lambda: calls.append(1), 30, repeats=3)
    assert len(calls) == 90
    assert result["calls_per_repeat"] == 30


def test_time_per_call_reports_median_spread_and_stdev_in_microseconds():
    result = time_per_call(lambda: None, 5, repeats=2)
    assert set(result) == {"median_us", "min_us", "max_us", "stdev_us", "calls_per_repeat"}
    assert result["min_us"] <= result["median_us"] <= result["max_us"]


def test_time_per_call_needs_two_repeats_for_a_spread():
    with pytest.raises(ValueError, match="repeats"):
        time_per_call(lambda: None, 5, repeats=1)


def test_time_per_call_needs_at_least_one_call():
    with pytest.raises(ValueError, match="number"):
        time_per_call(lambda: None, 0)


def test_per_call_lines_print_one_line_per_case():
    result = {"median_us": 5.7, "min_us": 5.6, "max_us": 5.9, "stdev_us": 0.1,
              "calls_per_repeat": 5000}
    assert per_call_lines("build_requests", {"short_text": result}) == [
        "build_requests short_text: median 5.7 µs (min 5.6, max 5.9, stdev 0.1, "
        "7 repeats of 5000 calls)"]


def test_from_bench_module_keeps_the_case_as_a_figure_without_reps():
    result = {"median_us": 80.1, "min_us": 79.1, "max_us": 84.7, "stdev_us": 1.9,
              "calls_per_repeat": 2000}
    assert from_bench_module(result) == {
        "unit": "µs", "reps": None, "median": 80.1, "min": 79.1, "max": 84.7, "stdev": 1.9,
        "calls_per_rep": 2000}
