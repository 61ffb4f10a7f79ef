"""The pipeline every entry point runs: one typed object, built in one place from the environment.

`Pipeline.from_env()` reads and checks the settings, configures GDAL and builds the S3 and SQS clients, the
read mode and the large-scene router: a misconfigured function fails there, before it touches any object.
The Lambda function builds it once, at cold start (`lambda_function`); the Batch job (`batch_job`) and the
local function of the demo and the backfill build their own.

Each record of an event is handled on its own: a bad image is tagged and skipped, and the other records
still run; any other failure is raised after the rest of the event is done, so Lambda retries (every step
is idempotent) and finally routes the event to the failure queue. A COG that fails our own checks is not
the input's fault and would fail again: its record goes to the failure queue at once
(`FAILURE_QUEUE_URL`), without burning the retries.

S3 Batch Operations invokes the same function synchronously, with tasks instead of records: each task gets
its own answer (`batch_operations`), and such an invocation never raises, since Batch Operations retries
the tasks answered `TemporaryFailure` itself.

With `LARGE_SCENE_JOB_QUEUE` set, an object too large for this function's scratch space is not touched: it
is submitted as one AWS Batch job, which runs `archive_one` in the same image (`batch_job`).

In Lambda with active tracing, each object is an X-Ray span with a span per step (`tracing`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent, S3Event
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponseRecord,
    S3BatchOperationTask,
)
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagery_archive.archiving.outcomes import JobReport, ObjectResult, Outcome, PhaseSpans, no_spans
from imagery_archive.archiving.scratch import sweep_stale_scratch
from imagery_archive.archiving.steps import CompressImage, archive_object
from imagery_archive.catalogue.scene_facts import SceneFacts, SceneFiles
from imagery_archive.entrypoints.batch_operations import (
    MalformedTaskError,
    ResultCode,
    answer,
    is_batch_operations_event,
    refusal,
    response_to,
    task_location,
    task_result,
)
from imagery_archive.entrypoints.large_scene_routing import LargeSceneJobs, Upload
from imagery_archive.entrypoints.task_standing import standing_of
from imagery_archive.entrypoints.tracing import object_span
from imagery_archive.errors import PermanentError, SourceChangedError
from imagery_archive.imaging.compress import (
    CompressionResult,
    InvalidCogError,
    compress,
    configure_gdal,
    gdal_sends_http_headers,
)
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import ObjectLocation, event_key
from imagery_archive.s3.source_access import SourceReading
from imagery_archive.s3.storage import ImageryStore, s3_client
from imagery_archive.settings import SERVICE_NAME, FunctionSettings


def describe_scene_lazily(cog: Path, facts: SceneFacts, out_dir: Path) -> SceneFiles:
    """`item.describe_scene`, its module (pystac and its extensions) imported on first use, not at a cold start.

    An invocation that only routes large scenes, skips or refuses objects never needs it.
    """
    from imagery_archive.catalogue.item import describe_scene  # noqa: PLC0415 (see the docstring)

    return describe_scene(cog, facts, out_dir)


LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
"""A Lambda handler: the event and Lambda's context object (or anything with its attributes) in, the answer out."""


class RetryableError(Exception):
    """Raised after all records ran, when some failed for a reason a retry may cure."""

    def __init__(self, results: list[ObjectResult]) -> None:
        retried = [result for result in results if result.retry_cause is not None]
        super().__init__(f"{len(retried)} of {len(results)} objects will be retried")
        self.results = results


