"""`imagery-archive restore` end to end against the local S3 server, which emulates RestoreObject and HeadObject's
Restore
header (x-amz-restore: ongoing-request="true", then "false" with an expiry date). S3 Batch Operations can't run
here: its S3InitiateRestoreObject job request is checked with botocore's Stubber, which validates every
parameter against the S3 Control service model.
"""

from __future__ import annotations

import argparse
import io

import boto3
import pytest
import requests
from botocore.stub import Stubber

from imagery_archive_cli.operations import restore
from imagery_archive_cli.operations.s3_batch import JobTarget
from tests.support.batch_requests import ACCOUNT, expected_create_job

ORIGINALS = {
    "archive/2024/a.ntf": ("GLACIER", b"nitf original " * 100),
    "archive/2024/scene b+c.tif": ("DEEP_ARCHIVE", b"deep original " * 90),
    "archive/2024/ir.tif": ("GLACIER_IR", b"instant original " * 80),
    "archive/2024/ia.tif": ("STANDARD_IA", b"infrequent original " * 70),
    "archive/2023/old.tif": ("GLACIER", b"another year"),
}


@pytest.fixture
def archive(buckets, s3_endpoint):
    for key, (storage_class, body) in ORIGINALS.items():
        # As the pipeline archives: S3 computed a full-object checksum of the copy (what "fetched earlier" compares).
        buckets.client.put_object(
            Bucket=buckets.output, Key=key, Body=body, StorageClass=storage_class, ChecksumAlgorithm="CRC64NVME"
        )
    # Each restore stays "in progress" for two HeadObjects, as a real one does for hours.
    requests.post(
        f"{s3_endpoint}/moto-api/state-manager/set-transition",
        json={"model_name": "s3::keyrestore", "transition": {"progression": "manual", "times": 2}},
        timeout=10,
    )
    yield buckets
    requests.post(
        f"{s3_endpoint}/moto-api/state-manager/unset-transition", json={"model_name": "s3::keyrestore"}, timeout=10
    )


def restore_args(buckets, *extra: str) -> list[str]:
    return ["--output-bucket", buckets.output, "--prefix", "archive/2024/", "--tier", "Bulk", "--days", "7", *extra]


def test_the_state_comes_from_the_storage_class_and_the_restore_header() -> None:
    assert restore.restore_state("GLACIER_IR", None) == restore.READABLE
    assert restore.restore_state("STANDARD_IA", None) == restore.READABLE
    assert restore.restore_state("GLACIER", None) == restore.ARCHIVED
    assert restore.restore_state("DEEP_ARCHIVE", 'ongoing-request="true"') == restore.RESTORING
    restored = 'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'
    assert restore.restore_state("GLACIER", restored) == restore.RESTORED


def test_restores_are_requested_once_and_each_original_fetched_once_readable(archive, tmp_path, capsys) -> None:
    folder = tmp_path / "originals"
    assert restore.main(restore_args(archive, "--download", str(folder), "--yes")) == 3, "some still restoring"
    first = capsys.readouterr().out
    assert "4 objects (5.4 kB) under" in first
    assert "2 archived, 2 readable" in first
    assert "restores to request: 2 (Bulk, readable for 7 days); takes 5-12 hours, within 48 hours" in first
    assert "GLACIER Bulk retrieval: 1 objects" in first, "the cost is shown before anything is requested"
    assert first.index("estimated cost") < first.index("requested 2 restores")
    assert sorted(p.name for p in (folder / "2024").iterdir()) == ["ia.tif", "ir.tif"], "no restore needed for these"
    head = archive.client.head_object(Bucket=archive.output, Key="archive/2024/a.ntf")
    assert head["Restore"] == 'ongoing-request="true"', "the restore was requested"
    assert "Restore" not in archive.client.head_object(Bucket=archive.output, Key="archive/2023/old.tif"), (
        "only the prefix asked for is restored"
    )

    assert restore.main(restore_args(archive, "--download", str(folder), "--yes")) == 3
    second = capsys.readouterr().out
    assert "1 restore in progress, 1 restored, 2 readable" in second, "progress, from HeadObject's Restore header"
    assert "no restore to request" in second, "a rerun requests nothing again"
    assert "fetched 1 now, 2 fetched earlier; 1 still restoring" in second

    assert restore.main(restore_args(archive, "--download", str(folder), "--yes")) == 0
    assert "fetched 1 now, 3 fetched earlier; 0 still restoring" in capsys.readouterr().out
    for key, (_, body) in ORIGINALS.items():
        if key.startswith("archive/2024/"):
            assert (folder / key.removeprefix("archive/")).read_bytes() == body, f"{key} came back intact"
    assert not list(folder.rglob(".*.partial")), "no partial download is left looking complete"

    assert restore.main(restore_args(archive, "--download", str(folder), "--yes")) == 0
    assert "fetched 0 now, 4 fetched earlier" in capsys.readouterr().out, "safe to run again"


