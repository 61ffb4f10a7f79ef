"""The Lambda function: wires S3 events (and S3 Batch Operations tasks) to the archive job, with logs and metrics.

Settings are read and GDAL configured once, at cold start, so a misconfigured function fails
before it touches any object. Each record of an event is handled on its own: a bad image is tagged
and skipped, and the other records still run; any other failure is raised after the rest of the
event is done, so Lambda retries (every step is idempotent) and finally routes the event to the
failure queue. A COG that fails our own checks is not the input's fault and would fail again: its
record goes to the failure queue at once (`FAILURE_QUEUE_URL`), without burning the retries.

S3 Batch Operations invokes the same function synchronously, with tasks instead of records: each task
gets its own answer (`imagery_archive.batch_operations`), and such an invocation never raises, since
Batch Operations retries the tasks answered `TemporaryFailure` itself.

With `LARGE_SCENE_JOB_QUEUE` set, an object too large for this function's scratch space is not touched:
it is submitted as one AWS Batch job, which runs `archive_one` below in the same image
(`imagery_archive.job`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagery_archive.archive_job import JobReport, archive_object
from imagery_archive.batch_operations import (
    BatchInvocation,
    BatchTask,
    ResultCode,
    TaskResult,
    answer,
    is_batch_operations_event,
    refusal,
    task_result,
)
from imagery_archive.compress import InvalidCogError, compress, configure_gdal, gdal_sends_http_headers
from imagery_archive.errors import PermanentError, SourceChangedError
from imagery_archive.keys import ObjectLocation, event_key
from imagery_archive.large_scenes import LargeSceneJobs, Upload
from imagery_archive.outcomes import ObjectResult, Outcome
from imagery_archive.profiles import CompressionProfile
from imagery_archive.scratch import sweep_stale_scratch
from imagery_archive.settings import SERVICE_NAME, FunctionSettings
from imagery_archive.source_access import SourceReading
from imagery_archive.stac import describe_scene
from imagery_archive.storage import ImageryStore, s3_client
from imagery_archive.task_standing import standing_of

SETTINGS = FunctionSettings.from_env()
configure_gdal(cache_mb=SETTINGS.gdal_cache_mb, tmp_dir=SETTINGS.work_dir)
STORE = ImageryStore(s3_client())
SQS = boto3.client("sqs")
READING = SourceReading(SETTINGS.source_read, gdal_sends_http_headers())
logger = Logger(service=SERVICE_NAME)
metrics = Metrics(service=SERVICE_NAME)
LARGE_SCENES = (
    LargeSceneJobs(boto3.client("batch"), SETTINGS.large_scenes, STORE.head) if SETTINGS.large_scenes else None
)


class RetryableError(Exception):
    """Raised after all records ran, when some failed for a reason a retry may cure."""

    def __init__(self, results: list[ObjectResult]) -> None:
        retried = [result for result in results if result.retry_cause is not None]
        super().__init__(f"{len(retried)} of {len(results)} objects will be retried")
        self.results = results


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Archive every object of an S3 ObjectCreated event (routing those too large for this function to the
    large-scene job) or of an S3 Batch Operations invocation; returns what happened to each."""
    swept = sweep_stale_scratch(SETTINGS.work_dir, started=time.time())
    if swept:
        logger.warning("Removed scratch left by an invocation that timed out or was killed", extra={"folders": swept})
    if is_batch_operations_event(event):
        return answer_batch_operations(BatchInvocation.from_event(event))
    results = [archive_or_route(upload_of(record), record.raw_event) for record in S3Event(event).records]
    retried = next((result.retry_cause for result in results if result.retry_cause is not None), None)
    if retried is not None:
        raise RetryableError(results) from retried
    return {"results": [result.as_json() for result in results]}


def event_object(record: S3EventRecord) -> ObjectLocation:
    """The object an S3 notification record names: its decoded key, and its version in a versioned bucket."""
    uploaded = record.s3.get_object
    return ObjectLocation(record.s3.bucket.name, event_key(uploaded.key), uploaded.version_id)


# --- large scenes: routed to AWS Batch (imagery_archive.large_scenes) before the function touches them ---


def upload_of(record: S3EventRecord) -> Upload:
    """The object a record names, with the size, ETag and version the event gives."""
    notified = record.s3.get_object
    size = notified.get("size")
    return Upload(
        event_object(record),
        size=int(size) if size is not None else None,
        etag=notified.etag or None,
        version_id=notified.version_id,
    )


