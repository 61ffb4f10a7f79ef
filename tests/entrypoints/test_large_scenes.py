"""Routing scenes too large for the function to the large-scene job: the threshold, the job name, the settings,
and the SubmitJob requests the function makes.

AWS Batch can't be reached from here, and moto's Batch would need Docker to run jobs: every SubmitJob below goes
through botocore's Stubber, which validates the request against Batch's own service model (a wrong or missing
parameter fails the test) and answers as Batch does. S3 is the local server, as everywhere else.
"""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.stub import Stubber

from imagery_archive.archiving.scratch import check_scratch_space
from imagery_archive.entrypoints.large_scene_routing import (
    JOB_NAME_LIMIT,
    LargeSceneJobs,
    Upload,
    default_threshold,
    job_name,
    largest_original_for_scratch,
    submit_job_request,
)
from imagery_archive.entrypoints.pipeline import RetryableError
from imagery_archive.errors import SettingsError, TooLargeError
from imagery_archive.s3.checksums import GiB
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from imagery_archive.settings import FunctionSettings, LargeSceneRouting
from imagery_archive_cli.local.events import event_for_objects, object_created_event, object_created_record
from imagery_archive_cli.local.function import LambdaContext
from tests.entrypoints.test_handler import emitted_metrics, put
from tests.support.function import cold_start, outcomes
from tests.support.paths import SAMPLES

BATCH_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
"""Batch's rule for job names (SubmitJob's documentation): up to 128, alphanumeric first, then also - and _."""
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/large-scenes"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/large-scene-archive:3"
ROUTING = LargeSceneRouting(QUEUE, DEFINITION, threshold_bytes=2_000_000)


def batch_client():
    return boto3.client("batch", region_name="us-east-1")


def submitted(upload: Upload, job_id: str = "8a1c-job") -> dict:
    """Batch's SubmitJob answer for `upload`."""
    name = job_name(upload)
    return {"jobName": name, "jobId": job_id, "jobArn": f"arn:aws:batch:us-east-1:123456789012:job/{job_id}"}


# --- the threshold: what the function can hold, by the function's own scratch rule ---


@pytest.mark.parametrize("scratch", [0, 1, 10, 11, 12, 1000, 10 * GiB, 10 * GiB + 7])
def test_the_largest_original_is_exactly_where_the_scratch_rule_starts_refusing(scratch: int) -> None:
    largest = largest_original_for_scratch(scratch)
    check_scratch_space(ObjectLocation("b", "k"), largest, capacity=scratch, free=scratch)  # passes
    with pytest.raises(TooLargeError):
        check_scratch_space(ObjectLocation("b", "k"), largest + 1, capacity=scratch, free=scratch)


def test_the_default_threshold_leaves_half_the_functions_scratch_for_a_cog_as_large_as_the_original() -> None:
    threshold = default_threshold(10 * GiB)
    assert threshold == largest_original_for_scratch(5 * GiB)
    assert 4.5 * GiB < threshold < 5 * GiB


# --- the job name ---


@pytest.mark.parametrize(
    "key",
    [
        "2024/scene.ntf",
        "é scene+1 (copy).tif",
        "___",
        "-leading-dash.tif",
        "deep/" * 200 + "WV03_20240101_P1BS_R1C1.NTF",
        "日本/衛星.tif",
    ],
)
def test_job_names_follow_batchs_rules_and_keep_the_end_of_the_key(key: str) -> None:
    name = job_name(Upload(ObjectLocation("in", key), etag="abc"))
    assert BATCH_JOB_NAME.match(name), name
    assert len(name) <= JOB_NAME_LIMIT
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", key).strip("_")
    assert stem[-20:] in name, "the console shows which scene a job archives"


def test_a_job_name_is_the_same_for_the_same_upload_and_differs_for_another() -> None:
    upload = Upload(ObjectLocation("in", "scene.tif"), size=5, etag="abc")
    assert job_name(upload) == job_name(Upload(ObjectLocation("in", "scene.tif"), size=9, etag="abc"))
    assert job_name(upload) != job_name(Upload(ObjectLocation("in", "scene.tif"), etag="def"))
    assert job_name(upload) != job_name(Upload(ObjectLocation("other", "scene.tif"), etag="abc"))


# --- the SubmitJob request, validated against Batch's service model ---


