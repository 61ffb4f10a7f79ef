"""Compress satellite imagery to Cloud Optimized GeoTIFF and archive the originals, safely.

Three layers that know nothing of each other: the GDAL core (`compress`, `profiles`, `quality`),
the S3 layer (`storage`), and the job that runs one object through both (`archive_job`).
`handler.py`, beside this package, only wires them to Lambda.
"""
