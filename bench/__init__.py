"""The performance benchmark: our function against the reference design (the AWS blog's handler),
`gdal_translate` and rio-cogeo. `python -m bench.run` (or `make bench`); see BENCHMARKS.md."""
