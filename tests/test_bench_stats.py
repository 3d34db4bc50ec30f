"""The benchmark's summaries: percentiles, medians with spread, and ratios."""

import pytest

from bench.stats import percentile, ratio, summary


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