def archive_or_route(upload: Upload, record: Mapping[str, Any] | None = None) -> ObjectResult:
    """`archive_one`, unless large-scene jobs are configured and the object is too large for this function."""
    if LARGE_SCENES is None or not is_an_upload(upload.location):
        return archive_one(upload.location, record)
    try:
        job = LARGE_SCENES.submit_if_large(upload)
    except Exception as error:
        logger.exception("Left in place: could not submit the large-scene job", extra={"object": str(upload.location)})
        return counted(ObjectResult(upload.location, Outcome.RETRY, str(error), retry_cause=error))
    if job is None:
        return archive_one(upload.location, record)
    logger.info(
        "Routed to the large-scene job",
        extra={"object": str(upload.location), "original_bytes": job.size, "job_name": job.name, "job_id": job.job_id},
    )
    return counted(ObjectResult(upload.location, Outcome.ROUTED, str(job)))


# --- one object, start to finish: shared by the function and the large-scene job (imagery_archive.job) ---


def is_an_upload(source: ObjectLocation) -> bool:
    """False for folder markers and for the pipeline's own results, which must never be processed."""
    return not (source.key.endswith("/") or SETTINGS.destinations.is_pipeline_output(source))


def archive_one(source: ObjectLocation, record: Mapping[str, Any] | None = None) -> ObjectResult:
    """Run one object (named by the event `record`) and say what happened; never raises, so other
    records still run."""
    if not is_an_upload(source):
        logger.info("Skipped: not an image upload", extra={"object": str(source)})
        return counted(ObjectResult(source, Outcome.SKIPPED))
    try:
        compress_image = partial(compress, profile=profile_for(source))
        report = archive_object(
            source, STORE, SETTINGS.destinations, compress_image, SETTINGS.work_dir, describe_scene, READING
        )
    except PermanentError as error:
        logger.error("Left in place: can't be compressed", extra={"object": str(source), "reason": str(error)})
        return counted(mark_failed(source, error))
    except InvalidCogError as error:
        return counted(send_to_failure_queue(source, error, record))
    except SourceChangedError as error:
        logger.warning("Left in place: replaced during processing", extra={"object": str(source), "reason": str(error)})
        return counted(ObjectResult(source, Outcome.SOURCE_CHANGED, str(error)))
    except Exception as error:
        logger.exception("Left in place: will be retried", extra={"object": str(source)})
        return counted(ObjectResult(source, Outcome.RETRY, str(error), retry_cause=error))
    record_report(report)
    return counted(ObjectResult(source, report.outcome, report=report))


def profile_for(source: ObjectLocation) -> CompressionProfile:
    """The function's profile, lossless if the operator listed the key's prefix or the uploader tagged it."""
    if SETTINGS.lossless_requested_for(source.key) or STORE.lossless_requested(source):
        return replace(SETTINGS.profile, lossless=True)
    return SETTINGS.profile


def answer_batch_operations(invocation: BatchInvocation) -> dict[str, Any]:
    """The documented response to an S3 Batch Operations invocation: one result per task, never an exception."""
    logger.info(
        "S3 Batch Operations invocation",
        extra={
            "job": invocation.job_id,
            "schema": invocation.schema_version,
            "tasks": len(invocation.tasks),
            "user_arguments": dict(invocation.user_arguments),
        },
    )
    results = [answer_task(task) for task in invocation.tasks]
    for result in results:  # every task is counted, refused ones too: the job's progress shows in CloudWatch
        metrics.add_metric(name=f"BatchOperations{result.code.value}", unit=MetricUnit.Count, value=1)
    return invocation.response(results)


def answer_task(task: BatchTask) -> TaskResult:
    """Run one task's object through the job, unless it must not run (see `batch_operations.refusal`)."""
    if task.location is None:
        logger.error("Malformed S3 Batch Operations task", extra={"reason": task.problem})
        return answer(task, ResultCode.PERMANENT_FAILURE, task.problem)
    subject = {"object": str(task.location), "version": task.version_id, "task": task.task_id}
    try:
        refused = refusal(task, standing_of(STORE.client, task.location))
    except Exception as error:
        logger.exception("Left in place: will be retried", extra=subject)
        return answer(task, ResultCode.TEMPORARY_FAILURE, f"transient error (left in place, retried): {error}")
    if refused is not None:
        logger.info("Task not run", extra={**subject, "reason": refused.text})
        return refused
    result = task_result(task, archive_or_route(Upload(task.location, version_id=task.version_id)))
    logger.info("Task answered", extra={**subject, "result": result.code.value, "reason": result.text})
    return result


