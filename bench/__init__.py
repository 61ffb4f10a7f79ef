"""The performance benchmark of issue 5: `python -m bench.run` (or `make bench`); see BENCHMARKS.md."""
