"""The benchmark of issue #11: `python dev.py bench` (see README.md, "Benchmark").

Not a test suite: pytest never collects it, and nothing here asserts a timing.
"""
