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

The warm contenders of `bench.warm` take many objects in one process, as a warm Lambda does, and report the
seconds of each object:

- `ours_warm`: the handler built once, then invoked with one event per object (its phases are in its log);
- `reference_warm`: the reference's steps per object, with one S3 client for all (and its phases);
- `encode_warm`: the bare encode of each object's local copy (`ALL_THREADS_COG_OPTIONS`), no S3.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
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
    check_archived(handler(spec["event"], LambdaContext(memory_limit_in_mb=int(spec.get("memory_mb", 4096)))))
    gdal_gets = json.loads(gdal.NetworkStatsGetAsSerializedJSON() or "{}").get("methods", {}).get("GET", {})
    gdal_bytes = int(gdal_gets.get("downloaded_bytes", 0))
    moved = counter.as_dict()
    moved.update(
        bytes_downloaded=moved["bytes_downloaded"] + gdal_bytes,
        bytes_moved=moved["bytes_moved"] + gdal_bytes,
        gdal_gets={"count": int(gdal_gets.get("count", 0)), "bytes": gdal_bytes},
    )
    report({**moved, "handler_s": time.perf_counter() - started})


def check_archived(response: dict[str, Any]) -> None:
    """Stop the run (it must not be measured as a success) unless the handler archived its one object."""
    outcomes = [item["outcome"] for item in response["results"]]
    if outcomes != [Outcome.ARCHIVED]:
        raise SystemExit(f"the handler did not archive the object: {response['results']}")


def run_ours_warm(spec: dict[str, Any]) -> None:
    """Our handler built once, as at a cold start, then invoked once per object, as a warm Lambda is for a
    batch of uploads; the seconds of each invocation (its phases are in its 'Object archived' log line)."""
    from imagery_archive.entrypoints.pipeline import Pipeline, lambda_handler  # noqa: PLC0415 - the cold start

    handler = lambda_handler(Pipeline.from_env())
    seconds = []
    for item in spec["objects"]:
        started = time.perf_counter()
        response = handler(item["event"], LambdaContext(memory_limit_in_mb=int(spec["memory_mb"])))
        seconds.append(time.perf_counter() - started)
        check_archived(response)
    report({"seconds": seconds})


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

    started = time.perf_counter()
    s3 = boto3.client("s3")
    counter = S3ByteCounter().attach(s3)
    phases = archive_like_reference(s3, spec["bucket"], spec["key"], spec["output_bucket"])
    report({**counter.as_dict(), "handler_s": time.perf_counter() - started, "phases": phases})


def run_reference_warm(spec: dict[str, Any]) -> None:
    """The blog's handler warm: one S3 client, then its steps for each object in turn; the seconds and
    phases of each object."""
    import boto3  # noqa: PLC0415

    s3 = boto3.client("s3")
    seconds, phases = [], []
    for item in spec["objects"]:
        started = time.perf_counter()
        phases.append(archive_like_reference(s3, spec["bucket"], item["key"], spec["output_bucket"]))
        seconds.append(time.perf_counter() - started)
    report({"seconds": seconds, "phases": phases})


def archive_like_reference(s3: Any, bucket: str, key: str, output_bucket: str) -> dict[str, float]:
    """One object through the blog's steps: download to /tmp, `gdal.Translate` to a JPEG q75 COG on one thread,
    upload the COG, upload the original again into Glacier, delete it; the seconds of each step."""
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    tmp = Path(os.environ["TMPDIR"])
    local = tmp / Path(key).name
    cog = tmp / f"cog_{Path(key).name}"
    phases: dict[str, float] = {}
    with timed(phases, "download"):
        s3.download_file(bucket, key, str(local))
    with timed(phases, "compress"):
        options = gdal.TranslateOptions(format="COG", creationOptions=list(REFERENCE_COG_OPTIONS))
        gdal.Translate(str(cog), str(local), options=options)
    with timed(phases, "upload"):
        s3.upload_file(str(cog), output_bucket, f"output/{key}")
    with timed(phases, "archive"):
        s3.upload_file(str(local), output_bucket, f"archive/{key}", ExtraArgs={"StorageClass": "GLACIER"})
    with timed(phases, "delete"):
        s3.delete_object(Bucket=bucket, Key=key)
    local.unlink()
    cog.unlink()
    return phases


def run_encode_warm(spec: dict[str, Any]) -> None:
    """The bare encode of each object's local copy in one process, no S3 and no checks: the floor under any
    handler's time per object. The seconds of each."""
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    options = gdal.TranslateOptions(format="COG", creationOptions=list(ALL_THREADS_COG_OPTIONS))
    cog = Path(os.environ["TMPDIR"]) / "cog.tif"
    seconds = []
    for item in spec["objects"]:
        started = time.perf_counter()
        gdal.Translate(str(cog), item["path"], options=options)  # the dataset returned is closed at once
        seconds.append(time.perf_counter() - started)
        cog.unlink()
    report({"seconds": seconds})


@contextlib.contextmanager
def timed(phases: dict[str, float], phase: str) -> Iterator[None]:
    """Record the seconds the block takes as `phases[phase]`."""
    started = time.perf_counter()
    yield
    phases[phase] = time.perf_counter() - started


CONTENDERS = {
    "ours": run_ours,
    "reference": run_reference,
    "job": run_job,
    "ours_warm": run_ours_warm,
    "reference_warm": run_reference_warm,
    "encode_warm": run_encode_warm,
}


def main(argv: list[str]) -> None:
    name, spec_path = argv
    CONTENDERS[name](json.loads(Path(spec_path).read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
