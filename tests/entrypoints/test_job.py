"""The batch job entry point, `python3 -m imagery_archive.job`, end to end on real imagery against the local
S3 server: each exit code AWS Batch's retry strategy reads (0 done, 1 retry, 2 never retry), what it leaves in
the buckets, and the logs and metrics it prints as the function does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagery_archive.entrypoints.batch_job import archive_for_batch
from imagery_archive.entrypoints.pipeline import Pipeline
from imagery_archive.settings import JobSource
from tests.support.faults import failing
from tests.support.paths import ROOT

SAMPLES = ROOT / "sample_data"


def job_env(buckets, tmp_path: Path, key: str, **extra: str) -> dict[str, str]:
    """What Batch gives the container: the function's contract (job definition) plus the SOURCE_* overrides."""
    return {
        "OUTPUT_BUCKET": buckets.output,
        "CPL_TMPDIR": str(tmp_path),
        "POWERTOOLS_SERVICE_NAME": "imagery-archive",
        "POWERTOOLS_METRICS_NAMESPACE": "ImageryArchiveTests",
        "SOURCE_BUCKET": buckets.input,
        "SOURCE_KEY": key,
        "AWS_BATCH_JOB_ID": "0f6d4a39-job",
        "AWS_BATCH_JOB_ATTEMPT": "1",
        **extra,
    }