@dataclass(frozen=True)
class Pipeline:
    """The settings and everything built from them that archiving an object needs."""

    settings: FunctionSettings
    store: ImageryStore
    sqs: Any
    reading: SourceReading
    large_scenes: LargeSceneJobs | None
    logger: Logger
    metrics: Metrics
    tracer: Tracer
    """X-Ray spans in Lambda with active tracing; off elsewhere (Powertools' own rule, see `tracing`)."""

    @classmethod
    def from_env(cls) -> Pipeline:
        """The pipeline the environment describes; raises `SettingsError` before anything is touched."""
        settings = FunctionSettings.from_env()
        configure_gdal(cache_mb=settings.gdal_cache_mb, tmp_dir=settings.work_dir)
        store = ImageryStore(s3_client())
        large_scenes = (
            LargeSceneJobs(boto3.client("batch"), settings.large_scenes, store.head) if settings.large_scenes else None
        )
        return cls(
            settings=settings,
            store=store,
            sqs=boto3.client("sqs"),
            reading=SourceReading(settings.source_read, gdal_sends_http_headers()),
            large_scenes=large_scenes,
            logger=Logger(service=SERVICE_NAME),
            metrics=Metrics(service=SERVICE_NAME),
            tracer=Tracer(service=SERVICE_NAME),
        )

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Archive every object of an S3 ObjectCreated event (routing those too large for this function to
        the large-scene job) or of an S3 Batch Operations invocation; returns what happened to each."""
        swept = sweep_stale_scratch(self.settings.work_dir, started=time.time())
        if swept:
            self.logger.warning(
                "Removed scratch left by an invocation that timed out or was killed", extra={"folders": swept}
            )
        if is_batch_operations_event(event):
            return self.answer_batch_operations(S3BatchOperationEvent(event))
        results = [self.archive_or_route(upload_of(record), record.raw_event) for record in S3Event(event).records]
        retried = next((result.retry_cause for result in results if result.retry_cause is not None), None)
        if retried is not None:
            raise RetryableError(results) from retried
        return {"results": [result.as_json() for result in results]}

    # --- large scenes: routed to AWS Batch (large_scene_routing) before the function touches them ---

    def archive_or_route(self, upload: Upload, record: Mapping[str, Any] | None = None) -> ObjectResult:
        """`archive_one`, unless large-scene jobs are configured and the object is too large for this function;
        traced as one span, annotated with the object's key and outcome."""
        with object_span(self.tracer, upload.location) as span:
            result = self._archive_or_route(upload, record, span.phase)
            span.finished(result.outcome)
        return result

    def _archive_or_route(self, upload: Upload, record: Mapping[str, Any] | None, spans: PhaseSpans) -> ObjectResult:
        if self.large_scenes is None or not self.is_an_upload(upload.location):
            return self.archive_one(upload.location, record, spans)
        try:
            job = self.large_scenes.submit_if_large(upload)
        except Exception as error:
            self.logger.exception(
                "Left in place: could not submit the large-scene job", extra={"object": str(upload.location)}
            )
            return self.counted(ObjectResult(upload.location, Outcome.RETRY, str(error), retry_cause=error))
        if job is None:
            return self.archive_one(upload.location, record, spans)
        self.logger.info(
            "Routed to the large-scene job",
            extra={
                "object": str(upload.location),
                "original_bytes": job.size,
                "job_name": job.name,
                "job_id": job.job_id,
                "job_already_live": job.already_live,
            },
        )
        return self.counted(ObjectResult(upload.location, Outcome.ROUTED, str(job)))

    # --- one object, start to finish: shared by the function and the large-scene job (batch_job) ---

    def is_an_upload(self, source: ObjectLocation) -> bool:
        """False for folder markers and for the pipeline's own results, which must never be processed."""
        return not (source.key.endswith("/") or self.settings.destinations.is_pipeline_output(source))

    def archive_one(
        self, source: ObjectLocation, record: Mapping[str, Any] | None = None, spans: PhaseSpans = no_spans
    ) -> ObjectResult:
        """Run one object (named by the event `record`) and say what happened; never raises, so other
        records still run. `spans` traces each step."""
        if not self.is_an_upload(source):
            self.logger.info("Skipped: not an image upload", extra={"object": str(source)})
            return self.counted(ObjectResult(source, Outcome.SKIPPED))
        try:
            # The uploader's tags are read while the job inspects the object: one round trip, not two.
            with ThreadPoolExecutor(1, thread_name_prefix="tags") as look:
                profile = look.submit(self.traced_profile_for, source, spans)
                settings = self.settings
                report = archive_object(
                    source,
                    self.store,
                    settings.destinations,
                    self.compressor(profile.result),
                    settings.work_dir,
                    describe_scene_lazily,
                    self.reading,
                    spans,
                )
        except PermanentError as error:
            self.logger.error("Left in place: can't be compressed", extra={"object": str(source), "reason": str(error)})
            return self.counted(self.mark_failed(source, error))
        except InvalidCogError as error:
            return self.counted(self.send_to_failure_queue(source, error, record))
        except SourceChangedError as error:
            self.logger.warning(
                "Left in place: replaced during processing", extra={"object": str(source), "reason": str(error)}
            )
            return self.counted(ObjectResult(source, Outcome.SOURCE_CHANGED, str(error)))
        except Exception as error:
            self.logger.exception("Left in place: will be retried", extra={"object": str(source)})
            return self.counted(ObjectResult(source, Outcome.RETRY, str(error), retry_cause=error))
        self.record_report(report)
        return self.counted(ObjectResult(source, report.outcome, report=report))

    def compressor(self, profile: Callable[[], CompressionProfile]) -> CompressImage:
        """`compress` with the profile `profile()` gives when the image is compressed, and GDAL's block cache
        sized for how the original is read.

        The job passes `read_options` exactly when it streams the original (`archive_object`).
        """
        settings = self.settings

        def compress_image(
            src: str | Path,
            dst: str | Path,
            on_source_read: Callable[[], None] = lambda: None,
            read_options: Mapping[str, str] | None = None,
        ) -> CompressionResult:
            cache_mb = settings.block_cache_mb(streamed=read_options is not None)
            return compress(src, dst, profile(), on_source_read, read_options, block_cache_mb=cache_mb)

        return compress_image

    def traced_profile_for(self, source: ObjectLocation, spans: PhaseSpans) -> CompressionProfile:
        """`profile_for`, as the object's step 'tags'."""
        with spans("tags"):
            return self.profile_for(source)

    def profile_for(self, source: ObjectLocation) -> CompressionProfile:
        """The function's profile, lossless if the operator listed the key's prefix or the uploader tagged it."""
        if self.settings.lossless_requested_for(source.key) or self.store.lossless_requested(source):
            return replace(self.settings.profile, lossless=True)
        return self.settings.profile

    def answer_batch_operations(self, invocation: S3BatchOperationEvent) -> dict[str, Any]:
        """The documented response to an S3 Batch Operations invocation: one result per task, never an exception."""
        self.logger.info(
            "S3 Batch Operations invocation",
            extra={
                "job": invocation.job.get("id", ""),
                "schema": invocation.invocation_schema_version,
                "tasks": len(invocation["tasks"]),
                "user_arguments": dict(invocation.job.user_arguments),
            },
        )
        results = [self.answer_task(task) for task in invocation.tasks]
        for result in results:  # every task is counted, refused ones too: the job's progress shows in CloudWatch
            self.metrics.add_metric(name=f"BatchOperations{result.result_code}", unit=MetricUnit.Count, value=1)
        return response_to(invocation, results)

    def answer_task(self, task: S3BatchOperationTask) -> S3BatchOperationResponseRecord:
        """Run one task's object through the job, unless it must not run (see `batch_operations.refusal`)."""
        try:
            location = task_location(task)
        except MalformedTaskError as malformed:
            self.logger.error("Malformed S3 Batch Operations task", extra={"reason": str(malformed)})
            return answer(task, ResultCode.PERMANENT_FAILURE, str(malformed))
        subject = {"object": str(location), "version": location.version_id, "task": task.task_id}
        try:
            refused = refusal(task, location, standing_of(self.store.client, location))
        except Exception as error:
            self.logger.exception("Left in place: will be retried", extra=subject)
            return answer(task, ResultCode.TEMPORARY_FAILURE, f"transient error (left in place, retried): {error}")
        if refused is not None:
            self.logger.info("Task not run", extra={**subject, "reason": refused.result_string})
            return refused
        result = task_result(task, self.archive_or_route(Upload(location, version_id=location.version_id)))
        self.logger.info(
            "Task answered", extra={**subject, "result": result.result_code, "reason": result.result_string}
        )
        return result

    def counted(self, result: ObjectResult) -> ObjectResult:
        """`result`, once its outcome is counted in the function's metrics."""
        self.metrics.add_metric(name=result.outcome.metric_name, unit=MetricUnit.Count, value=1)
        return result

    def mark_failed(self, source: ObjectLocation, error: PermanentError) -> ObjectResult:
        """Tag the original so people and backfills can see why it stayed; retry if tagging fails."""
        try:
            self.store.tag_failed(source, str(error))
        except Exception as tagging_error:
            self.logger.exception("Could not tag the failed original", extra={"object": str(source)})
            return ObjectResult(source, Outcome.FAILED, str(error), retry_cause=tagging_error)
        return ObjectResult(source, Outcome.FAILED, str(error))

    def send_to_failure_queue(
        self, source: ObjectLocation, error: InvalidCogError, record: Mapping[str, Any] | None
    ) -> ObjectResult:
        """Report a failure of our own output: one message with the object, the reason and its event record.

        The message's `requestPayload` is a one-record event, as in the messages Lambda itself sends to the
        queue after the last retry, so either kind is replayed the same way. The original stays untouched
        and untagged: it is not known to be bad. Without a queue, or if the send fails, the event is retried.
        """
        self.logger.error(
            "Left in place: our COG failed its checks", extra={"object": str(source), "reason": str(error)}
        )
        queue_url = self.settings.failure_queue_url
        if queue_url is None:
            return ObjectResult(source, Outcome.RETRY, str(error), retry_cause=error)
        message = {
            "condition": "OutputFailedChecks",
            "object": str(source),
            "versionId": source.version_id,
            "reason": str(error),
            "requestPayload": {"Records": [dict(record)] if record is not None else []},
        }
        try:
            self.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
        except Exception as sending_error:
            self.logger.exception("Could not send to the failure queue", extra={"object": str(source)})
            return ObjectResult(source, Outcome.RETRY, str(error), retry_cause=sending_error)
        return ObjectResult(source, Outcome.NEEDS_ATTENTION, str(error))

    def record_report(self, report: JobReport) -> None:
        """Log one finished object and add its measurements to the metrics."""
        details = report_details(report)
        result = report.compression
        if result is not None:
            for name, unit, value in (
                ("BytesIn", MetricUnit.Bytes, result.original_bytes),
                ("BytesOut", MetricUnit.Bytes, result.compressed_bytes),
                ("CompressionRatio", MetricUnit.NoUnit, result.ratio),
                ("SSIM", MetricUnit.NoUnit, result.ssim),
            ):
                self.metrics.add_metric(name=name, unit=unit, value=value)
            if result.ratio < 1:
                self.logger.warning(
                    "The COG is larger than the original (already compressed lossily?): consider MAX_Z_ERROR",
                    extra={"object": str(report.source), "ratio": round(result.ratio, 2)},
                )
        if report.read is not None:
            # SourceStreamed / SourceDownloaded: how many originals took each path (the reason is logged).
            self.metrics.add_metric(name=f"Source{report.read.mode.capitalize()}ed", unit=MetricUnit.Count, value=1)
        for phase, seconds in report.seconds.items():
            self.metrics.add_metric(name=f"{phase.capitalize()}Seconds", unit=MetricUnit.Seconds, value=seconds)
        self.logger.info(f"Object {report.outcome}", extra=details)


