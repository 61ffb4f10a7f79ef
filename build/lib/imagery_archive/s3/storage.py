"""The S3 layer: the few things the pipeline does to objects. It knows nothing of images.

Safety rests on three S3 features used together: the archive is a server-side copy made only if the
original is still the version that was compressed (`CopySourceIfMatch`); the copy is checked by
size and a SHA-256 that S3 computes itself, against the SHA-256 of the bytes the function read (a
Glacier object can't be read back); and the original is deleted only if it is still that version
(`IfMatch`), so a re-upload during processing is never lost. The checksum arithmetic, and the part
layout of a multipart copy that it depends on, are in `checksums`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from imagery_archive.errors import ArchiveNotVerifiedError, SourceChangedError
from imagery_archive.s3.checksums import (
    CHECKSUM_ALGORITHMS,
    PREFERRED_PART_SIZE,
    SINGLE_COPY_LIMIT,
    FileChecksums,
    MiB,
    copy_part_size,
    file_checksums,
)
from imagery_archive.s3.keys import ObjectLocation

COPIED_HEADERS = (
    "ContentType",
    "ContentEncoding",
    "CacheControl",
    "ContentDisposition",
    "ContentLanguage",
    "Expires",
)
"""The object's system metadata that CopyObject (MetadataDirective=COPY) keeps, besides its user metadata."""
S3_MAX_ATTEMPTS = 10
"""Attempts per S3 request (the first and nine retries) before a throttled call fails the object."""
FAILURE_TAG = "imagery-archive:status"
REASON_TAG = "imagery-archive:reason"
ENCODING_TAG = "imagery-archive:encoding"
"""Set to `lossless` by an uploader, the object is written losslessly whatever the function's settings."""


@dataclass(frozen=True)
class StoredObject:
    """What a HeadObject says about an object."""

    size: int
    etag: str
    storage_class: str
    checksum_sha256: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    version_id: str | None = None
    """The version HeadObject found, in a versioned bucket: every later step is pinned to it."""
    checksums: Mapping[str, str] = field(default_factory=dict)
    """Every checksum S3 reported, by algorithm ('CRC64NVME': base64 value), as `archive_proof` compares them."""
    checksum_type: str | None = None
    """FULL_OBJECT (a checksum of the bytes) or COMPOSITE (of part checksums); None where S3 says neither."""
    headers: Mapping[str, Any] = field(default_factory=dict)
    """The system metadata a copy keeps (`COPIED_HEADERS`: Content-Type, Content-Encoding, ...), as
    HeadObject names them, so a multipart copy can set them as CopyObject carries them over."""
    last_modified: datetime | None = None
    """When the object was written (an upload's time, for STAC Items of images that state none)."""

    @property
    def pinned(self) -> dict[str, str]:
        """Request parameters that read exactly this object and no newer upload: its ETag and version."""
        return {"IfMatch": self.etag, **({"VersionId": self.version_id} if self.version_id else {})}

    def copy_source(self, location: ObjectLocation) -> dict[str, str]:
        """`CopySource` naming exactly this version of the object at `location`."""
        version = {"VersionId": self.version_id} if self.version_id else {}
        return {"Bucket": location.bucket, "Key": location.key, **version}


def s3_client(**options: Any) -> Any:
    """The S3 client every entry point uses: botocore's adaptive retry mode, so a bulk upload that makes S3
    answer `SlowDown` slows this client down (client-side rate limiting) instead of failing objects."""
    retries = Config(retries={"mode": "adaptive", "max_attempts": S3_MAX_ATTEMPTS})
    return boto3.client("s3", config=retries, **options)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class ArchiveCheck(Protocol):
    """What an archived copy is verified against (see `archive_proof`)."""

    @property
    def copy_algorithm(self) -> str:
        """The checksum algorithm the copy asks S3 to compute."""
        ...

    def problems(self, archived: StoredObject | None, storage_class: str) -> list[str]:
        """Why `archived` is not a verified copy (empty if it is)."""
        ...


