"""Benchmark harness: a fake upstream, a floor proxy, a load generator and the runner.

Run everything with ``python -m bench.run`` from the repository root.
"""
