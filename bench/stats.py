"""Repeated measurements: per-call timings, and their median, spread, percentiles and ratios."""

import math
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

REPEATS = 7


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) by linear interpolation, as numpy's default.

    Raises:
        ValueError: `values` is empty or `q` is outside 0-100.
    """
    if not values:
        raise ValueError("values: no measurements to take a percentile of")
    if not 0 <= q <= 100:
        raise ValueError(f"q: must be between 0 and 100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(reps: Sequence[float], unit: str, digits: int = 2) -> Dict[str, Any]:
    """One figure from repetitions: every value, the median and the min-max spread.

    Args:
        reps: one value per repetition.
        unit: what the values measure ("msg/s", "ms", "µs", ...).
        digits: rounding of the reported values.
    """
    if not reps:
        raise ValueError("reps: no repetitions to summarise")
    return {
        "unit": unit,
        "reps": [round(value, digits) for value in reps],
        "median": round(statistics.median(reps), digits),
        "min": round(min(reps), digits),
        "max": round(max(reps), digits),
    }


def ratio(value: Dict[str, Any], baseline: Dict[str, Any]) -> Optional[float]:
    """`value`'s median over `baseline`'s median, or None when the baseline is zero."""
    if not baseline["median"]:
        return None
    return round(value["median"] / baseline["median"], 3)


def time_per_call(call: Callable[[], Any], number: int, repeats: int = REPEATS
                  ) -> Dict[str, float]:
    """Median and spread of `repeats` timings of `number` calls, in µs per call.

    Raises:
        ValueError: `number` below 1 or `repeats` below 2 (a spread needs two timings).
    """
    if number < 1:
        raise ValueError(f"number: must be at least 1, got {number}")
    if repeats < 2:
        raise ValueError(f"repeats: must be at least 2, got {repeats}")
    timings: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(number):
            call()
        timings.append((time.perf_counter_ns() - start) / number / 1000)
    return {
        "median_us": round(statistics.median(timings), 1),
        "min_us": round(min(timings), 1),
        "max_us": round(max(timings), 1),
        "stdev_us": round(statistics.stdev(timings), 1),
        "calls_per_repeat": number,
    }


def per_call_lines(label: str, results: Dict[str, Dict[str, float]],
                   repeats: int = REPEATS) -> List[str]:
    """One line per case of `time_per_call` results, as the bench modules print them."""
    return [
        f"{label} {case}: median {result['median_us']} µs "
        f"(min {result['min_us']}, max {result['max_us']}, stdev {result['stdev_us']}, "
        f"{repeats} repeats of {result['calls_per_repeat']} calls)"
        for case, result in results.items()
    ]


def from_bench_module(result: Dict[str, Any]) -> Dict[str, Any]:
    """Converts one `time_per_call` result (a case of `bench_inbound.run()`, ...) to a figure."""
    return {
        "unit": "µs",
        "reps": None,
        "median": result["median_us"],
        "min": result["min_us"],
        "max": result["max_us"],
        "stdev": result["stdev_us"],
        "calls_per_rep": result["calls_per_repeat"],
    }
