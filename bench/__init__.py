"""`make bench`: end-to-end, acknowledgement, channel-only and start-up benchmarks."""