def test_a_large_upload_is_submitted_with_the_contract_of_the_job() -> None:
    upload = Upload(
        ObjectLocation("in", "2024/é scene+1.ntf"), size=3_000_000, etag="9b2cf535f27731c9", version_id="v7"
    )
    client = batch_client()
    expected = {
        "jobName": job_name(upload),
        "jobQueue": QUEUE,
        "jobDefinition": DEFINITION,
        "containerOverrides": {
            "environment": [
                {"name": "SOURCE_BUCKET", "value": "in"},
                {"name": "SOURCE_KEY", "value": "2024/é scene+1.ntf"},
                {"name": "SOURCE_ETAG", "value": "9b2cf535f27731c9"},
                {"name": "SOURCE_VERSION_ID", "value": "v7"},
            ]
        },
    }
    assert submit_job_request(upload, ROUTING) == expected
    with Stubber(client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []})  # no live job of this upload yet
        stub.add_response("submit_job", submitted(upload), expected_params=expected)
        job = LargeSceneJobs(client, ROUTING, head=lambda _: None).submit_if_large(upload)
        stub.assert_no_pending_responses()
    assert job is not None
    assert (job.name, job.job_id, job.size) == (job_name(upload), "8a1c-job", 3_000_000)


def test_the_threshold_itself_is_routed_and_one_byte_less_is_not() -> None:
    client = batch_client()
    at = Upload(ObjectLocation("in", "at.tif"), size=ROUTING.threshold_bytes, etag="a")
    below = Upload(ObjectLocation("in", "below.tif"), size=ROUTING.threshold_bytes - 1, etag="b")
    with Stubber(client) as stub:  # a second SubmitJob would find no response and fail
        stub.add_response("list_jobs", {"jobSummaryList": []})  # no live job of this upload yet
        stub.add_response("submit_job", submitted(at), expected_params=submit_job_request(at, ROUTING))
        jobs = LargeSceneJobs(client, ROUTING, head=lambda _: None)
        assert jobs.submit_if_large(below) is None
        assert jobs.submit_if_large(at) is not None
        stub.assert_no_pending_responses()


def test_without_a_size_in_the_event_the_size_and_etag_come_from_head_object(buckets) -> None:
    body = (SAMPLES / "naip_rgbn_5m.tif").read_bytes()
    etag = buckets.client.put_object(Bucket=buckets.input, Key="big.tif", Body=body)["ETag"]
    store = ImageryStore(buckets.client)
    client = batch_client()
    headed = Upload(ObjectLocation(buckets.input, "big.tif"), size=len(body), etag=etag)
    request = submit_job_request(headed, ROUTING)
    assert {"name": "SOURCE_ETAG", "value": etag.strip('"')} in request["containerOverrides"]["environment"]
    with Stubber(client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []})  # no live job of this upload yet
        stub.add_response("submit_job", submitted(headed), expected_params=request)
        jobs = LargeSceneJobs(client, ROUTING, head=store.head)
        job = jobs.submit_if_large(Upload(ObjectLocation(buckets.input, "big.tif")))
        assert job is not None
        assert job.size == len(body)
        assert jobs.submit_if_large(Upload(ObjectLocation(buckets.input, "gone.tif"))) is None, "gone: not routed"


# --- the function's settings ---


def test_routing_is_off_without_the_job_variables() -> None:
    assert FunctionSettings.from_env({"OUTPUT_BUCKET": "out"}).large_scenes is None


