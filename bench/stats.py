"""Summaries of repeated measurements: median, spread, percentiles and ratios."""

import math
import statistics
from typing import Any, Dict, Optional, Sequence


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


def from_bench_module(result: Dict[str, Any]) -> Dict[str, Any]:
    """Converts one case of `bench_inbound.run()` / `bench_outbound.run()` (µs per call)."""
    return {
        "unit": "µs",
        "reps": None,
        "median": result["median_us"],
        "min": result["min_us"],
        "max": result["max_us"],
        "stdev": result["stdev_us"],
        "calls_per_rep": result["calls_per_repeat"],
    }
