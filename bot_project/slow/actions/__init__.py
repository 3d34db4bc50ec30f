"""Custom actions of the slow bot used by reliability tests and benchmarks."""
