"""Helpers of ``scripts/bench.py``: processes, load generation, synthetic comments, phases, report."""
