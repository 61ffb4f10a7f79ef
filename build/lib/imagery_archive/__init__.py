"""Compress satellite imagery to Cloud Optimized GeoTIFF and archive the originals, safely.

Three layers that know nothing of each other:
- the GDAL core: `compress` (one image in, one COG out), `profiles` (which encoding each kind of
  image gets, a pure function), `cog_writer` (writing a COG with an encoding), `quality` (SSIM of
  the result) and `target_quality` (the JPEG/WEBP quality that reaches a target SSIM);
- the S3 layer: `storage` (copy, verify, delete, tag), with `checksums` (what S3 will report for
  the archived copy, computed from the bytes read);
- the job that runs one object through both: `archive_job` orders the steps, `scratch` stages the
  files in the function's scratch space, `cog_metadata` says what the COG records of its original.
`function` wires the job to Lambda; `settings` reads the function's configuration (and validates
the CDK app's copy of it); `keys` says where each object goes; `outcomes` says what happened to each
object, for every entry point; `errors` tells bad input from failures a retry may cure.
"""

from pathlib import Path

__version__ = "0.1.0"
"""The package's version (pyproject.toml reads it from here); STAC Items name it as their software."""

FUNCTION_ROOT = Path(__file__).resolve().parent.parent
"""The function's code root and its image's build context: `lambda_src/` here, `/var/task` in the image."""
