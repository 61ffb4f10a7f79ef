"""The Lambda entry point: real S3 events, several records, failures kept apart, logs and metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from imagery_archive import FUNCTION_ROOT
from imagery_archive.entrypoints.pipeline import RetryableError
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.function import LambdaContext
from tests.support.faults import failing
from tests.support.function import cold_start, outcomes
from tests.support.paths import SAMPLES


@pytest.fixture
def handler(buckets, monkeypatch, tmp_path):
    return cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path))


def import_the_image_cmd(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the image's CMD module (`handler`) in a fresh process with `env`, as Lambda's cold start does."""
    return subprocess.run(
        [sys.executable, "-c", "import handler"],
        cwd=FUNCTION_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def put(buckets, key: str, sample: str | bytes) -> None:
    body = sample if isinstance(sample, bytes) else (SAMPLES / sample).read_bytes()
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=body)


def emitted_metrics(capture) -> dict:
    """The CloudWatch EMF document Powertools printed when the invocation ended."""
    lines = [json.loads(line) for line in capture.readouterr().out.splitlines() if line.startswith("{")]
    return next(line for line in lines if "_aws" in line)


def test_a_bad_setting_fails_the_cold_start_naming_it(buckets, s3_endpoint):
    env = {name: value for name, value in os.environ.items() if name != "OUTPUT_BUCKET"}
    bad_quality = import_the_image_cmd({**env, "OUTPUT_BUCKET": buckets.output, "QUALITY": "high"})
    assert bad_quality.returncode != 0
    assert "SettingsError" in bad_quality.stderr
    assert "QUALITY" in bad_quality.stderr.splitlines()[-1], "the error names the variable"
    no_bucket = import_the_image_cmd({**env, "QUALITY": "75"})
    assert no_bucket.returncode != 0
    assert "OUTPUT_BUCKET" in no_bucket.stderr.splitlines()[-1]
    good = import_the_image_cmd({**env, "OUTPUT_BUCKET": buckets.output, "POWERTOOLS_METRICS_NAMESPACE": "Tests"})
    assert good.returncode == 0, good.stderr


def test_one_bad_record_does_not_stop_the_others(handler, buckets, tmp_path, caplog, capsys):
    # `capsys` comes after `handler`: Powertools binds its log stream once per process, at the first
    # import, and a stream captured for one test is closed when that test ends.
    put(buckets, "scenes/landsat 7+.tif", "RGB.byte.tif")
    put(buckets, "scenes/notes.tif", b"not an image at all")
    put(buckets, "nitf/é scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    event = event_for_objects(
        buckets.client, buckets.input, ["scenes/landsat 7+.tif", "scenes/notes.tif", "nitf/é scene.ntf"]
    )
    assert event["Records"][0]["s3"]["object"]["key"] == "scenes/landsat+7%2B.tif", "S3 encodes keys"

    response = handler.handler(event, LambdaContext())

    assert outcomes(response) == {
        f"s3://{buckets.input}/scenes/landsat 7+.tif": "archived",
        f"s3://{buckets.input}/scenes/notes.tif": "failed",
        f"s3://{buckets.input}/nitf/é scene.ntf": "archived",
    }
    failed = next(item for item in response["results"] if item["outcome"] == "failed")
    assert "can't open it as an image" in failed["reason"], "the answer says why"
    assert buckets.keys(buckets.input) == ["scenes/notes.tif"], "only the bad original stays"
    assert buckets.keys(buckets.output) == [
        "archive/nitf/é scene.ntf",
        "archive/scenes/landsat 7+.tif",
        "catalog/catalog.json",
        "catalog/collections/imagery-archive.json",
        "output/nitf/é scene.json",
        "output/nitf/é scene.png",
        "output/nitf/é scene.tif",
        "output/scenes/landsat 7+.json",
        "output/scenes/landsat 7+.png",
        "output/scenes/landsat 7+.tif",
    ], "each COG has its STAC Item and thumbnail beside it"
    tags = buckets.client.get_object_tagging(Bucket=buckets.input, Key="scenes/notes.tif")["TagSet"]
    assert {"Key": "imagery-archive:status", "Value": "failed"} in tags
    failure = next(record for record in caplog.records if record.levelname == "ERROR")
    assert failure.object == f"s3://{buckets.input}/scenes/notes.tif", "the log names the object"
    assert "can't open it as an image" in failure.reason, "and the reason"
    done = [record for record in caplog.records if record.getMessage() == "Object archived"]
    assert {record.object for record in done} == {
        f"s3://{buckets.input}/scenes/landsat 7+.tif",
        f"s3://{buckets.input}/nitf/é scene.ntf",
    }
    assert all(0 < record.ssim <= 1 and record.ratio > 1 for record in done)
    metrics = emitted_metrics(capsys)
    assert metrics["ImagesArchived"] == [1.0, 1.0]
    assert metrics["PermanentFailures"] == [1.0]
    assert {"BytesIn", "BytesOut", "CompressionRatio", "SSIM", "CompressSeconds", "ArchiveSeconds"} <= metrics.keys()
    assert list(tmp_path.iterdir()) == [], "/tmp is clean between warm invocations"


