"""`imagery-archive backfill --engine s3-batch` and `--retry-failed`: the manifest (listing or S3 Inventory), its CSV
encoding
of awkward keys, the cost shown by --dry-run, the job request, progress and the completion report.

S3 is the local S3 server (manifests, inventories and reports are real objects there). S3 Control's create_job
and describe_job can only run in AWS: they are checked with botocore's Stubber, which validates every request
against the S3 Control service model.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationTask
from botocore.stub import Stubber

from imagery_archive.entrypoints.batch_operations import task_location
from imagery_archive.s3.keys import Destinations
from imagery_archive_cli.operations import backfill
from imagery_archive_cli.operations.s3_batch import ManifestEntry, inventory_entries, manifest_csv, parse_report
from tests.entrypoints.test_handler import put
from tests.support.batch_requests import ACCOUNT, expected_create_job

JOB_ID = "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ImageryArchive-Compression"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ImageryArchive-BatchOperations"
AWKWARD_KEYS = ["scenes/landsat 7+.tif", "a,b.tif", 'quote".ntf', "é/scène 100%.jp2", "tab\there.tif"]


def test_awkward_keys_survive_the_manifest_and_the_handlers_decoding() -> None:
    body = manifest_csv(ManifestEntry("bucket", key, 1) for key in AWKWARD_KEYS).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert all(len(row) == 2 for row in rows), "a comma or quote in a key must not add a column"
    assert rows[0] == ["bucket", "scenes/landsat%207%2B.tif"], "URL-encoded: '+' is not a space"
    decoded = [task_location(S3BatchOperationTask({"taskId": "t", "s3Bucket": b, "s3Key": k})) for b, k in rows]
    assert [location.key for location in decoded if location] == AWKWARD_KEYS


def test_a_versioned_manifest_has_a_version_column_on_every_line() -> None:
    body = manifest_csv([ManifestEntry("b", "x.tif", 1, "v1"), ManifestEntry("b", "y.tif", 1)]).decode()
    assert body == "b,x.tif,v1\nb,y.tif,\n"


def test_report_lines_give_the_key_and_the_functions_reason() -> None:
    line = 'in,scenes/notes.tif,,failed,PermanentFailure,200,"failed (tagged, left in place): not an image"\n'
    (task,) = parse_report(line)
    assert (task.key, task.error_code, task.message) == (
        "scenes/notes.tif",
        "PermanentFailure",
        "failed (tagged, left in place): not an image",
    )


def write_inventory(client: Any, bucket: str, rows: list[list[str]], schema: str) -> str:
    data = gzip.compress("".join(f"{','.join(json.dumps(v) for v in row)}\n" for row in rows).encode())
    client.put_object(Bucket=bucket, Key="inventory/data/part-0.csv.gz", Body=data)
    manifest = {
        "sourceBucket": "in",
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "fileFormat": "CSV",
        "fileSchema": schema,
        "files": [{"key": "inventory/data/part-0.csv.gz", "size": len(data), "MD5checksum": "x"}],
    }
    client.put_object(Bucket=bucket, Key="inventory/manifest.json", Body=json.dumps(manifest).encode())
    return f"s3://{bucket}/inventory/manifest.json"


def test_an_inventory_gives_the_current_imagery_only(buckets) -> None:
    schema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size"
    uri = write_inventory(
        buckets.client,
        buckets.output,
        [
            ["in", "scenes/landsat+7%2B.tif", "v2", "true", "false", "700"],
            ["in", "scenes/landsat+7%2B.tif", "v1", "false", "false", "600"],
            ["in", "scenes/gone.tif", "v3", "true", "true", ""],
            ["in", "scenes/notes.txt", "v4", "true", "false", "5"],
            ["in", "output/x.tif", "v5", "true", "false", "9"],
        ],
        schema,
    )
    entries = list(inventory_entries(buckets.client, uri, Destinations("in")))
    assert entries == [ManifestEntry("in", "scenes/landsat 7+.tif", 700, "v2")]


def run_backfill(buckets, capsys, monkeypatch, control: Any, *extra: str) -> tuple[int, str]:
    """`imagery-archive backfill` with S3 on the local server and S3 Control stubbed."""
    real_client = boto3.client
    monkeypatch.setattr(
        backfill.boto3,
        "client",
        lambda service, **kw: control if service == "s3control" else real_client(service, **kw),
    )
    args = ["--input-bucket", buckets.input, "--output-bucket", buckets.output, "--no-progress", *extra]
    code = backfill.main(args)
    return code, capsys.readouterr().out


def batch_args() -> list[str]:
    return ["--engine", "s3-batch", "--function-arn", FUNCTION_ARN, "--role-arn", ROLE_ARN, "--poll-seconds", "0"]


@pytest.fixture
def control():
    return boto3.client("s3control", region_name="us-east-1")


def test_dry_run_shows_count_size_and_cost_and_creates_nothing(buckets, capsys, monkeypatch, control) -> None:
    put(buckets, "scenes/a.tif", "shade.tif")
    put(buckets, "scenes/b.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    put(buckets, "scenes/notes.txt", b"field notes")
    with Stubber(control):  # no response queued: any S3 Control call would fail the test
        code, out = run_backfill(buckets, capsys, monkeypatch, control, *batch_args(), "--dry-run")
    assert code == 0
    assert "manifest: 2 objects" in out, "the same suffix filter as the stack"
    for line in ("Batch Operations: per job", "Batch Operations: 2 objects", "Lambda:", "GB-s", "total"):
        assert line in out
    assert "us-east-1, prices as of" in out, "the prices used are stated"
    assert "dry run: no manifest uploaded, no job created" in out
    assert buckets.keys(buckets.output) == []


def test_the_job_is_created_followed_and_its_failures_listed(buckets, capsys, monkeypatch, control) -> None:
    put(buckets, "scenes/landsat 7+.tif", "shade.tif")
    put(buckets, "scenes/notes.tif", b"not an image")
    report_csv = (
        f'{buckets.input},scenes/notes.tif,,failed,PermanentFailure,200,"failed (tagged, left in place): GDAL"\n'
    )
    buckets.client.put_object(
        Bucket=buckets.output, Key=f"batch-operations/reports/job-{JOB_ID}/results/a.csv", Body=report_csv
    )
    report_manifest = {
        "Format": "Report_CSV_20180820",
        "Results": [
            {
                "TaskExecutionStatus": "failed",
                "Bucket": buckets.output,
                "Key": f"batch-operations/reports/job-{JOB_ID}/results/a.csv",
            }
        ],
    }
    buckets.client.put_object(
        Bucket=buckets.output,
        Key=f"batch-operations/reports/job-{JOB_ID}/manifest.json",
        Body=json.dumps(report_manifest),
    )
    requested: list[dict[str, Any]] = []
    control.meta.events.register(
        "provide-client-params.s3-control.CreateJob", lambda params, **_: requested.append(params)
    )
    with Stubber(control) as stub:
        stub.add_response(
            "create_job",
            {"JobId": JOB_ID},
            expected_create_job(
                {
                    "LambdaInvoke": {
                        "FunctionArn": FUNCTION_ARN,
                        "InvocationSchemaVersion": "2.0",
                        "UserArguments": {"requestedBy": "imagery-archive backfill"},
                    }
                },
                report_bucket=buckets.output,
                role_arn=ROLE_ARN,
            ),
        )
        job = {"JobId": JOB_ID, "Priority": 10}
        progress = {"TotalNumberOfTasks": 2, "NumberOfTasksSucceeded": 1, "NumberOfTasksFailed": 0}
        stub.add_response("describe_job", {"Job": {**job, "Status": "Active", "ProgressSummary": progress}})
        done = {**progress, "NumberOfTasksFailed": 1}
        stub.add_response("describe_job", {"Job": {**job, "Status": "Complete", "ProgressSummary": done}})
        code, out = run_backfill(buckets, capsys, monkeypatch, control, *batch_args())
        stub.assert_no_pending_responses()
    assert code == 1, "a failed task fails the command"
    assert f"job {JOB_ID} created" in out
    assert f"job {JOB_ID}: Complete; 1 succeeded, 1 failed" in out
    assert "  scenes/notes.tif: PermanentFailure: failed (tagged, left in place): GDAL" in out
    (manifest_key,) = buckets.keys(buckets.output, "batch-operations/manifests/")
    location = requested[0]["Manifest"]["Location"]
    assert location["ObjectArn"] == f"arn:aws:s3:::{buckets.output}/{manifest_key}"
    head = buckets.client.head_object(Bucket=buckets.output, Key=manifest_key)
    assert location["ETag"] == head["ETag"].strip('"'), "the job names the very manifest uploaded"
    body = buckets.client.get_object(Bucket=buckets.output, Key=manifest_key)["Body"].read().decode()
    assert body == f"{buckets.input},scenes/landsat%207%2B.tif\n{buckets.input},scenes/notes.tif\n"
    assert buckets.keys(buckets.input) == ["scenes/landsat 7+.tif", "scenes/notes.tif"], "the job, not the tool, works"


def tag_failed(buckets, key: str, reason: str) -> None:
    tags = [
        {"Key": "project", "Value": "survey"},
        {"Key": "imagery-archive:status", "Value": "failed"},
        {"Key": "imagery-archive:reason", "Value": reason},
    ]
    buckets.client.put_object_tagging(Bucket=buckets.input, Key=key, Tagging={"TagSet": tags})


def test_retry_failed_lists_reasons_clears_the_tag_and_reprocesses_locally(
    buckets, capsys, monkeypatch, tmp_path
) -> None:
    put(buckets, "fixed.tif", "shade.tif")
    put(buckets, "other.tif", "shade.tif")
    tag_failed(buckets, "fixed.tif", "scratch space too small")
    log = ["--log-file", str(tmp_path / "log.jsonl")]

    code, out = run_backfill(buckets, capsys, monkeypatch, None, "--retry-failed", "--dry-run", *log)
    assert code == 0
    assert "1 originals tagged failed under" in out
    assert "  fixed.tif: scratch space too small" in out
    assert buckets.client.get_object_tagging(Bucket=buckets.input, Key="fixed.tif")["TagSet"][1]["Value"] == "failed"

    code, out = run_backfill(buckets, capsys, monkeypatch, None, "--retry-failed", *log)
    assert code == 0
    assert "backfill: archived 1" in out
    assert buckets.keys(buckets.input) == ["other.tif"], "only the failed original is retried"
    assert "archive/fixed.tif" in buckets.keys(buckets.output)


def test_retry_failed_with_s3_batch_submits_only_the_failed_ones_untagged(
    buckets, capsys, monkeypatch, control
) -> None:
    put(buckets, "fixed.tif", "shade.tif")
    put(buckets, "other.tif", "shade.tif")
    tag_failed(buckets, "fixed.tif", "scratch space too small")
    with Stubber(control) as stub:
        stub.add_response("create_job", {"JobId": "job-7"})
        stub.add_response("describe_job", {"Job": {"JobId": "job-7", "Status": "Complete", "ProgressSummary": {}}})
        code, out = run_backfill(buckets, capsys, monkeypatch, control, *batch_args(), "--retry-failed")
    assert code == 0
    assert "job job-7: Complete; 0 succeeded, 0 failed" in out
    (manifest_key,) = buckets.keys(buckets.output, "batch-operations/manifests/")
    body = buckets.client.get_object(Bucket=buckets.output, Key=manifest_key)["Body"].read().decode()
    assert body == f"{buckets.input},fixed.tif\n"
    tags = buckets.client.get_object_tagging(Bucket=buckets.input, Key="fixed.tif")["TagSet"]
    assert tags == [{"Key": "project", "Value": "survey"}], "the failure mark is cleared, the user's tags kept"
