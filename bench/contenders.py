"""The contenders that run Python, each as `python -m bench.contenders NAME SPEC_JSON` in a fresh process.

- `ours`: the real Lambda handler, built as its cold start builds it (`imagery_archive.entrypoints.lambda_function`:
  `lambda_handler(Pipeline.from_env())`), with its environment, fed the S3 event of the uploaded scene.
- `reference`: the reference design's handler logic (the AWS blog's): download the original to
  /tmp, `gdal.Translate` it to a COG with JPEG quality 75 on one thread, upload the COG, upload the
  original a second time into Glacier, delete the original. boto3's default transfer settings.

- `job`: the large-scene batch job's entry point (`entrypoints.batch_job`, what `python3 -m
  imagery_archive.job` runs on AWS Batch), with the environment Batch gives it: the function's contract
  plus `SOURCE_BUCKET`, `SOURCE_KEY` and `SOURCE_ETAG`.

All three report the bytes their S3 client moved; `ours` adds what GDAL read from S3 itself (a streamed
original), from GDAL's own network statistics (CPL_VSIL_NETWORK_STATS_ENABLED). The command-line
contenders (`gdal_translate`, rio-cogeo) are run directly by `bench.run`, with no Python of ours around them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import S3ByteCounter, report
from imagery_archive.archiving.outcomes import Outcome
from imagery_archive_cli.local.function import LambdaContext

REFERENCE_COG_OPTIONS = ("COMPRESS=JPEG", "QUALITY=75")
"""The reference design's COG creation options (the AWS blog's): JPEG at quality 75, for every contender
that stands for it (`reference`, `gdal_translate`, the rate-distortion's reference)."""


ALL_THREADS_COG_OPTIONS = (*REFERENCE_COG_OPTIONS, "NUM_THREADS=ALL_CPUS", "OVERVIEW_RESAMPLING=AVERAGE")
"""The same JPEG q75 COG as the best a user gets from GDAL alone: every CPU and the AVERAGE overviews our
function writes, so a ratio to it measures what our checks and S3 cost, not GDAL's single-threaded default."""


def run_ours(spec: dict[str, Any]) -> None:
    from osgeo import gdal  # noqa: PLC0415

    from imagery_archive.entrypoints.pipeline import Pipeline, lambda_handler  # noqa: PLC0415 - the cold start

    pipeline = Pipeline.from_env()  # what the Lambda entry builds at its cold start
    handler = lambda_handler(pipeline)
    counter = S3ByteCounter().attach(pipeline.store.client)
    started = time.perf_counter()
    response = handler(spec["event"], LambdaContext(memory_limit_in_mb=int(spec.get("memory_mb", 4096))))
    outcomes = [item["outcome"] for item in response["results"]]
    if outcomes != [Outcome.ARCHIVED]:
        raise SystemExit(f"the handler did not archive the scene: {response['results']}")
    gdal_gets = json.loads(gdal.NetworkStatsGetAsSerializedJSON() or "{}").get("methods", {}).get("GET", {})
    gdal_bytes = int(gdal_gets.get("downloaded_bytes", 0))
    moved = counter.as_dict()
    moved.update(
        bytes_downloaded=moved["bytes_downloaded"] + gdal_bytes,
        bytes_moved=moved["bytes_moved"] + gdal_bytes,
        gdal_gets={"count": int(gdal_gets.get("count", 0)), "bytes": gdal_bytes},
    )
    report({**moved, "handler_s": time.perf_counter() - started})


def run_job(spec: dict[str, Any]) -> None:
    """The batch job entry point, its S3 client counted as the handler's is."""
    record = spec["event"]["Records"][0]["s3"]
    os.environ.update(SOURCE_BUCKET=spec["bucket"], SOURCE_KEY=spec["key"], SOURCE_ETAG=record["object"]["eTag"])
    from imagery_archive.entrypoints import batch_job as job  # noqa: PLC0415 - the import is the cold start being measured
    from imagery_archive.entrypoints.pipeline import Pipeline  # noqa: PLC0415
    from imagery_archive.settings import JobSource  # noqa: PLC0415

    pipeline = Pipeline.from_env()  # the job's cold start, as `job.main` builds it
    counter = S3ByteCounter().attach(pipeline.store.client)
    started = time.perf_counter()
    exit_code = job.archive_for_batch(pipeline, JobSource.from_env())
    if exit_code != job.EXIT_DONE:
        raise SystemExit(f"the job did not archive the scene: exit code {exit_code}")
    report({**counter.as_dict(), "handler_s": time.perf_counter() - started})


def run_reference(spec: dict[str, Any]) -> None:
    """The blog's handler: every byte of the original passes through the function twice."""
    import boto3  # noqa: PLC0415
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    started = time.perf_counter()
    s3 = boto3.client("s3")
    counter = S3ByteCounter().attach(s3)
    bucket, key, output_bucket = spec["bucket"], spec["key"], spec["output_bucket"]
    tmp = Path(os.environ["TMPDIR"])
    local = tmp / Path(key).name
    cog = tmp / f"cog_{Path(key).name}"
    phases: dict[str, float] = {}

    mark = time.perf_counter()
    s3.download_file(bucket, key, str(local))
    phases["download"] = time.perf_counter() - mark

    mark = time.perf_counter()
    options = gdal.TranslateOptions(format="COG", creationOptions=list(REFERENCE_COG_OPTIONS))
    gdal.Translate(str(cog), str(local), options=options)
    phases["compress"] = time.perf_counter() - mark

    mark = time.perf_counter()
    s3.upload_file(str(cog), output_bucket, f"output/{key}")
    phases["upload"] = time.perf_counter() - mark

    mark = time.perf_counter()
    s3.upload_file(str(local), output_bucket, f"archive/{key}", ExtraArgs={"StorageClass": "GLACIER"})
    phases["archive"] = time.perf_counter() - mark

    mark = time.perf_counter()
    s3.delete_object(Bucket=bucket, Key=key)
    phases["delete"] = time.perf_counter() - mark
    local.unlink()
    cog.unlink()
    report({**counter.as_dict(), "handler_s": time.perf_counter() - started, "phases": phases})


CONTENDERS = {"ours": run_ours, "reference": run_reference, "job": run_job}


def main(argv: list[str]) -> None:
    name, spec_path = argv
    CONTENDERS[name](json.loads(Path(spec_path).read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
