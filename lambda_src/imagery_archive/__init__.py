"""Compress satellite imagery to Cloud Optimized GeoTIFF and archive the originals, safely.

Three layers that know nothing of each other: the GDAL core (`compress`, `profiles`, `cog_writer`,
`quality`, `target_quality`), the S3 layer (`storage`), and the job that runs one object through
both (`archive_job`). `function` wires the job to Lambda; `outcomes` says what happened to each
object, for every entry point.
"""

from pathlib import Path

__version__ = "0.1.0"
"""The package's version (pyproject.toml reads it from here); STAC Items name it as their software."""

FUNCTION_ROOT = Path(__file__).resolve().parent.parent
"""The function's code root and its image's build context: `lambda_src/` here, `/var/task` in the image."""