def run_job(env: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    """`python -m imagery_archive.job` in a fresh process; its exit code and the JSON lines it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "imagery_archive.job"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [json.loads(line) for line in (result.stdout + result.stderr).splitlines() if line.startswith("{")]
    return result.returncode, lines


def metrics(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (emf,) = [line for line in lines if "_aws" in line]
    return emf


def put(buckets, key: str, body: bytes) -> str:
    """Upload `body`; returns its ETag as the S3 event carries it (no quotes)."""
    return buckets.client.put_object(Bucket=buckets.input, Key=key, Body=body)["ETag"].strip('"')


@pytest.mark.slow
def test_exit_0_archives_a_scene_with_the_functions_logs_and_metrics_and_0_again_for_a_duplicate(buckets, tmp_path):
    key = "scenes/landsat 7+.tif"
    body = (SAMPLES / "RGB.byte.tif").read_bytes()
    env = job_env(buckets, tmp_path, key, SOURCE_ETAG=put(buckets, key, body))

    code, lines = run_job(env)

    assert code == 0, lines
    assert buckets.keys(buckets.input) == [], "the original left only once archived"
    assert buckets.keys(buckets.output) == [
        "archive/scenes/landsat 7+.tif",
        "catalog/catalog.json",
        "catalog/collections/imagery-archive.json",
        "output/scenes/landsat 7+.json",
        "output/scenes/landsat 7+.png",
        "output/scenes/landsat 7+.tif",
    ]
    archived = buckets.client.head_object(Bucket=buckets.output, Key=f"archive/{key}", ChecksumMode="ENABLED")
    assert archived["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert archived["StorageClass"] == "GLACIER"
    (done,) = [line for line in lines if line.get("message") == "Object archived"]
    assert done["object"] == f"s3://{buckets.input}/{key}"
    assert done["batch_job_id"] == "0f6d4a39-job", "each log line names the Batch job"
    assert done["service"] == "imagery-archive"
    emf = metrics(lines)
    assert emf["ImagesArchived"] == [1.0]
    assert {"BytesIn", "BytesOut", "CompressionRatio", "SSIM", "CompressSeconds"} <= emf.keys()
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ImageryArchiveTests"
    assert list(tmp_path.iterdir()) == [], "scratch is cleaned"

    code, lines = run_job(env)
    assert code == 0, "a second job for the same upload (a duplicate delivery) is done, not failed"
    assert metrics(lines)["DuplicateDeliveries"] == [1.0]


@pytest.mark.slow
def test_exit_2_for_a_file_that_is_not_an_image_tagged_failed_and_left_in_place(buckets, tmp_path):
    put(buckets, "scenes/notes.tif", b"not an image at all")
    code, lines = run_job(job_env(buckets, tmp_path, "scenes/notes.tif"))
    assert code == 2, "Batch must not retry a bad input"
    assert buckets.keys(buckets.input) == ["scenes/notes.tif"]
    assert buckets.keys(buckets.output) == []
    tags = buckets.client.get_object_tagging(Bucket=buckets.input, Key="scenes/notes.tif")["TagSet"]
    assert {"Key": "imagery-archive:status", "Value": "failed"} in tags
    (error,) = [line for line in lines if line.get("level") == "ERROR"]
    assert "can't open it as an image" in error["reason"]
    assert metrics(lines)["PermanentFailures"] == [1.0]


@pytest.mark.slow
def test_exit_0_and_nothing_touched_when_the_key_holds_another_upload_than_the_job_was_submitted_for(buckets, tmp_path):
    first = put(buckets, "scenes/x.tif", (SAMPLES / "shade.tif").read_bytes())
    put(buckets, "scenes/x.tif", (SAMPLES / "RGB.byte.tif").read_bytes())  # replaced while the job waited
    code, lines = run_job(job_env(buckets, tmp_path, "scenes/x.tif", SOURCE_ETAG=first))
    assert code == 0, "the new upload has a job of its own; retrying this one can't help"
    assert buckets.keys(buckets.input) == ["scenes/x.tif"]
    assert buckets.keys(buckets.output) == []
    assert buckets.client.get_object_tagging(Bucket=buckets.input, Key="scenes/x.tif")["TagSet"] == []
    (warning,) = [line for line in lines if line.get("level") == "WARNING"]
    assert warning["message"] == "Left in place: replaced since the job was submitted"
    assert first in warning["reason"]
    assert metrics(lines)["SourceChanged"] == [1.0]


def test_exit_2_for_a_job_without_its_object_and_nothing_touched(buckets, tmp_path):
    put(buckets, "scenes/x.tif", b"anything")
    env = job_env(buckets, tmp_path, "")
    code, lines = run_job(env)
    assert code == 2
    assert any("SOURCE_BUCKET and SOURCE_KEY are required" in line.get("reason", "") for line in lines)
    assert buckets.keys(buckets.input) == ["scenes/x.tif"]


@pytest.mark.slow
def test_exit_1_on_a_transient_failure_leaves_the_original_untagged_and_the_retry_archives_it(
    buckets, tmp_path, monkeypatch
):
    key = "scenes/shade.tif"
    etag = put(buckets, key, (SAMPLES / "shade.tif").read_bytes())
    for name, value in job_env(buckets, tmp_path, key, SOURCE_ETAG=etag).items():
        monkeypatch.setenv(name, value)
    pipeline, source = Pipeline.from_env(), JobSource.from_env()  # what the job's main builds

    with failing(pipeline.store.client, "CopyObject"):
        assert archive_for_batch(pipeline, source) == 1, "Batch retries exit code 1"
    assert buckets.keys(buckets.input) == [key]
    assert buckets.client.get_object_tagging(Bucket=buckets.input, Key=key)["TagSet"] == []
    assert "archive/scenes/shade.tif" not in buckets.keys(buckets.output)

    assert archive_for_batch(Pipeline.from_env(), source) == 0, "the retried attempt completes the half-finished job"
    assert buckets.keys(buckets.input) == []
    assert buckets.keys(buckets.output) == [
        "archive/scenes/shade.tif",
        "catalog/catalog.json",
        "catalog/collections/imagery-archive.json",
        "output/scenes/shade.json",
        "output/scenes/shade.png",
        "output/scenes/shade.tif",
    ]


@pytest.mark.slow
def test_the_benchmark_runs_the_job_entry_point_and_measures_it_as_the_handler(tmp_path):
    from bench import run as bench_run  # noqa: PLC0415 - the benchmark's machinery, only for this test

    results = bench_run.main(
        ["--scenes", "S", "--rounds", "S=1", "--contenders", "gdal_translate,job", "--skip-rate-distortion",
         "--quiet-wait", "0", "--out", str(tmp_path)]
    )  # fmt: skip
    job = results["scenes"]["S"]["job"]
    assert job["bytes_moved"] == pytest.approx(job["input_bytes"] + job["output_bytes"], rel=0.01)
    assert {"download", "compress", "archive", "verify", "delete"} <= job["phases"].keys(), "from the job's own log"
    assert job["encoding"] == "JPEG"
    assert job["mask"]