def counted(result: ObjectResult) -> ObjectResult:
    """`result`, once its outcome is counted in the function's metrics."""
    metrics.add_metric(name=result.outcome.metric_name, unit=MetricUnit.Count, value=1)
    return result


def mark_failed(source: ObjectLocation, error: PermanentError) -> ObjectResult:
    """Tag the original so people and backfills can see why it stayed; retry if tagging fails."""
    try:
        STORE.tag_failed(source, str(error))
    except Exception as tagging_error:
        logger.exception("Could not tag the failed original", extra={"object": str(source)})
        return ObjectResult(source, Outcome.FAILED, str(error), retry_cause=tagging_error)
    return ObjectResult(source, Outcome.FAILED, str(error))


def send_to_failure_queue(
    source: ObjectLocation, error: InvalidCogError, record: Mapping[str, Any] | None
) -> ObjectResult:
    """Report a failure of our own output: one message with the object, the reason and its event record.

    The message's `requestPayload` is a one-record event, as in the messages Lambda itself sends to the
    queue after the last retry, so either kind is replayed the same way. The original stays untouched
    and untagged: it is not known to be bad. Without a queue, or if the send fails, the event is retried.
    """
    logger.error("Left in place: our COG failed its checks", extra={"object": str(source), "reason": str(error)})
    if SETTINGS.failure_queue_url is None:
        return ObjectResult(source, Outcome.RETRY, str(error), retry_cause=error)
    message = {
        "condition": "OutputFailedChecks",
        "object": str(source),
        "versionId": source.version_id,
        "reason": str(error),
        "requestPayload": {"Records": [dict(record)] if record is not None else []},
    }
    try:
        SQS.send_message(QueueUrl=SETTINGS.failure_queue_url, MessageBody=json.dumps(message))
    except Exception as sending_error:
        logger.exception("Could not send to the failure queue", extra={"object": str(source)})
        return ObjectResult(source, Outcome.RETRY, str(error), retry_cause=sending_error)
    return ObjectResult(source, Outcome.NEEDS_ATTENTION, str(error))


def record_report(report: JobReport) -> None:
    """Log one finished object and add its measurements to the metrics."""
    result = report.compression
    details: dict[str, Any] = {
        "object": str(report.source),
        "outcome": str(report.outcome),
        "output": str(report.output),
        "archive": str(report.archived_copy),
        "original_bytes": report.original_bytes,
        "seconds": {phase: round(seconds, 3) for phase, seconds in report.seconds.items()},
        "archive_proof": report.proof,
    }
    if result is not None:
        details.update(
            compressed_bytes=result.compressed_bytes,
            ratio=round(result.ratio, 2),
            ssim=round(result.ssim, 4),
            encoding=result.encoding.compression,
            reason=result.encoding.reason,
        )
        metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=result.original_bytes)
        metrics.add_metric(name="BytesOut", unit=MetricUnit.Bytes, value=result.compressed_bytes)
        metrics.add_metric(name="CompressionRatio", unit=MetricUnit.NoUnit, value=result.ratio)
        metrics.add_metric(name="SSIM", unit=MetricUnit.NoUnit, value=result.ssim)
        if result.ratio < 1:
            logger.warning(
                "The COG is larger than the original (already compressed lossily?): consider MAX_Z_ERROR",
                extra={"object": str(report.source), "ratio": round(result.ratio, 2)},
            )
    if report.read is not None:
        details.update(source_read=str(report.read.mode), source_read_reason=report.read.reason)
        # SourceStreamed / SourceDownloaded: how many originals took each path (the reason is logged).
        metrics.add_metric(name=f"Source{report.read.mode.capitalize()}ed", unit=MetricUnit.Count, value=1)
    for phase, seconds in report.seconds.items():
        metrics.add_metric(name=f"{phase.capitalize()}Seconds", unit=MetricUnit.Seconds, value=seconds)
    logger.info(f"Object {report.outcome}", extra=details)
