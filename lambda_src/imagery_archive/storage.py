"""The S3 layer: the few things the pipeline does to objects. It knows nothing of images.

Safety rests on three S3 features used together: the archive is a server-side copy made only if the
original is still the version that was compressed (`CopySourceIfMatch`); the copy is checked by
size and a SHA-256 that S3 computes itself, against the SHA-256 of the bytes the function read (a
Glacier object can't be read back); and the original is deleted only if it is still that version
(`IfMatch`), so a re-upload during processing is never lost.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from imagery_archive.errors import ArchiveNotVerifiedError, SourceChangedError
from imagery_archive.keys import ObjectLocation

MiB = 1024 * 1024
GiB = 1024 * MiB
SINGLE_COPY_LIMIT = 5 * GiB
"""The largest object one CopyObject can copy; larger ones are copied part by part."""
MAX_PARTS = 10_000
FAILURE_TAG = "imagery-archive:status"
REASON_TAG = "imagery-archive:reason"


@dataclass(frozen=True)
class StoredObject:
    """What a HeadObject says about an object."""

    size: int
    etag: str
    storage_class: str
    checksum_sha256: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None
    """When the object was written (an upload's time, for STAC Items of images that state none)."""


@dataclass(frozen=True)
class FileChecksums:
    """SHA-256 of a local file, whole and per copy part, as S3 reports them (base64)."""

    size: int
    sha256: str
    part_digests: tuple[bytes, ...]

    def expected_s3_checksum(self) -> str:
        """The ChecksumSHA256 S3 gives the copy: of the whole, or of the part digests plus '-N'."""
        if len(self.part_digests) <= 1:
            return self.sha256
        combined = hashlib.sha256(b"".join(self.part_digests)).digest()
        return f"{base64.b64encode(combined).decode()}-{len(self.part_digests)}"


def copy_part_size(size: int, preferred: int = 512 * MiB) -> int:
    """Part size of a multipart copy: `preferred`, grown (in MiB) to stay within 10,000 parts."""
    return max(preferred, math.ceil(size / MAX_PARTS / MiB) * MiB)


def file_checksums(path: Path, size_limit: int = SINGLE_COPY_LIMIT, part_size: int | None = None) -> FileChecksums:
    """Hash `path` in one pass; part digests are kept only if the copy will be multipart."""
    size = path.stat().st_size
    multipart = size > size_limit
    part_size = part_size or copy_part_size(size)
    whole, part, digests, in_part = hashlib.sha256(), hashlib.sha256(), [], 0
    with path.open("rb") as stream:
        while chunk := stream.read(8 * MiB):
            whole.update(chunk)
            if multipart:
                while chunk:
                    take = chunk[: part_size - in_part]
                    part.update(take)
                    in_part += len(take)
                    chunk = chunk[len(take) :]
                    if in_part == part_size:
                        digests.append(part.digest())
                        part, in_part = hashlib.sha256(), 0
    if multipart and in_part:
        digests.append(part.digest())
    return FileChecksums(size, base64.b64encode(whole.digest()).decode(), tuple(digests))


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class ImageryStore:
    """Downloads, uploads, archives, verifies, deletes and tags objects through one S3 client."""

    def __init__(
        self,
        client: Any,
        transfer: TransferConfig | None = None,
        single_copy_limit: int = SINGLE_COPY_LIMIT,
        copy_part_size: int = 512 * MiB,
        copy_workers: int = 8,
    ) -> None:
        self.client = client
        self._transfer = transfer or TransferConfig(max_concurrency=8, multipart_chunksize=64 * MiB)
        self.single_copy_limit = single_copy_limit
        self.preferred_part_size = copy_part_size
        self._copy_workers = copy_workers

    def checksums_of(self, path: Path) -> FileChecksums:
        """The checksums S3 will report for an archived copy of the file at `path`."""
        size = path.stat().st_size
        return file_checksums(path, self.single_copy_limit, copy_part_size(size, self.preferred_part_size))

    def head(self, location: ObjectLocation) -> StoredObject | None:
        """The object's size, version (ETag), class, checksum and metadata; None if it doesn't exist."""
        try:
            response = self.client.head_object(Bucket=location.bucket, Key=location.key, ChecksumMode="ENABLED")
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
            last_modified=response.get("LastModified"),
        )

    def download(self, location: ObjectLocation, path: Path) -> None:
        """Fetch the object to `path` with concurrent ranged GETs."""
        try:
            self.client.download_file(location.bucket, location.key, str(path), Config=self._transfer)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                raise SourceChangedError(f"{location} was deleted while it was being processed") from None
            raise

    def upload(self, path: Path, location: ObjectLocation, metadata: Mapping[str, str], content_type: str) -> None:
        """Store `path`; S3 checks every part's SHA-256, and the object appears only when complete."""
        extra = {"ChecksumAlgorithm": "SHA256", "Metadata": dict(metadata), "ContentType": content_type}
        self.client.upload_file(str(path), location.bucket, location.key, ExtraArgs=extra, Config=self._transfer)

    def archive(
        self, source: ObjectLocation, target: ObjectLocation, storage_class: str, original: StoredObject
    ) -> None:
        """Server-side copy of exactly the `original` version into `storage_class`: no byte passes here."""
        try:
            if original.size <= self.single_copy_limit:
                self.client.copy_object(
                    Bucket=target.bucket,
                    Key=target.key,
                    CopySource={"Bucket": source.bucket, "Key": source.key},
                    CopySourceIfMatch=original.etag,
                    StorageClass=storage_class,
                    ChecksumAlgorithm="SHA256",
                    MetadataDirective="COPY",
                )
            else:
                self._multipart_copy(source, target, storage_class, original)
        except ClientError as error:
            if error_code(error) in {"PreconditionFailed", "412"}:
                raise SourceChangedError(f"{source} changed before it could be archived") from None
            raise

    def _multipart_copy(
        self, source: ObjectLocation, target: ObjectLocation, storage_class: str, original: StoredObject
    ) -> None:
        part_size = copy_part_size(original.size, self.preferred_part_size)
        tags = self.client.get_object_tagging(Bucket=source.bucket, Key=source.key)["TagSet"]
        upload = self.client.create_multipart_upload(
            Bucket=target.bucket,
            Key=target.key,
            StorageClass=storage_class,
            ChecksumAlgorithm="SHA256",
            Metadata=dict(original.metadata),
            Tagging="&".join(f"{t['Key']}={t['Value']}" for t in tags),
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
                CopySource={"Bucket": source.bucket, "Key": source.key},
                CopySourceIfMatch=original.etag,
                CopySourceRange=f"bytes={first}-{last}",
            )["CopyPartResult"]
            part = {"PartNumber": number, "ETag": result["ETag"]}
            if "ChecksumSHA256" in result:
                part["ChecksumSHA256"] = result["ChecksumSHA256"]
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

    def verify_archive(self, target: ObjectLocation, expected: FileChecksums, storage_class: str) -> StoredObject:
        """The archived copy, if its size, checksum and class are right; else `ArchiveNotVerifiedError`."""
        archived = self.head(target)
        problems = archive_problems(archived, expected, storage_class)
        if problems:
            raise ArchiveNotVerifiedError(f"{target}: {'; '.join(problems)}")
        assert archived is not None  # archive_problems reports a missing copy
        return archived

    def delete(self, location: ObjectLocation, etag: str) -> None:
        """Delete the object only if it is still the version `etag` (a re-upload is never lost)."""
        try:
            self.client.delete_object(Bucket=location.bucket, Key=location.key, IfMatch=etag)
        except ClientError as error:
            if error_code(error) in {"PreconditionFailed", "412"}:
                raise SourceChangedError(f"{location} was replaced during processing; not deleted") from None
            if error_code(error) not in {"404", "NoSuchKey"}:
                raise

    def tag_failed(self, location: ObjectLocation, reason: str) -> None:
        """Mark a permanently failed original with a status and a reason, keeping its other tags."""
        if self.head(location) is None:
            return  # deleted meanwhile: nothing left to mark
        current = self.client.get_object_tagging(Bucket=location.bucket, Key=location.key)["TagSet"]
        kept = [tag for tag in current if tag["Key"] not in {FAILURE_TAG, REASON_TAG}]
        ours = [{"Key": FAILURE_TAG, "Value": "failed"}, {"Key": REASON_TAG, "Value": tag_value(reason)}]
        self.client.put_object_tagging(
            Bucket=location.bucket, Key=location.key, Tagging={"TagSet": (kept + ours)[-10:]}
        )

    def is_marked_failed(self, location: ObjectLocation) -> bool:
        tags = self.client.get_object_tagging(Bucket=location.bucket, Key=location.key)["TagSet"]
        return any(tag["Key"] == FAILURE_TAG and tag["Value"] == "failed" for tag in tags)


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
