"""Originals over 5 GB: the multipart archive copy keeps everything a single CopyObject keeps, and its
composite checksum verifies the right bytes and only those.

`ImageryStore`'s `single_copy_limit` and `copy_part_size` shrink the 5 GiB path to a few MiB of real
bytes: every request is the one a 6 GB scene makes, on the local S3 server.

The local server (moto) answers HeadObject on a multipart object with a checksum of its own making,
without S3's `-N` suffix. S3 documents that the checksum of a multipart object is a checksum of
checksums: base64(SHA-256(the concatenated binary SHA-256 digests of its parts)), followed by `-` and
the number of parts. `s3_composite_checksums` emulates exactly that behaviour after every HeadObject
of a multipart object: it reads the part boundaries the server actually stored (HeadObject with
`PartNumber`) and the bytes it actually holds, and computes the checksum as S3 would. The code under
test never sees anything but what that S3 would answer.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from imagery_archive.errors import ArchiveNotVerifiedError
from imagery_archive.s3.archive_proof import DownloadedBytesProof
from imagery_archive.s3.checksums import MiB
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.storage import ImageryStore

PART = 5 * MiB  # S3's smallest part (all but the last)
ODD_TAGS = "survey%20name=north%201%2B1&owner=team%3Dgis&r%C3%A9gion=%C3%8Ele-de-France"
"""Tags with a space, '+', '=' and non-ASCII characters, all valid in S3, sent URL-encoded."""
HEADERS = {
    "ContentType": "image/tiff",
    "ContentEncoding": "identity",
    "CacheControl": "private, max-age=86400",
    "ContentDisposition": 'attachment; filename="scene 1.tif"',
    "ContentLanguage": "fr",
    "Expires": datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC),
}


def _composite(server: Any, bucket: str, key: str, parts: int) -> str:
    """S3's checksum of a multipart object, from the part sizes the server reports and the bytes it holds."""
    digests, first = [], 0
    for number in range(1, parts + 1):
        size = server.head_object(Bucket=bucket, Key=key, PartNumber=number)["ContentLength"]
        body = server.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{first + size - 1}")["Body"].read()
        digests.append(hashlib.sha256(body).digest())
        first += size
    return f"{base64.b64encode(hashlib.sha256(b''.join(digests)).digest()).decode()}-{parts}"


@pytest.fixture
def s3_composite_checksums(buckets) -> Iterator[None]:
    """After HeadObject of a multipart object (its ETag ends in `-N`), the checksum S3 documents."""
    server = boto3.client("s3", endpoint_url=buckets.client.meta.endpoint_url)  # reads without the hook

    def as_s3_documents(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        etag = parsed.get("ETag", "").strip('"')
        if "-" not in etag or "ChecksumSHA256" not in parsed:
            return
        request = http_response.url.split("?")[0].split(buckets.client.meta.endpoint_url)[-1].lstrip("/")
        bucket, _, key = request.partition("/")
        parts = server.head_object(Bucket=bucket, Key=_unquoted(key), PartNumber=1)["PartsCount"]
        parsed["ChecksumSHA256"] = _composite(server, bucket, _unquoted(key), parts)

    buckets.client.meta.events.register("after-call.s3.HeadObject", as_s3_documents)
    yield
    buckets.client.meta.events.unregister("after-call.s3.HeadObject", as_s3_documents)


def _unquoted(key: str) -> str:
    return unquote(key)


@pytest.fixture
def large_original(buckets, tmp_path) -> tuple[ObjectLocation, Path]:
    """A 'large' original (2.4 parts) with user metadata, system metadata and awkward tags."""
    data = os.urandom(2 * PART + 2 * MiB + 7)
    local = tmp_path / "scene 1.tif"
    local.write_bytes(data)
    buckets.client.put_object(
        Bucket=buckets.input, Key="d/scene 1.tif", Body=data, Metadata={"sensor": "oli"}, Tagging=ODD_TAGS, **HEADERS
    )
    return ObjectLocation(buckets.input, "d/scene 1.tif"), local


def large_copy_store(buckets) -> ImageryStore:
    return ImageryStore(buckets.client, single_copy_limit=PART, copy_part_size=PART)


def test_a_multipart_archive_keeps_tags_and_headers_as_a_single_copy_does(buckets, large_original):
    source, _ = large_original
    store = large_copy_store(buckets)
    target = ObjectLocation(buckets.output, "archive/d/scene 1.tif")
    store.copy_to_archive(source, target, "STANDARD", store.head(source))

    copied = buckets.client.head_object(Bucket=target.bucket, Key=target.key)
    assert copied["ETag"].strip('"').endswith("-3"), "the copy really went part by part"
    assert {name: copied.get(name) for name in HEADERS} == HEADERS
    assert copied["Metadata"] == {"sensor": "oli"}
    tags = buckets.client.get_object_tagging(Bucket=target.bucket, Key=target.key)["TagSet"]
    source_tags = buckets.client.get_object_tagging(Bucket=source.bucket, Key=source.key)["TagSet"]
    assert (
        tags
        == source_tags
        == [
            {"Key": "survey name", "Value": "north 1+1"},
            {"Key": "owner", "Value": "team=gis"},
            {"Key": "région", "Value": "Île-de-France"},
        ]
    )


def test_the_composite_checksum_verifies_the_right_bytes(buckets, large_original, s3_composite_checksums):
    source, local = large_original
    store = large_copy_store(buckets)
    target = ObjectLocation(buckets.output, "archive/d/scene 1.tif")
    store.copy_to_archive(source, target, "STANDARD", store.head(source))

    archived = store.verify_archive(target, DownloadedBytesProof(store.checksums_of(local)), "STANDARD")
    assert archived.checksum_sha256 is not None
    assert archived.checksum_sha256.endswith("-3"), "S3's checksum of checksums, as the emulation computes it"


def test_the_composite_checksum_rejects_other_bytes(buckets, large_original, s3_composite_checksums, tmp_path):
    source, local = large_original
    store = large_copy_store(buckets)
    target = ObjectLocation(buckets.output, "archive/d/scene 1.tif")
    store.copy_to_archive(source, target, "STANDARD", store.head(source))

    damaged = bytearray(local.read_bytes())
    damaged[PART + 12345] ^= 0x01  # one bit, in the second part
    other = tmp_path / "damaged.tif"
    other.write_bytes(bytes(damaged))
    with pytest.raises(ArchiveNotVerifiedError, match="SHA-256"):
        store.verify_archive(target, DownloadedBytesProof(store.checksums_of(other)), "STANDARD")
    other_parts = ImageryStore(buckets.client, single_copy_limit=PART, copy_part_size=6 * MiB)
    with pytest.raises(ArchiveNotVerifiedError, match="SHA-256"):  # the same bytes, other part boundaries
        other_parts.verify_archive(target, DownloadedBytesProof(other_parts.checksums_of(local)), "STANDARD")
