"""The Lambda entry point: wires S3 events to the pipeline, with logs and metrics.

Settings are read and GDAL configured once, at cold start, so a misconfigured function fails
before it touches any object. Each record of an event is handled on its own: a bad image is tagged
and skipped, and the other records still run; any other failure is raised after the rest of the
event is done, so Lambda retries (every step is idempotent) and finally routes the event to the
failure queue.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from imagery_archive.archive_job import JobReport, archive_object
from imagery_archive.compress import compress, configure_gdal
from imagery_archive.errors import PermanentError, SourceChangedError
from imagery_archive.keys import event_key
from imagery_archive.settings import FunctionSettings
from imagery_archive.storage import ImageryStore, ObjectLocation

SETTINGS = FunctionSettings.from_env()
configure_gdal(cache_mb=SETTINGS.gdal_cache_mb, tmp_dir=SETTINGS.work_dir)
STORE = ImageryStore(boto3.client("s3"))
logger = Logger(service="imagery-archive")
metrics = Metrics(service="imagery-archive")


class RetryableError(Exception):
    """Raised after all records ran, when some failed for a reason a retry may cure."""


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Archive every object of an S3 ObjectCreated event; returns what happened to each."""
    outcomes: dict[str, str] = {}
    retryable: list[Exception] = []
    for record in S3Event(event).records:
        source = ObjectLocation(record.s3.bucket.name, event_key(record.s3.get_object.key))
        outcomes[str(source)] = process(source, retryable)
    if retryable:
        raise RetryableError(f"{len(retryable)} of {len(outcomes)} objects will be retried") from retryable[0]
    return {"outcomes": outcomes}


def process(source: ObjectLocation, retryable: list[Exception]) -> str:
    """Run one object and record what happened; never raises, so other records still run."""
    if source.key.endswith("/") or SETTINGS.destinations.holds(source):
        logger.info("Skipped: not an image upload", extra={"object": str(source)})
        metrics.add_metric(name="Skipped", unit=MetricUnit.Count, value=1)
        return "skipped"
    try:
        report = archive_object(
            source, STORE, SETTINGS.destinations, partial(compress, profile=SETTINGS.profile), SETTINGS.work_dir
        )
    except PermanentError as error:
        logger.error("Left in place: can't be compressed", extra={"object": str(source), "reason": str(error)})
        metrics.add_metric(name="PermanentFailures", unit=MetricUnit.Count, value=1)
        return mark_failed(source, error, retryable)
    except SourceChangedError as error:
        logger.warning("Left in place: replaced during processing", extra={"object": str(source), "reason": str(error)})
        metrics.add_metric(name="SourceChanged", unit=MetricUnit.Count, value=1)
        return f"source changed: {error}"
    except Exception as error:
        logger.exception("Left in place: will be retried", extra={"object": str(source)})
        metrics.add_metric(name="RetryableErrors", unit=MetricUnit.Count, value=1)
        retryable.append(error)
        return f"retry: {error}"
    record_report(report)
    return report.outcome


def mark_failed(source: ObjectLocation, error: PermanentError, retryable: list[Exception]) -> str:
    """Tag the original so people and backfills can see why it stayed; retry if tagging fails."""
    try:
        STORE.tag_failed(source, str(error))
    except Exception as tagging_error:
        logger.exception("Could not tag the failed original", extra={"object": str(source)})
        retryable.append(tagging_error)
    return f"failed: {error}"


def record_report(report: JobReport) -> None:
    """Log one finished object and add its metrics."""
    result = report.compression
    details: dict[str, Any] = {
        "object": str(report.source),
        "outcome": report.outcome,
        "output": str(report.output),
        "archive": str(report.archive),
        "original_bytes": report.original_bytes,
        "seconds": {phase: round(seconds, 3) for phase, seconds in report.seconds.items()},
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
    for phase, seconds in report.seconds.items():
        metrics.add_metric(name=f"{phase.capitalize()}Seconds", unit=MetricUnit.Seconds, value=seconds)
    name = {"archived": "ImagesArchived", "already-archived": "DuplicateDeliveries"}.get(report.outcome, "Gone")
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    logger.info(f"Object {report.outcome}", extra=details)