def test_routing_settings_are_read_and_typed() -> None:
    settings = FunctionSettings.from_env(
        {
            "OUTPUT_BUCKET": "out",
            "LARGE_SCENE_JOB_QUEUE": QUEUE,
            "LARGE_SCENE_JOB_DEFINITION": DEFINITION,
            "LARGE_SCENE_BYTES": "4880644655",
        }
    )
    assert settings.large_scenes == LargeSceneRouting(QUEUE, DEFINITION, 4880644655)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LARGE_SCENE_JOB_QUEUE": QUEUE, "LARGE_SCENE_BYTES": "5"}, "go together"),
        ({"LARGE_SCENE_JOB_DEFINITION": DEFINITION, "LARGE_SCENE_BYTES": "5"}, "go together"),
        ({"LARGE_SCENE_JOB_QUEUE": QUEUE, "LARGE_SCENE_JOB_DEFINITION": DEFINITION}, "LARGE_SCENE_BYTES is required"),
        (
            {"LARGE_SCENE_JOB_QUEUE": QUEUE, "LARGE_SCENE_JOB_DEFINITION": DEFINITION, "LARGE_SCENE_BYTES": "5GB"},
            "LARGE_SCENE_BYTES",
        ),
        (
            {"LARGE_SCENE_JOB_QUEUE": QUEUE, "LARGE_SCENE_JOB_DEFINITION": DEFINITION, "LARGE_SCENE_BYTES": "0"},
            "LARGE_SCENE_BYTES",
        ),
    ],
)
def test_wrong_routing_settings_fail_the_cold_start_naming_the_variable(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        FunctionSettings.from_env({"OUTPUT_BUCKET": "out", **env})


# --- the function: routes large records, archives the others, as before ---


@pytest.fixture
def routing_handler(buckets, monkeypatch, tmp_path):
    """The function as the stack deploys it with large-scene jobs, its threshold between two samples' sizes."""
    return cold_start(
        monkeypatch,
        OUTPUT_BUCKET=buckets.output,
        CPL_TMPDIR=str(tmp_path),
        LARGE_SCENE_JOB_QUEUE=QUEUE,
        LARGE_SCENE_JOB_DEFINITION=DEFINITION,
        LARGE_SCENE_BYTES=str(ROUTING.threshold_bytes),
    )


def test_the_function_routes_a_large_scene_untouched_and_still_archives_the_small_one(
    routing_handler, buckets, caplog, capsys
):
    put(buckets, "scenes/big scene.tif", "naip_rgbn_5m.tif")  # 2.5 MB: over the 2 MB threshold
    put(buckets, "scenes/small.tif", "RGB.byte.tif")  # 1.7 MB
    event = event_for_objects(buckets.client, buckets.input, ["scenes/big scene.tif", "scenes/small.tif"])
    big = Upload(
        ObjectLocation(buckets.input, "scenes/big scene.tif"),
        size=event["Records"][0]["s3"]["object"]["size"],
        etag=event["Records"][0]["s3"]["object"]["eTag"],
    )
    with Stubber(routing_handler.pipeline.large_scenes.client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []})  # no live job of this upload yet
        stub.add_response("submit_job", submitted(big, "77-job"), expected_params=submit_job_request(big, ROUTING))
        response = routing_handler.handler(event, LambdaContext())
        stub.assert_no_pending_responses()

    assert outcomes(response) == {
        f"s3://{buckets.input}/scenes/big scene.tif": "routed",
        f"s3://{buckets.input}/scenes/small.tif": "archived",
    }
    assert buckets.keys(buckets.input) == ["scenes/big scene.tif"], "the routed scene is the job's to archive"
    assert buckets.keys(buckets.output) == [
        "archive/scenes/small.tif",
        "catalog/catalog.json",
        "catalog/collections/imagery-archive.json",
        "output/scenes/small.json",
        "output/scenes/small.png",
        "output/scenes/small.tif",
    ]
    assert buckets.client.get_object_tagging(Bucket=buckets.input, Key="scenes/big scene.tif")["TagSet"] == []
    (routed,) = [record for record in caplog.records if record.getMessage() == "Routed to the large-scene job"]
    assert (routed.object, routed.job_id, routed.job_name) == (str(big.location), "77-job", job_name(big))
    metrics = emitted_metrics(capsys)
    assert metrics["RoutedToLargeSceneJob"] == [1.0]
    assert metrics["ImagesArchived"] == [1.0]


def test_a_failed_submission_is_retried_with_the_event_and_the_scene_left_untouched(routing_handler, buckets):
    put(buckets, "big.tif", "naip_rgbn_5m.tif")
    event = event_for_objects(buckets.client, buckets.input, ["big.tif"])
    with Stubber(routing_handler.pipeline.large_scenes.client) as stub:
        stub.add_response("list_jobs", {"jobSummaryList": []})  # no live job of this upload yet
        stub.add_client_error("submit_job", "ServerException", "Batch is unavailable", http_status_code=500)
        with pytest.raises(RetryableError, match="1 of 1"):
            routing_handler.handler(event, LambdaContext())
    assert buckets.keys(buckets.input) == ["big.tif"]
    assert buckets.keys(buckets.output) == []


def test_the_pipelines_own_objects_are_skipped_before_any_routing(buckets, monkeypatch, tmp_path):
    handler = cold_start(
        monkeypatch,
        OUTPUT_BUCKET=buckets.input,
        CPL_TMPDIR=str(tmp_path),
        LARGE_SCENE_JOB_QUEUE=QUEUE,
        LARGE_SCENE_JOB_DEFINITION=DEFINITION,
        LARGE_SCENE_BYTES="1",
    )
    record = object_created_record(buckets.input, "output/x.tif", size=10**12, etag="abc")
    with Stubber(handler.pipeline.large_scenes.client):  # any SubmitJob would fail: none is queued
        response = handler.handler(object_created_event([record]), LambdaContext())
    assert set(outcomes(response).values()) == {"skipped"}


def test_without_the_job_variables_the_function_archives_everything_itself(buckets, monkeypatch, tmp_path):
    handler = cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path))
    assert handler.pipeline.large_scenes is None
    put(buckets, "big.tif", "naip_rgbn_5m.tif")
    response = handler.handler(event_for_objects(buckets.client, buckets.input, ["big.tif"]), LambdaContext())
    assert set(outcomes(response).values()) == {"archived"}
