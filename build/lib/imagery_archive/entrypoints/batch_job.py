"""The archive job as a batch job: `python3 -m imagery_archive.job`, in the function's own image.

AWS Batch (Fargate) runs it for objects too large for the function (`imagery_archive.entrypoints.large_scene_routing`).
It reads the object from `SOURCE_BUCKET` and `SOURCE_KEY` (the decoded key), and the function's whole
environment contract (`FunctionSettings.from_env`: `OUTPUT_BUCKET`, prefixes, codec, ...), then runs the
function's own `Pipeline.archive_one`: the same job, the same logs and metrics (Powertools, flushed at exit), the
same guarantees. Its only limit is its disk: `check_scratch_space` measures the real free space.

Exit codes, which the job definition's retry strategy reads:

- 0: archived, already archived (a duplicate job), gone, or no longer the upload it was submitted for;
- 1: a transient failure (throttling, network, a tag that could not be written): retried;
- 2: retrying can't help: the input is bad (tagged failed and left in place, as the function does), or
  the job itself is misconfigured (nothing is touched). Never retried; the job ends FAILED, which the
  stack sends to the failure queue.

`SOURCE_ETAG` and `SOURCE_VERSION_ID` name the upload the job was submitted for. If the key now holds
another upload (a re-upload while the job waited in the queue), that upload has an event, and a job,
of its own: this one changes nothing and exits 0, logged and counted as "source changed", as the
function treats an object replaced while it ran. A replacement between this check and the archive
copy is caught by the job's own conditions (`CopySourceIfMatch`, `IfMatch` on delete); whichever
version the job archives, it deletes only that version, after verifying its copy.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from imagery_archive.archiving.outcomes import ObjectResult, Outcome
from imagery_archive.entrypoints.batch_exit_codes import EXIT_DONE, EXIT_PERMANENT, EXIT_RETRY
from imagery_archive.entrypoints.pipeline import Pipeline
from imagery_archive.errors import SettingsError
from imagery_archive.s3.storage import error_code
from imagery_archive.settings import SERVICE_NAME, JobSource


def main() -> int:
    """Archive the object the environment names; the exit code tells Batch whether to retry."""
    try:
        source = JobSource.from_env()
        pipeline = Pipeline.from_env()  # the function's cold start: settings read and checked, GDAL configured
    except SettingsError as error:
        Logger(service=SERVICE_NAME).error("Misconfigured job: not retried", extra={"reason": str(error)})
        return EXIT_PERMANENT
    return archive_for_batch(pipeline, source)


def archive_for_batch(pipeline: Pipeline, source: JobSource) -> int:
    """Archive `source` with `pipeline`, its metrics flushed however it ends; the exit code for Batch."""
    pipeline.logger.append_keys(
        batch_job_id=os.environ.get("AWS_BATCH_JOB_ID"), batch_job_attempt=os.environ.get("AWS_BATCH_JOB_ATTEMPT")
    )
    try:
        result = run(pipeline, source)
    finally:
        pipeline.metrics.flush_metrics(raise_on_empty_metrics=False)
    return exit_code(result)


def run(pipeline: Pipeline, source: JobSource) -> ObjectResult:
    """`archive_one` for `source`, unless the key no longer holds the upload the job was submitted for."""
    try:
        replaced = replaced_since_submitted(pipeline.store.client, source)
    except Exception as error:
        pipeline.logger.exception("Left in place: will be retried", extra={"object": str(source.location)})
        return pipeline.counted(ObjectResult(source.location, Outcome.RETRY, str(error), retry_cause=error))
    if replaced:
        pipeline.logger.warning(
            "Left in place: replaced since the job was submitted",
            extra={"object": str(source.location), "reason": replaced},
        )
        return pipeline.counted(ObjectResult(source.location, Outcome.SOURCE_CHANGED, replaced))
    return pipeline.archive_one(source.location)


def replaced_since_submitted(s3_client: Any, source: JobSource) -> str | None:
    """Why the object at the key is not the upload `source` names; None if it is, or if it is gone."""
    if source.etag is None and source.version_id is None:
        return None
    try:
        head = s3_client.head_object(Bucket=source.location.bucket, Key=source.location.key)
    except ClientError as error:
        if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
            return None  # archive_one tells "gone" from "already archived"
        raise
    current_etag, current_version = head["ETag"].strip('"'), head.get("VersionId")
    if source.etag is not None and current_etag != source.etag:
        return f"{source.location} is now ETag {current_etag}, not the upload {source.etag} this job was submitted for"
    if source.version_id is not None and current_version != source.version_id:
        return f"{source.location} is now version {current_version}, not {source.version_id} this job was submitted for"
    return None


def exit_code(result: ObjectResult) -> int:
    """0 done, 1 retry, 2 permanent (see the module docstring)."""
    if result.retry_cause is not None:
        return EXIT_RETRY
    if result.outcome is Outcome.FAILED:
        return EXIT_PERMANENT
    return EXIT_DONE