class ImageryStore:
    """Downloads, uploads, copies to the archive, verifies, deletes and tags objects through one S3 client."""

    def __init__(
        self,
        client: Any,
        transfer: TransferConfig | None = None,
        single_copy_limit: int = SINGLE_COPY_LIMIT,
        copy_part_size: int = PREFERRED_PART_SIZE,
        copy_workers: int = 8,
    ) -> None:
        self.client = client
        self._transfer = transfer or TransferConfig(max_concurrency=8, multipart_chunksize=64 * MiB)
        self.single_copy_limit = single_copy_limit
        self.preferred_part_size = copy_part_size
        self._copy_workers = copy_workers
        self._keeps_versions: dict[str, bool] = {}

    def keeps_versions(self, bucket: str) -> bool:
        """True if `bucket` has versioning enabled (an overwritten object survives as an older version).

        Asked once per bucket for the life of this store (the function's: one cold start). A bucket
        whose versioning is suspended keeps no new versions: False.
        """
        if bucket not in self._keeps_versions:
            status = self.client.get_bucket_versioning(Bucket=bucket).get("Status")
            self._keeps_versions[bucket] = status == "Enabled"
        return self._keeps_versions[bucket]

    def checksums_of(self, path: Path) -> FileChecksums:
        """The checksums S3 will report for an archived copy of the file at `path`."""
        size = path.stat().st_size
        return file_checksums(path, self.single_copy_limit, copy_part_size(size, self.preferred_part_size))

    def head(self, location: ObjectLocation) -> StoredObject | None:
        """The object's size, ETag, version, class, checksum and metadata; None if it doesn't exist.

        A location that names a version is looked up at that version, current or not.
        """
        version = {"VersionId": location.version_id} if location.version_id else {}
        try:
            response = self.client.head_object(
                Bucket=location.bucket, Key=location.key, ChecksumMode="ENABLED", **version
            )
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return StoredObject(
            size=response["ContentLength"],
            etag=response["ETag"],
            storage_class=response.get("StorageClass", "STANDARD"),
            checksum_sha256=response.get("ChecksumSHA256"),
            metadata=response.get("Metadata", {}),
            version_id=response.get("VersionId"),
            checksums={
                name: response[f"Checksum{name}"] for name in CHECKSUM_ALGORITHMS if f"Checksum{name}" in response
            },
            checksum_type=response.get("ChecksumType"),
            headers={name: response[name] for name in COPIED_HEADERS if response.get(name) is not None},
            last_modified=response.get("LastModified"),
        )

    def download(self, location: ObjectLocation, original: StoredObject, path: Path) -> None:
        """Fetch exactly `original` (its ETag and version) to `path` with concurrent ranged GETs.

        Every range is pinned (`IfMatch`, `VersionId`), so bytes uploaded after HeadObject are never
        compressed under the old object's lineage. boto3's `download_file` can't pin to an ETag (it
        refuses `IfMatch`), hence the ranges here.
        """
        chunk = self._transfer.multipart_chunksize

        def fetch(offset: int) -> None:
            last = min(offset + chunk, original.size) - 1
            body = self.client.get_object(
                Bucket=location.bucket, Key=location.key, Range=f"bytes={offset}-{last}", **original.pinned
            )["Body"]
            while piece := body.read(MiB):  # streamed: memory holds a MiB per range, not the range
                os.pwrite(descriptor, piece, offset)
                offset += len(piece)

        try:
            with path.open("wb") as stream:
                descriptor = stream.fileno()
                with ThreadPoolExecutor(self._transfer.max_request_concurrency) as pool:
                    list(pool.map(fetch, range(0, original.size, chunk)))
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                raise SourceChangedError(f"{location} was deleted while it was being processed") from None
            if error_code(error) in {"PreconditionFailed", "412"}:
                raise SourceChangedError(f"{location} was replaced before it could be read") from None
            raise

    def upload(self, path: Path, location: ObjectLocation, metadata: Mapping[str, str], content_type: str) -> None:
        """Store `path`; S3 checks every part's SHA-256, and the object appears only when complete."""
        extra = {"ChecksumAlgorithm": "SHA256", "Metadata": dict(metadata), "ContentType": content_type}
        self.client.upload_file(str(path), location.bucket, location.key, ExtraArgs=extra, Config=self._transfer)

    def copy_to_archive(
        self,
        source: ObjectLocation,
        target: ObjectLocation,
        storage_class: str,
        original: StoredObject,
        checksum_algorithm: str = "SHA256",
    ) -> None:
        """Server-side copy of exactly the `original` version into `storage_class`: no byte passes here.

        S3 computes the copy's `checksum_algorithm` checksum itself: the archive proof compares it.
        """
        try:
            if original.size <= self.single_copy_limit:
                self.client.copy_object(
                    Bucket=target.bucket,
                    Key=target.key,
                    CopySource=original.copy_source(source),
                    CopySourceIfMatch=original.etag,
                    StorageClass=storage_class,
                    ChecksumAlgorithm=checksum_algorithm,
                    MetadataDirective="COPY",
                )
            else:
                self._multipart_copy(source, target, storage_class, original, checksum_algorithm)
        except ClientError as error:
            if error_code(error) in {"PreconditionFailed", "412"}:
                raise SourceChangedError(f"{source} changed before it could be archived") from None
            raise

    def _multipart_copy(
        self,
        source: ObjectLocation,
        target: ObjectLocation,
        storage_class: str,
        original: StoredObject,
        checksum_algorithm: str,
    ) -> None:
        """Copy an object beyond CopyObject's 5 GiB part by part, with the part size `checksums_of` assumed.

        Written by hand rather than with boto3's managed `copy`, because the copy is verified by the
        checksum S3 computes over its parts' digests: its part boundaries must be those the expected
        checksum was computed with (`copy_part_size`), and the managed copy chooses its own part size.
        Every part is copied only if the source is still the `original` version (`CopySourceIfMatch`).
        A CRC algorithm is asked for as a FULL_OBJECT checksum, which S3 combines from the parts' CRCs
        into the CRC of the whole object: comparable with the source's whatever the part layout.
        """
        part_size = copy_part_size(original.size, self.preferred_part_size)
        tags = self.client.get_object_tagging(Bucket=source.bucket, Key=source.key, **_version(original))["TagSet"]
        upload = self.client.create_multipart_upload(
            Bucket=target.bucket,
            Key=target.key,
            StorageClass=storage_class,
            ChecksumAlgorithm=checksum_algorithm,
            **({"ChecksumType": "FULL_OBJECT"} if checksum_algorithm.startswith("CRC") else {}),
            Metadata=dict(original.metadata),
            # A query string: keys and values with spaces, '&', '=' or non-ASCII must be encoded.
            Tagging=urlencode([(tag["Key"], tag["Value"]) for tag in tags], quote_via=quote),
            **original.headers,
        )
        upload_id = upload["UploadId"]

        def copy_part(number: int) -> dict[str, Any]:
            first = (number - 1) * part_size
            last = min(first + part_size, original.size) - 1
            result = self.client.upload_part_copy(
                Bucket=target.bucket,
                Key=target.key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=original.copy_source(source),
                CopySourceIfMatch=original.etag,
                CopySourceRange=f"bytes={first}-{last}",
            )["CopyPartResult"]
            part = {"PartNumber": number, "ETag": result["ETag"]}
            if f"Checksum{checksum_algorithm}" in result:
                part[f"Checksum{checksum_algorithm}"] = result[f"Checksum{checksum_algorithm}"]
            return part

        try:
            with ThreadPoolExecutor(self._copy_workers) as pool:
                parts = list(pool.map(copy_part, range(1, math.ceil(original.size / part_size) + 1)))
            self.client.complete_multipart_upload(
                Bucket=target.bucket, Key=target.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
            raise

    def verify_archive(self, target: ObjectLocation, proof: ArchiveCheck, storage_class: str) -> StoredObject:
        """The archived copy, if `proof` finds its size, checksum and class right; else `ArchiveNotVerifiedError`."""
        archived = self.head(target)
        problems = proof.problems(archived, storage_class)
        if problems:
            raise ArchiveNotVerifiedError(f"{target}: {'; '.join(problems)}")
        assert archived is not None  # archive_problems reports a missing copy
        return archived

    def delete(self, location: ObjectLocation, original: StoredObject) -> None:
        """Delete exactly `original`: a re-upload is never lost.

        In a versioned bucket that is its version, deleted for good (a plain delete would only add a
        delete marker and keep billing the original); other versions are left alone. Elsewhere the
        delete is conditional on the ETag that was archived.
        """
        pinned = {"VersionId": original.version_id} if original.version_id else {"IfMatch": original.etag}
        try:
            self.client.delete_object(Bucket=location.bucket, Key=location.key, **pinned)
        except ClientError as error:
            if error_code(error) in {"PreconditionFailed", "412"}:
                raise SourceChangedError(f"{location} was replaced during processing; not deleted") from None
            if error_code(error) not in {"404", "NoSuchKey"}:
                raise

    def lossless_requested(self, location: ObjectLocation) -> bool:
        """Whether the uploader tagged the object `imagery-archive:encoding=lossless` (a class map, a mask).

        A missing object requests nothing: the job finds it gone and says so.
        """
        version = {"VersionId": location.version_id} if location.version_id else {}
        try:
            tags = self.client.get_object_tagging(Bucket=location.bucket, Key=location.key, **version)["TagSet"]
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}:
                return False
            raise
        return any(tag["Key"] == ENCODING_TAG and tag["Value"].strip().lower() == "lossless" for tag in tags)

    def tag_failed(self, location: ObjectLocation, reason: str) -> None:
        """Mark a permanently failed original with a status and a reason, keeping its other tags."""
        if self.head(location) is None:
            return  # deleted meanwhile: nothing left to mark
        version = {"VersionId": location.version_id} if location.version_id else {}
        current = self.client.get_object_tagging(Bucket=location.bucket, Key=location.key, **version)["TagSet"]
        kept = [tag for tag in current if tag["Key"] not in {FAILURE_TAG, REASON_TAG}]
        ours = [{"Key": FAILURE_TAG, "Value": "failed"}, {"Key": REASON_TAG, "Value": tag_value(reason)}]
        self.client.put_object_tagging(
            Bucket=location.bucket, Key=location.key, Tagging={"TagSet": (kept + ours)[-10:]}, **version
        )

    def is_marked_failed(self, location: ObjectLocation) -> bool:
        tags = self.client.get_object_tagging(Bucket=location.bucket, Key=location.key)["TagSet"]
        return any(tag["Key"] == FAILURE_TAG and tag["Value"] == "failed" for tag in tags)


def _version(original: StoredObject) -> dict[str, str]:
    return {"VersionId": original.version_id} if original.version_id else {}


def archive_problems(archived: StoredObject | None, expected: FileChecksums, storage_class: str) -> list[str]:
    """Why `archived` is not a verified copy of the file `expected` describes (empty if it is)."""
    if archived is None:
        return ["no archived copy"]
    problems = []
    if archived.size != expected.size:
        problems.append(f"size {archived.size} != original's {expected.size}")
    if archived.checksum_sha256 != expected.expected_s3_checksum():
        problems.append(f"SHA-256 {archived.checksum_sha256} != original's {expected.expected_s3_checksum()}")
    if archived.storage_class != storage_class:
        problems.append(f"storage class {archived.storage_class} != {storage_class}")
    return problems


def tag_value(text: str) -> str:
    """`text` cut to what an S3 tag value may hold (256 characters of a limited set)."""
    return re.sub(r"[^\w .:/=+\-@]", "_", text)[:256]
