"""Which proof an original's archived copy gets, and the rules that keep it like with like.

The rules are pure; the copy requests are checked against botocore's S3 service model with its
Stubber where moto can't show them (moto 5.2.5 reports no ChecksumType for single-part objects
and copies; it does combine a multipart copy's CRCs into a FULL_OBJECT one, tested on it below).
"""

from __future__ import annotations

import os

import boto3
import pytest
from botocore.stub import ANY, Stubber

from imagery_archive.s3.archive_proof import DownloadedBytesProof, S3ChecksumProof, s3_checksum_proof
from imagery_archive.s3.checksums import GiB, MiB, file_checksums
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.source_access import (
    ReadMode,
    SourceReading,
    choose_read,
    endpoint_options,
    gdal_read_options,
    if_match_header,
)
from imagery_archive.s3.storage import ImageryStore, StoredObject
from imagery_archive.settings import FunctionSettings

CRC64 = "8i1gHS+5OEI="


def stored(size: int = 100, checksum_type: str | None = "FULL_OBJECT", **checksums: str) -> StoredObject:
    return StoredObject(size, '"etag"', "STANDARD", checksums=checksums, checksum_type=checksum_type)


def test_a_full_object_checksum_is_the_proof_and_the_copy_asks_for_the_same_algorithm():
    proof = s3_checksum_proof(stored(CRC64NVME=CRC64))
    assert proof == S3ChecksumProof("CRC64NVME", CRC64, 100)
    assert (proof.copy_algorithm, proof.label) == ("CRC64NVME", "s3-crc64nvme")


@pytest.mark.parametrize(
    ("original", "why"),
    [
        (stored(checksum_type=None), "no checksum at all (uploaded before S3's defaults)"),
        (stored(checksum_type="COMPOSITE", CRC32="AAAAAA==-3"), "a checksum of the upload's parts"),
        (stored(checksum_type=None, SHA256="abc=-2"), "a part count without a type: composite"),
        (stored(size=6 * GiB, SHA256="abc="), "a SHA of a multipart copy would be of its parts"),
        (stored(CRC32="AAAAAA=="), "32 bits: one in four billion other originals would pass for it"),
        (stored(CRC32C="AAAAAA=="), "32 bits too"),
    ],
)
def test_nothing_but_a_comparable_whole_object_checksum_proves_a_copy(original, why):
    assert s3_checksum_proof(original) is None, why


def test_a_crc64nvme_proves_copies_beyond_5_gib_too():
    proof = S3ChecksumProof("CRC64NVME", CRC64, 6 * GiB)
    assert s3_checksum_proof(stored(size=6 * GiB, CRC64NVME=CRC64)) == proof


def test_the_proof_rejects_every_mismatch():
    proof = S3ChecksumProof("CRC64NVME", CRC64, 100)
    good = StoredObject(100, '"x"', "GLACIER", checksums={"CRC64NVME": CRC64})
    assert proof.problems(good, "GLACIER") == []
    assert proof.problems(None, "GLACIER") == ["no archived copy"]
    wrong = StoredObject(99, '"x"', "STANDARD", checksums={"CRC64NVME": "AAAAAAAAAAA="})
    assert len(proof.problems(wrong, "GLACIER")) == 3
    composite = StoredObject(100, '"x"', "GLACIER", checksums={"CRC64NVME": CRC64}, checksum_type="COMPOSITE")
    assert proof.problems(composite, "GLACIER"), "a composite checksum is never taken for a whole-object one"
    other_algorithm = StoredObject(100, '"x"', "GLACIER", checksums={"SHA256": CRC64})
    assert proof.problems(other_algorithm, "GLACIER")


def test_the_downloaded_bytes_proof_is_todays_sha256(tmp_path):
    path = tmp_path / "a"
    path.write_bytes(b"bytes")
    proof = DownloadedBytesProof(file_checksums(path))
    assert (proof.copy_algorithm, proof.label) == ("SHA256", "sha256-of-downloaded-bytes")
    assert proof.problems(StoredObject(5, '"x"', "GLACIER", checksum_sha256=proof.checksums.sha256), "GLACIER") == []