def report_details(report: JobReport) -> dict[str, Any]:
    """What the log line of one finished object says."""
    details: dict[str, Any] = {
        "object": str(report.source),
        "outcome": str(report.outcome),
        "output": str(report.output),
        "archive": str(report.archived_copy),
        "original_bytes": report.original_bytes,
        "seconds": {phase: round(seconds, 3) for phase, seconds in report.seconds.items()},
        "archive_proof": report.proof,
    }
    result = report.compression
    if result is not None:
        details.update(
            compressed_bytes=result.compressed_bytes,
            ratio=round(result.ratio, 2),
            ssim=round(result.ssim, 4),
            encoding=result.encoding.compression,
            reason=result.encoding.reason,
        )
    if report.read is not None:
        details.update(source_read=str(report.read.mode), source_read_reason=report.read.reason)
    return details


def lambda_handler(pipeline: Pipeline) -> LambdaHandler:
    """The Lambda handler of `pipeline`: its logs carry the invocation's context, its metrics are flushed, and
    it is the root span of the invocation's trace (the objects' spans are its children)."""

    @pipeline.metrics.log_metrics
    @pipeline.logger.inject_lambda_context
    @pipeline.tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return pipeline.handle(event)

    return handler


def event_object(record: S3EventRecord) -> ObjectLocation:
    """The object an S3 notification record names: its decoded key, and its version in a versioned bucket."""
    uploaded = record.s3.get_object
    return ObjectLocation(record.s3.bucket.name, event_key(uploaded.key), uploaded.version_id)


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
