"""The handler as S3 Batch Operations invokes it: schema 1.0 and 2.0 events (tests/events/), one documented
answer per task, and the same data-safety guarantees as for S3 notifications, against the local S3 server.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationTask

from imagery_archive.archiving.outcomes import ObjectResult, Outcome
from imagery_archive.entrypoints.batch_operations import (
    RESULT_STRING_LIMIT,
    MalformedTaskError,
    ResultCode,
    answer,
    is_batch_operations_event,
    response_to,
    task_location,
    task_result,
)
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive_cli.local.events import event_for_objects
from imagery_archive_cli.local.function import LambdaContext
from tests.entrypoints.test_handler import SAMPLES, put
from tests.support.faults import failing
from tests.support.function import cold_start
from tests.support.paths import EVENTS

SAMPLE_BUCKET = "amzn-s3-demo-bucket"
SCHEMAS = ["1.0", "2.0"]


def batch_event(schema: str, bucket: str) -> dict[str, Any]:
    """The sample invocation of `schema` (tests/events/), its tasks pointed at `bucket`."""
    event = json.loads((EVENTS / f"s3_batch_operations_{schema.replace('.', '_')}.json").read_text())
    for task in event["tasks"]:
        if "s3BucketArn" in task:
            task["s3BucketArn"] = task["s3BucketArn"].replace(SAMPLE_BUCKET, bucket)
        else:
            task["s3Bucket"] = bucket
    return event


def single_task(event: dict[str, Any], key: str, version: str | None = None) -> dict[str, Any]:
    """`event` with only its first task, for the (encoded) `key` and `version`."""
    one = copy.deepcopy(event)
    one["tasks"] = [{**one["tasks"][0], "s3Key": key, "s3VersionId": version}]
    return one


def answers(response: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {item["taskId"]: (item["resultCode"], item["resultString"]) for item in response["results"]}


def sha256_b64(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


@pytest.fixture
def handler(buckets, monkeypatch, tmp_path):
    return cold_start(monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path))


# --- parsing and answers, without S3 -------------------------------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS)
def test_both_schemas_parse_to_the_same_decoded_locations(schema: str) -> None:
    event = batch_event(schema, "survey")
    assert is_batch_operations_event(event)
    assert not is_batch_operations_event({"Records": []}), "an S3 notification is not a Batch Operations event"
    invocation = S3BatchOperationEvent(event)
    assert invocation.invocation_schema_version == schema
    assert [task_location(task) for task in invocation.tasks] == [
        ObjectLocation("survey", "scenes/landsat 7+.tif"),
        ObjectLocation("survey", "scenes/notes.tif"),
        ObjectLocation("survey", "scenes/never-uploaded.tif"),
        ObjectLocation("survey", "nitf/é scene.ntf"),
        ObjectLocation("survey", "scenes/README.txt"),
    ], "keys arrive URL-encoded, as in the manifest"
    assert invocation.job.user_arguments == ({"requestedBy": "imagery-archive backfill"} if schema == "2.0" else {})


def version_of(task: dict[str, Any]) -> str | None:
    return task_location(S3BatchOperationTask(task)).version_id


def test_a_version_id_is_kept_and_the_null_version_is_none() -> None:
    task = {"taskId": "t", "s3Bucket": "b", "s3Key": "a.tif"}
    assert version_of({**task, "s3VersionId": "3HL4kqtJlcpXroDTDmJ"}) == "3HL4kqtJlcpXroDTDmJ"
    assert version_of({**task, "s3VersionId": "null"}) is None
    assert version_of(task) is None


def test_a_malformed_task_is_named_and_answered_under_its_id() -> None:
    task = S3BatchOperationTask({"taskId": "t", "s3Bucket": "b"})
    with pytest.raises(MalformedTaskError, match=r"malformed task .*s3Key"):
        task_location(task)
    assert answer(task, ResultCode.PERMANENT_FAILURE, "malformed").asdict()["taskId"] == "t"


def test_the_response_is_powertools_documented_shape_with_the_events_ids() -> None:
    event = S3BatchOperationEvent(single_task(batch_event("2.0", "survey"), "a.tif"))
    response = response_to(event, [answer(event.task, ResultCode.SUCCEEDED, "archived")])
    assert response == {
        "invocationSchemaVersion": "2.0",
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event.invocation_id,
        "results": [{"taskId": event.task.task_id, "resultCode": "Succeeded", "resultString": "archived"}],
    }


def test_every_outcome_has_a_result_code_and_transient_ones_are_retried() -> None:
    task = S3BatchOperationTask({"taskId": "t", "s3Bucket": "b", "s3Key": "k.tif"})
    location = task_location(task)
    codes = {outcome: task_result(task, ObjectResult(location, outcome)).result_code for outcome in Outcome}
    assert codes == {
        Outcome.ARCHIVED: ResultCode.SUCCEEDED,
        Outcome.ALREADY_ARCHIVED: ResultCode.SUCCEEDED,
        Outcome.SKIPPED: ResultCode.SUCCEEDED,
        Outcome.ROUTED: ResultCode.SUCCEEDED,
        Outcome.GONE: ResultCode.PERMANENT_FAILURE,
        Outcome.FAILED: ResultCode.PERMANENT_FAILURE,
        Outcome.SOURCE_CHANGED: ResultCode.TEMPORARY_FAILURE,
        Outcome.RETRY: ResultCode.TEMPORARY_FAILURE,
        # Reported to the failure queue already; retrying would only write the same invalid COG again.
        Outcome.NEEDS_ATTENTION: ResultCode.PERMANENT_FAILURE,
    }
    untagged = ObjectResult(location, Outcome.FAILED, "bad", retry_cause=OSError("tagging"))
    assert task_result(task, untagged).result_code == ResultCode.TEMPORARY_FAILURE, (
        "an untagged bad original is retried"
    )


def test_result_strings_stay_short() -> None:
    result = answer(S3BatchOperationTask({"taskId": "t"}), ResultCode.PERMANENT_FAILURE, "x" * 5000)
    assert len(result.result_string or "") == RESULT_STRING_LIMIT
    assert (result.result_string or "").endswith("...")


# --- the handler, against the local S3 server ---------------------------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS)
def test_each_task_gets_exactly_its_answer_and_effect(handler, buckets, schema: str) -> None:
    put(buckets, "scenes/landsat 7+.tif", "RGB.byte.tif")
    put(buckets, "scenes/notes.tif", b"not an image at all")
    put(buckets, "scenes/README.txt", b"field notes")
    put(buckets, "nitf/é scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    handler.handler(event_for_objects(buckets.client, buckets.input, ["nitf/é scene.ntf"]), LambdaContext())
    event = batch_event(schema, buckets.input)
    good, bad, missing, archived, text = (task["taskId"] for task in event["tasks"])

    response = handler.handler(event, LambdaContext())

    assert {key: response[key] for key in ("invocationSchemaVersion", "invocationId", "treatMissingKeysAs")} == {
        "invocationSchemaVersion": schema,
        "invocationId": event["invocationId"],
        "treatMissingKeysAs": "PermanentFailure",
    }
    got = answers(response)
    assert got[good] == ("Succeeded", "archived")
    assert got[bad][0] == "PermanentFailure"
    assert got[bad][1].startswith("failed (tagged, left in place): ")
    assert "can't open it as an image" in got[bad][1], "the report will say why"
    assert got[missing] == ("PermanentFailure", "missing: no such key, and no archived copy")
    assert got[archived] == ("Succeeded", "already archived")
    assert got[text] == ("Succeeded", "skipped: not an imagery key")
    assert [item["taskId"] for item in response["results"]] == [task["taskId"] for task in event["tasks"]]

    assert buckets.keys(buckets.input) == ["scenes/README.txt", "scenes/notes.tif"], "only what wasn't archived stays"
    tags = buckets.client.get_object_tagging(Bucket=buckets.input, Key="scenes/notes.tif")["TagSet"]
    assert {"Key": "imagery-archive:status", "Value": "failed"} in tags
    archive = buckets.client.head_object(
        Bucket=buckets.output, Key="archive/scenes/landsat 7+.tif", ChecksumMode="ENABLED"
    )
    assert archive["StorageClass"] == "GLACIER"
    assert archive["ChecksumSHA256"] == sha256_b64(SAMPLES / "RGB.byte.tif"), "the archive holds the original's bytes"
    assert "output/scenes/landsat 7+.tif" in buckets.keys(buckets.output, "output/")

    again = answers(handler.handler(event, LambdaContext()))
    assert again[good] == ("Succeeded", "already archived"), "a redriven task is a no-op"
    assert again[bad][0] == "PermanentFailure"
    assert again[bad][1].startswith("failed earlier (tagged, left in place): "), "a tagged original isn't retried"
    assert "--retry-failed" in again[bad][1]


def test_a_transient_failure_is_a_temporary_failure_and_nothing_is_lost(handler, buckets) -> None:
    put(buckets, "scenes/landsat 7+.tif", "RGB.byte.tif")
    event = single_task(batch_event("2.0", buckets.input), "scenes/landsat%207%2B.tif")
    with failing(handler.pipeline.store.client, "CopyObject"):
        (code, text), *_ = answers(handler.handler(event, LambdaContext())).values()
    assert code == "TemporaryFailure"
    assert text.startswith("transient error (left in place, retried): ")
    assert "SlowDown" in text
    assert buckets.keys(buckets.input) == ["scenes/landsat 7+.tif"], "the original stays until its archive is verified"
    assert buckets.client.get_object_tagging(Bucket=buckets.input, Key="scenes/landsat 7+.tif")["TagSet"] == []

    with failing(handler.pipeline.store.client, "GetObjectTagging"):
        (code, text), *_ = answers(handler.handler(event, LambdaContext())).values()
    assert (code, text.split(":")[0]) == ("TemporaryFailure", "transient error (left in place, retried)")

    (code, text), *_ = answers(handler.handler(event, LambdaContext())).values()
    assert (code, text) == ("Succeeded", "archived"), "Batch Operations' retry completes it"
    assert buckets.keys(buckets.input) == []


def test_a_bad_original_that_cant_be_tagged_is_retried_not_failed(handler, buckets) -> None:
    put(buckets, "scenes/notes.tif", b"not an image at all")
    event = single_task(batch_event("1.0", buckets.input), "scenes/notes.tif")
    with failing(handler.pipeline.store.client, "PutObjectTagging"):
        (code, text), *_ = answers(handler.handler(event, LambdaContext())).values()
    assert code == "TemporaryFailure", "untagged, it would be processed again by every backfill"
    assert text.startswith("failed, and could not be tagged (retried)")
    assert buckets.keys(buckets.input) == ["scenes/notes.tif"]


def test_a_malformed_task_is_answered_and_the_others_still_run(handler, buckets) -> None:
    put(buckets, "a.tif", "shade.tif")
    event = single_task(batch_event("2.0", buckets.input), "a.tif")
    event["tasks"].insert(0, {"taskId": "broken", "s3Bucket": buckets.input})
    response = answers(handler.handler(event, LambdaContext()))
    assert response["broken"][0] == "PermanentFailure"
    assert "malformed task" in response["broken"][1]
    assert response[event["tasks"][1]["taskId"]] == ("Succeeded", "archived")


def test_exactly_the_version_named_by_the_manifest_is_archived_and_deleted(handler, buckets) -> None:
    buckets.client.put_bucket_versioning(Bucket=buckets.input, VersioningConfiguration={"Status": "Enabled"})
    first = buckets.client.put_object(Bucket=buckets.input, Key="v.tif", Body=(SAMPLES / "shade.tif").read_bytes())
    second = buckets.client.put_object(Bucket=buckets.input, Key="v.tif", Body=(SAMPLES / "RGB.byte.tif").read_bytes())
    event = batch_event("2.0", buckets.input)

    (code, text), *_ = answers(
        handler.handler(single_task(event, "v.tif", first["VersionId"]), LambdaContext())
    ).values()
    assert (code, text) == ("Succeeded", "archived")
    archive = buckets.client.head_object(Bucket=buckets.output, Key="archive/v.tif", ChecksumMode="ENABLED")
    assert archive["ChecksumSHA256"] == sha256_b64(SAMPLES / "shade.tif"), "the version named is the one archived"
    versions = buckets.client.list_object_versions(Bucket=buckets.input, Prefix="v.tif")
    assert [v["VersionId"] for v in versions.get("Versions", [])] == [second["VersionId"]], (
        "the archived version is deleted for good; the newer one is left alone"
    )
    assert versions.get("DeleteMarkers", []) == [], "no delete marker keeps billing the original"