def test_a_multipart_copy_asks_s3_for_a_full_object_crc():
    """Checked against botocore's service model (Stubber): moto accepts the request but AWS is the judge."""
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    store = ImageryStore(client, single_copy_limit=5 * MiB, copy_part_size=5 * MiB, copy_workers=1)
    original = StoredObject(6 * MiB, '"e"', "STANDARD", checksums={"CRC64NVME": CRC64}, checksum_type="FULL_OBJECT")
    with Stubber(client) as stub:
        stub.add_response("get_object_tagging", {"TagSet": []}, {"Bucket": "in", "Key": "k"})
        stub.add_response(
            "create_multipart_upload",
            {"UploadId": "u"},
            {
                "Bucket": "out",
                "Key": "archive/k",
                "StorageClass": "GLACIER",
                "ChecksumAlgorithm": "CRC64NVME",
                "ChecksumType": "FULL_OBJECT",
                "Metadata": {},
                "Tagging": "",
            },
        )
        for number in (1, 2):
            stub.add_response(
                "upload_part_copy",
                {"CopyPartResult": {"ETag": f'"p{number}"', "ChecksumCRC64NVME": CRC64}},
                {
                    "Bucket": "out",
                    "Key": "archive/k",
                    "UploadId": "u",
                    "PartNumber": number,
                    "CopySource": {"Bucket": "in", "Key": "k"},
                    "CopySourceIfMatch": '"e"',
                    "CopySourceRange": ANY,
                },
            )
        parts = [{"PartNumber": n, "ETag": f'"p{n}"', "ChecksumCRC64NVME": CRC64} for n in (1, 2)]
        stub.add_response(
            "complete_multipart_upload",
            {},
            {
                "Bucket": "out",
                "Key": "archive/k",
                "UploadId": "u",
                "MultipartUpload": {"Parts": parts},
                "IfNoneMatch": "*",
            },
        )
        store.copy_to_archive(
            ObjectLocation("in", "k"), ObjectLocation("out", "archive/k"), "GLACIER", original, "CRC64NVME"
        )
        stub.assert_no_pending_responses()


def test_moto_combines_a_multipart_copys_crcs_into_the_originals_full_object_crc(buckets):
    data = os.urandom(11 * MiB)
    buckets.client.put_object(Bucket=buckets.input, Key="big", Body=data, ChecksumAlgorithm="CRC64NVME")
    store = ImageryStore(buckets.client, single_copy_limit=5 * MiB, copy_part_size=5 * MiB)
    source, target = ObjectLocation(buckets.input, "big"), ObjectLocation(buckets.output, "archive/big")
    original = store.head(source)
    proof = s3_checksum_proof(original, store.single_copy_limit)
    assert proof is not None
    store.copy_to_archive(source, target, "GLACIER", original, proof.copy_algorithm)
    assert store.verify_archive(target, proof, "GLACIER").checksum_type == "FULL_OBJECT"


def test_the_read_is_streamed_only_when_provable_pinnable_and_needed_or_asked_for():
    tif, jp2 = ObjectLocation("b", "a/scene.TIF"), ObjectLocation("b", "s2.jp2")
    auto, stream = SourceReading("auto", gdal_sends_headers=True), SourceReading("stream", True)
    assert choose_read(tif, auto, True, fits_in_scratch=True).mode is ReadMode.DOWNLOAD, "faster where it fits"
    assert choose_read(tif, auto, True, fits_in_scratch=False).mode is ReadMode.STREAM
    assert choose_read(jp2, auto, True, fits_in_scratch=False).mode is ReadMode.STREAM
    assert choose_read(jp2, stream, True, fits_in_scratch=True).mode is ReadMode.STREAM
    assert choose_read(tif, stream, provable_without_bytes=False, fits_in_scratch=False).mode is ReadMode.DOWNLOAD
    assert choose_read(tif, SourceReading("stream", False), True, False).reason.startswith("this GDAL can't pin")
    assert choose_read(tif, SourceReading("download", True), True, False).reason == "SOURCE_READ=download"


def test_gdal_gets_the_etag_with_its_quotes_and_the_endpoint_boto3_uses():
    assert if_match_header(stored()) == '"If-Match: \\"etag\\""'
    assert endpoint_options({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}) == {
        "AWS_S3_ENDPOINT": "127.0.0.1:5000",
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }
    assert endpoint_options({"AWS_ENDPOINT_URL_S3": "https://s3.example.com", "AWS_ENDPOINT_URL": "http://x"}) == {
        "AWS_S3_ENDPOINT": "s3.example.com",
        "AWS_HTTPS": "YES",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }
    assert endpoint_options({}) == {}, "AWS itself: GDAL's defaults"
    options = gdal_read_options(stored(), {}, "eu-west-1")
    assert options["AWS_REGION"] == "eu-west-1"
    assert options["GDAL_HTTP_HEADERS"] == if_match_header(stored())


def test_source_read_is_a_setting():
    assert FunctionSettings.from_env({"OUTPUT_BUCKET": "o"}).source_read == "auto"
    assert FunctionSettings.from_env({"OUTPUT_BUCKET": "o", "SOURCE_READ": " Download "}).source_read == "download"
    with pytest.raises(ValueError, match="SOURCE_READ"):
        FunctionSettings.from_env({"OUTPUT_BUCKET": "o", "SOURCE_READ": "sometimes"})
