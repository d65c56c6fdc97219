"""Benchmarks and the GPU proof (not part of the installed package): run with the repository root on PYTHONPATH."""