def test_a_transient_failure_is_raised_after_the_other_records_ran(handler, buckets):
    put(buckets, "a.tif", "shade.tif")
    put(buckets, "b.tif", "shade.tif")
    event = event_for_objects(buckets.client, buckets.input, ["a.tif", "b.tif"])
    with failing(handler.pipeline.store.client, "CopyObject", after=1), pytest.raises(RetryableError, match="1 of 2"):
        handler.handler(event, LambdaContext())
    assert buckets.keys(buckets.input) == ["b.tif"], "the first record finished, the second waits for the retry"
    tags = buckets.client.get_object_tagging(Bucket=buckets.input, Key="b.tif")["TagSet"]
    assert tags == [], "a transient failure is not marked as permanent"

    assert outcomes(handler.handler(event, LambdaContext())) == {
        f"s3://{buckets.input}/a.tif": "already-archived",
        f"s3://{buckets.input}/b.tif": "archived",
    }, "Lambda's retry of the same event completes it, and the done record is a no-op"


def test_the_pipelines_own_objects_never_trigger_it_again(buckets, monkeypatch, tmp_path):
    handler = cold_start(monkeypatch, OUTPUT_BUCKET=buckets.input, CPL_TMPDIR=str(tmp_path))
    put(buckets, "output/x.tif", "shade.tif")
    put(buckets, "archive/x.tif", "shade.tif")
    event = event_for_objects(buckets.client, buckets.input, ["output/x.tif", "archive/x.tif"])
    assert set(outcomes(handler.handler(event, LambdaContext())).values()) == {"skipped"}
    assert buckets.keys(buckets.input) == ["archive/x.tif", "output/x.tif"]


def test_settings_reach_the_pipeline(buckets, monkeypatch, tmp_path):
    handler = cold_start(
        monkeypatch,
        OUTPUT_BUCKET=buckets.output,
        OUTPUT_PREFIX="cogs/",
        ARCHIVE_PREFIX="originals/",
        ARCHIVE_STORAGE_CLASS="deep_archive",
        QUALITY="40",
        CPL_TMPDIR=str(tmp_path),
        CATALOG_PREFIX="stac/",
        STAC_COLLECTION="scenes",
    )
    put(buckets, "x.tif", "RGB.byte.tif")
    handler.handler(event_for_objects(buckets.client, buckets.input, ["x.tif"]), LambdaContext())
    assert buckets.keys(buckets.output) == [
        "cogs/x.json",
        "cogs/x.png",
        "cogs/x.tif",
        "originals/x.tif",
        "stac/catalog.json",
        "stac/collections/scenes.json",
    ]
    archived = buckets.client.head_object(Bucket=buckets.output, Key="originals/x.tif")
    assert archived["StorageClass"] == "DEEP_ARCHIVE"
    meta = buckets.client.head_object(Bucket=buckets.output, Key="cogs/x.tif")["Metadata"]
    assert meta["encoding"] == "JPEG q40"


def test_a_failure_to_tag_a_bad_original_is_retried_and_the_rest_still_run(handler, buckets):
    put(buckets, "bad.tif", b"not an image")
    put(buckets, "good.tif", "shade.tif")
    event = event_for_objects(buckets.client, buckets.input, ["bad.tif", "good.tif"])
    with failing(handler.pipeline.store.client, "PutObjectTagging"), pytest.raises(RetryableError, match="1 of 2"):
        handler.handler(event, LambdaContext())
    assert buckets.keys(buckets.input) == ["bad.tif"], "the good record still ran; the bad one stays"
