"""A duplicate delivery finds the first one's work instead of doing it again.

- The archive copy is conditional (`If-None-Match: *` where the key was free, `If-Match` over what was
  there): two deliveries of one upload copying at once leave one archived version, not two identical
  Glacier versions that never expire.
- A large scene is submitted to AWS Batch only if no live job already runs under the name the router
  derives from its key, ETag and version (see `test_large_scene_resubmission` for the router).

On real imagery and the local S3 server; the second delivery's copy is made for real, by another client,
just before ours reaches S3.
"""

from __future__ import annotations

from functools import partial

import boto3
import pytest
from botocore.exceptions import ClientError

from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import ArchiveNotVerifiedError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from tests.support.paths import SAMPLES

PRECONDITION_FAILED = ClientError(
    {
        "Error": {
            "Code": "PreconditionFailed",
            "Message": "At least one of the pre-conditions you specified did not hold",
        }
    },
    "CopyObject",
)
COMPRESS = partial(compress, profile=CompressionProfile())


def upload(buckets, key: str, sample: str, **extra) -> ObjectLocation:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes(), **extra)
    return ObjectLocation(buckets.input, key)


def another_delivery_copies_first(buckets, copy_params: dict | None = None):
    """A hook that, at our CopyObject, first makes the same copy through another client (the duplicate).

    moto ignores CopyObject's `If-None-Match`/`If-Match`, so the hook then answers our request as S3
    does: 412 unless its condition holds against what the key holds now.
    """
    duplicate = boto3.client("s3", endpoint_url=buckets.client.meta.endpoint_url)
    seen = []

    def copy_first(params, **_):
        seen.append({name: params.get(name) for name in ("IfNoneMatch", "IfMatch")})
        if len(seen) == 1:
            unconditional = {name: value for name, value in params.items() if name not in ("IfNoneMatch", "IfMatch")}
            duplicate.copy_object(**(copy_params or unconditional))
        if not condition_holds(duplicate, params):
            raise PRECONDITION_FAILED

    return copy_first, seen


def condition_holds(client, params: dict) -> bool:
    """S3's rule for `If-None-Match: *` and `If-Match` on a write to `params`' key."""
    try:
        etag = client.head_object(Bucket=params["Bucket"], Key=params["Key"])["ETag"]
    except ClientError:
        etag = None
    if params.get("IfNoneMatch") == "*":
        return etag is None
    return params.get("IfMatch") is None or params["IfMatch"] == etag


@pytest.mark.parametrize("proof", ["s3-crc64nvme", "sha256-of-downloaded-bytes"])
def test_concurrent_duplicates_leave_one_archived_version(buckets, tmp_path, proof):
    buckets.client.put_bucket_versioning(Bucket=buckets.output, VersioningConfiguration={"Status": "Enabled"})
    extra = {"ChecksumAlgorithm": "CRC64NVME"} if proof == "s3-crc64nvme" else {}
    source = upload(buckets, "d/x.tif", "shade.tif", **extra)
    copy_first, seen = another_delivery_copies_first(buckets)
    buckets.client.meta.events.register("provide-client-params.s3.CopyObject", copy_first)
    try:
        report = archive_object(
            source, ImageryStore(buckets.client), Destinations(buckets.output), COMPRESS, str(tmp_path)
        )
    finally:
        buckets.client.meta.events.unregister("provide-client-params.s3.CopyObject", copy_first)
    assert report.outcome == "archived"
    assert report.proof == proof
    assert seen == [{"IfNoneMatch": "*", "IfMatch": None}], "one copy, only if absent; the duplicate's is reused"
    versions = buckets.client.list_object_versions(Bucket=buckets.output, Prefix="archive/")["Versions"]
    assert len(versions) == 1, "two identical archived versions would be billed for ever"
    assert buckets.keys(buckets.input) == []


def test_a_different_original_archived_meanwhile_in_an_unversioned_bucket_is_not_replaced(buckets, tmp_path):
    source = upload(buckets, "d/x.tif", "shade.tif")
    other = upload(buckets, "other.tif", "RGB.byte.tif")
    different = {
        "Bucket": buckets.output,
        "Key": "archive/d/x.tif",
        "CopySource": {"Bucket": other.bucket, "Key": other.key},
        "StorageClass": "GLACIER",
        "ChecksumAlgorithm": "SHA256",
    }
    copy_first, _ = another_delivery_copies_first(buckets, different)
    buckets.client.meta.events.register("provide-client-params.s3.CopyObject", copy_first)
    try:
        with pytest.raises(ArchiveNotVerifiedError, match="holds a different original"):
            archive_object(source, ImageryStore(buckets.client), Destinations(buckets.output), COMPRESS, str(tmp_path))
    finally:
        buckets.client.meta.events.unregister("provide-client-params.s3.CopyObject", copy_first)
    size = buckets.client.head_object(Bucket=buckets.output, Key="archive/d/x.tif")["ContentLength"]
    assert size == (SAMPLES / "RGB.byte.tif").stat().st_size, "the other original's only copy survives"
    assert "d/x.tif" in buckets.keys(buckets.input), "ours stays: its next delivery archives it under its own key"
