"""The large-scene job's metrics reach CloudWatch (moto's, here) by PutMetricData, since CloudWatch extracts EMF
from Lambda's output only: a scene the job archives counts on the dashboard and in `status` like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from imagery_archive.entrypoints.batch_job import archive_for_batch
from imagery_archive.entrypoints.pipeline import Pipeline
from imagery_archive.settings import JobSource
from tests.support.faults import throttled
from tests.support.paths import SAMPLES

NAMESPACE = "ImageryArchiveJobMetricsTests"


def _job(buckets, tmp_path, monkeypatch, key: str, body: bytes) -> tuple[Pipeline, JobSource]:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=body)
    for name, value in {
        "OUTPUT_BUCKET": buckets.output,
        "CPL_TMPDIR": str(tmp_path),
        "POWERTOOLS_SERVICE_NAME": "imagery-archive",
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        "SOURCE_BUCKET": buckets.input,
        "SOURCE_KEY": key,
        "AWS_BATCH_JOB_ID": "0f6d4a39-job",
    }.items():
        monkeypatch.setenv(name, value)
    return Pipeline.from_env(), JobSource.from_env()


def _sum(cloudwatch, name: str) -> float:
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "service", "Value": "imagery-archive"}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in answer["Datapoints"])


def test_the_jobs_metrics_reach_cloudwatch(buckets, tmp_path, monkeypatch, s3_endpoint):
    body = (SAMPLES / "RGB.byte.tif").read_bytes()
    pipeline, source = _job(buckets, tmp_path, monkeypatch, "scenes/large.tif", body)
    assert archive_for_batch(pipeline, source) == 0
    cloudwatch = boto3.client("cloudwatch", endpoint_url=s3_endpoint)
    assert _sum(cloudwatch, "ImagesArchived") == 1
    assert _sum(cloudwatch, "BytesIn") == len(body)


def test_a_failed_send_leaves_the_exit_code_alone(buckets, tmp_path, monkeypatch, caplog):
    """PutMetricData fails at the wire (on every client of boto3's default session, as the job makes its own)."""
    pipeline, source = _job(buckets, tmp_path, monkeypatch, "scenes/notes.tif", b"not an image at all")
    events = boto3._get_default_session().events

    def refuse(**_: object) -> None:
        raise throttled("PutMetricData")

    events.register("before-call.cloudwatch.PutMetricData", refuse)
    try:
        assert archive_for_batch(pipeline, source) == 2, "bad input: never retried, whatever CloudWatch says"
    finally:
        events.unregister("before-call.cloudwatch.PutMetricData", refuse)
    assert "Could not send the job's metrics to CloudWatch" in caplog.text