def test_copy_to_a_bucket_keeps_the_originals_keys(archive, capsys) -> None:
    archive.client.create_bucket(Bucket="restored")
    args = restore_args(archive, "--copy-to", "restored/from-archive/", "--yes", "--wait", "--poll-seconds", "0")
    assert restore.main(args) == 0
    assert archive.keys("restored") == [
        "from-archive/2024/a.ntf",
        "from-archive/2024/ia.tif",
        "from-archive/2024/ir.tif",
        "from-archive/2024/scene b+c.tif",
    ]
    copy = archive.client.get_object(Bucket="restored", Key="from-archive/2024/scene b+c.tif")
    assert copy["Body"].read() == ORIGINALS["archive/2024/scene b+c.tif"][1]
    assert "still restoring" in capsys.readouterr().out, "--wait reported progress while restores ran"


def test_nothing_is_requested_without_a_yes(archive, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    with pytest.raises(SystemExit):
        restore.main(restore_args(archive))
    assert "not a terminal: pass --yes" in capsys.readouterr().err
    assert "Restore" not in archive.client.head_object(Bucket=archive.output, Key="archive/2024/a.ntf")


def test_a_tier_the_class_cant_use_is_refused_before_anything_is_requested(archive, capsys) -> None:
    with pytest.raises(SystemExit):
        restore.main([*restore_args(archive, "--yes")[:-5], "--tier", "Expedited", "--yes"])
    assert "DEEP_ARCHIVE can't be restored with the Expedited tier: use Standard or Bulk" in capsys.readouterr().err
    assert "Restore" not in archive.client.head_object(Bucket=archive.output, Key="archive/2024/a.ntf")


def test_the_batch_operations_restore_job_request_matches_the_service_model(archive, monkeypatch) -> None:
    """Stubber: S3 Control's create_job can only run in AWS; the manifest upload is real (local S3)."""
    target = JobTarget("", f"arn:aws:iam::{ACCOUNT}:role/ImageryArchive-BatchOperations", archive.output)
    control = boto3.client("s3control", region_name="us-east-1")
    args = argparse.Namespace(
        output_bucket=archive.output,
        tier="Bulk",
        days=7,
        engine="s3-batch",
        role_arn=target.role_arn,
        endpoint_url=None,
        poll_seconds=0,
        no_progress=True,
    )
    items = [restore.Archived("archive/2024/a.ntf", 1400, "GLACIER", restore.ARCHIVED)]
    with Stubber(control) as stub:
        stub.add_response(
            "create_job",
            {"JobId": "job-1"},
            expected_create_job(
                {"S3InitiateRestoreObject": {"ExpirationInDays": 7, "GlacierJobTier": "BULK"}},
                report_bucket=archive.output,
                role_arn=target.role_arn,
            ),
        )
        stub.add_response(
            "describe_job",
            {"Job": {"JobId": "job-1", "Status": "Complete", "ProgressSummary": {"TotalNumberOfTasks": 1}}},
            {"AccountId": ACCOUNT, "JobId": "job-1"},
        )
        monkeypatch.setattr(restore.boto3, "client", lambda service, **_: control)
        after = restore.request_restores(archive.client, args, items)
        stub.assert_no_pending_responses()
    assert [item.state for item in after] == [restore.RESTORING]
    (manifest,) = archive.keys(archive.output, "batch-operations/manifests/")
    body = archive.client.get_object(Bucket=archive.output, Key=manifest)["Body"].read().decode()
    assert body == f"{archive.output},archive/2024/a.ntf\n"
