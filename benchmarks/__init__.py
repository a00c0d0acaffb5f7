"""Benchmarks: ``python -m benchmarks`` prints one table, each figure beside its anchor."""
