"""The S3 layer against a real (local) S3 endpoint: archive copies, verification, guarded deletes."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from imagery_archive.errors import ArchiveNotVerifiedError, SourceChangedError
from imagery_archive.s3.archive_proof import DownloadedBytesProof
from imagery_archive.s3.checksums import MiB, copy_part_size, file_checksums
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.storage import ImageryStore, WriteCondition, archive_problems, tag_value
from tests.support.faults import failing


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def put(buckets, key: str, data: bytes, **extra) -> ObjectLocation:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=data, **extra)
    return ObjectLocation(buckets.input, key)


def test_head_tells_missing_from_present(buckets):
    store = ImageryStore(buckets.client)
    assert store.head(ObjectLocation(buckets.input, "nothing.tif")) is None
    location = put(buckets, "d/a b é.tif", b"x" * 10, Metadata={"sensor": "oli"})
    head = store.head(location)
    assert head is not None
    assert (head.size, head.metadata, head.storage_class) == (10, {"sensor": "oli"}, "STANDARD")


def test_archive_is_a_verified_server_side_copy_in_the_archive_class(buckets, tmp_path):
    data = os.urandom(300_000)
    source = put(buckets, "scenes/one.ntf", data, Metadata={"mission": "demo"})
    local = tmp_path / "one.ntf"
    local.write_bytes(data)
    store = ImageryStore(buckets.client)
    original = store.head(source)
    target = ObjectLocation(buckets.output, "archive/scenes/one.ntf")
    with failing(buckets.client, "PutObject") as puts:
        store.copy_to_archive(source, target, "GLACIER", original)
    assert puts == [0], "the original must not be uploaded again through the function"
    archived = store.verify_archive(target, DownloadedBytesProof(file_checksums(local)), "GLACIER")
    assert archived.checksum_sha256 == b64_sha256(data), "S3's checksum of the copy is the original's"
    assert archived.metadata == {"mission": "demo"}, "the original's metadata goes with it"
    with pytest.raises(ClientError, match="InvalidObjectState"):
        buckets.client.get_object(Bucket=target.bucket, Key=target.key)


def test_verification_rejects_a_copy_that_differs(buckets, tmp_path):
    source = put(buckets, "a.tif", b"original bytes")
    store = ImageryStore(buckets.client)
    target = ObjectLocation(buckets.output, "archive/a.tif")
    store.copy_to_archive(source, target, "GLACIER", store.head(source))
    other = tmp_path / "other"
    other.write_bytes(b"original bytez")
    with pytest.raises(ArchiveNotVerifiedError, match="SHA-256"):
        store.verify_archive(target, DownloadedBytesProof(file_checksums(other)), "GLACIER")
    local = tmp_path / "same"
    local.write_bytes(b"original bytes")
    with pytest.raises(ArchiveNotVerifiedError, match="storage class"):
        store.verify_archive(target, DownloadedBytesProof(file_checksums(local)), "DEEP_ARCHIVE")
    with pytest.raises(ArchiveNotVerifiedError, match="no archived copy"):
        store.verify_archive(
            ObjectLocation(buckets.output, "archive/none"), DownloadedBytesProof(file_checksums(local)), "GLACIER"
        )


def test_delete_spares_a_version_uploaded_meanwhile(buckets):
    store = ImageryStore(buckets.client)
    location = put(buckets, "a.tif", b"first")
    first = store.head(location)
    put(buckets, "a.tif", b"second, re-uploaded by a user")
    with pytest.raises(SourceChangedError):
        store.delete(location, first)
    assert buckets.client.get_object(Bucket=buckets.input, Key="a.tif")["Body"].read().startswith(b"second")
    store.delete(location, store.head(location))
    assert store.head(location) is None


def test_tag_failed_keeps_the_owners_tags(buckets):
    store = ImageryStore(buckets.client)
    location = put(buckets, "bad.tif", b"not an image", Tagging="project=alpha")
    store.tag_failed(location, "GDAL can't open it as an image: 'bad.tif' not recognised (format?)")
    tags = {
        t["Key"]: t["Value"]
        for t in buckets.client.get_object_tagging(Bucket=location.bucket, Key=location.key)["TagSet"]
    }
    assert tags["project"] == "alpha"
    assert tags["imagery-archive:status"] == "failed"
    assert tags["imagery-archive:reason"].startswith("GDAL can_t open it as an image")
    assert store.is_marked_failed(location)
    store.tag_failed(ObjectLocation(buckets.input, "deleted-meanwhile.tif"), "reason")  # no error


def test_file_checksums_match_s3s_multipart_rule(tmp_path):
    data = os.urandom(5 * MiB + 123)
    path = tmp_path / "big"
    path.write_bytes(data)
    parts = [data[i : i + 2 * MiB] for i in range(0, len(data), 2 * MiB)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    checksums = file_checksums(path, size_limit=MiB, part_size=2 * MiB)
    assert checksums.sha256 == b64_sha256(data)
    assert checksums.expected_s3_checksum() == f"{base64.b64encode(composite).decode()}-3"
    assert file_checksums(path).expected_s3_checksum() == b64_sha256(data), "one part: whole-file checksum"


def test_copy_parts_stay_within_s3_limits():
    assert copy_part_size(10 * MiB) == 512 * MiB
    five_tb = 5 * 1024 * 1024 * MiB
    assert five_tb / copy_part_size(five_tb) <= 10_000


def test_multipart_copy_of_large_originals_is_byte_identical(buckets, tmp_path):
    data = os.urandom(12 * MiB + 7)
    source = put(buckets, "huge.tif", data, Metadata={"k": "v"}, Tagging="project=alpha")
    store = ImageryStore(buckets.client, single_copy_limit=5 * MiB, copy_part_size=5 * MiB)
    target = ObjectLocation(buckets.output, "archive/huge.tif")
    store.copy_to_archive(source, target, "STANDARD", store.head(source))
    copied = buckets.client.get_object(Bucket=target.bucket, Key=target.key)
    assert copied["Body"].read() == data
    assert copied["Metadata"] == {"k": "v"}
    tags = buckets.client.get_object_tagging(Bucket=target.bucket, Key=target.key)["TagSet"]
    assert tags == [{"Key": "project", "Value": "alpha"}]


def test_failed_multipart_copy_is_aborted(buckets):
    source = put(buckets, "huge.tif", os.urandom(11 * MiB))
    store = ImageryStore(buckets.client, single_copy_limit=5 * MiB, copy_part_size=5 * MiB)
    target = ObjectLocation(buckets.output, "archive/huge.tif")
    with failing(buckets.client, "UploadPartCopy", after=1), pytest.raises(ClientError, match="SlowDown"):
        store.copy_to_archive(source, target, "GLACIER", store.head(source))
    assert buckets.client.list_multipart_uploads(Bucket=buckets.output).get("Uploads", []) == []
    assert store.head(target) is None, "no half-copied archive is left"


def test_archive_problems_lists_every_mismatch(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert archive_problems(None, file_checksums(path), "GLACIER") == ["no archived copy"]


def test_tag_values_are_cut_to_what_s3_accepts():
    value = tag_value("bad: 'x' <y> " + "z" * 400)
    assert len(value) == 256
    assert "'" not in value
    assert "<" not in value


def test_upload_carries_metadata_and_content_type(buckets, tmp_path):
    path = tmp_path / "cog.tif"
    path.write_bytes(b"II*\x00" + os.urandom(9 * MiB))
    store = ImageryStore(buckets.client)
    target = ObjectLocation(buckets.output, "output/cog.tif")
    store.upload(path, target, {"ssim": "0.95"}, "image/tiff", WriteCondition())
    head = buckets.client.head_object(Bucket=target.bucket, Key=target.key)
    assert (head["Metadata"], head["ContentType"], head["ContentLength"]) == (
        {"ssim": "0.95"},
        "image/tiff",
        path.stat().st_size,
    )
