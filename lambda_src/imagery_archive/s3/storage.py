"""The S3 layer: the few things the pipeline does to objects. It knows nothing of images.

Safety rests on three S3 features used together: the archive is a server-side copy made only if the
original is still the version that was compressed (`CopySourceIfMatch`); the copy is checked by
size and a SHA-256 that S3 computes itself, against the SHA-256 of the bytes the function read (a
Glacier object can't be read back); and the original is deleted only if it is still that version
(`IfMatch`), so a re-upload during processing is never lost. Every write is conditional too
(`WriteCondition`: `If-None-Match: *` where the key was free, `If-Match` over what was there), so two
writers on one key (two uploads sharing a stem, duplicate deliveries, a stale run) never silently
replace each other's work. The checksum arithmetic, and the part layout of a multipart copy that it
depends on, are in `checksums`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
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
from s3transfer.utils import ReadFileChunk

from imagery_archive.errors import ArchiveNotVerifiedError, SourceChangedError, WriteConflictError
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
WRITE_CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
"""What S3 answers a conditional write that lost: 412, or 409 while another conditional write to the key
is in flight."""
CONDITIONAL_WRITE_ATTEMPTS = 3
"""Conditional writes of one object (a COG, Item, thumbnail or archived copy) before a lost race is left to
the event's retry (`WriteConflictError`, transient): each attempt first looks again at what is there."""
S3_MAX_ATTEMPTS = 10
"""Attempts per S3 request (the first and nine retries) before a throttled call fails the object."""
LOST_WRITE_RACE = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"})
"""A conditional PUT refused because another writer changed (or removed) the object since it was read."""
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


@dataclass(frozen=True)
class WriteCondition:
    """When a write may land: only where the key is free (`If-None-Match: *`), or only over the object with
    `replaces_etag` (`If-Match`), so that two writers on one key never silently replace each other's work."""

    replaces_etag: str | None = None

    @classmethod
    def over(cls, there: StoredObject | None) -> WriteCondition:
        """The condition of a write that replaces what a HeadObject found at the key (`there`), and nothing else."""
        return cls(there.etag if there is not None else None)

    @property
    def params(self) -> dict[str, str]:
        """The request parameters that make S3 refuse the write (412) unless the condition still holds."""
        return {"IfMatch": self.replaces_etag} if self.replaces_etag else {"IfNoneMatch": "*"}

    def __str__(self) -> str:
        return f"only over ETag {self.replaces_etag}" if self.replaces_etag else "only if absent"


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

    def head_each(self, locations: Sequence[ObjectLocation]) -> list[StoredObject | None]:
        """`head` of every location, the requests in flight at once: a look at several keys costs one round trip."""
        with ThreadPoolExecutor(len(locations)) as pool:
            return list(pool.map(self.head, locations))

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

    def upload(
        self,
        path: Path,
        location: ObjectLocation,
        metadata: Mapping[str, str],
        content_type: str,
        condition: WriteCondition,
    ) -> None:
        """Store `path` only if `condition` still holds; `WriteConflictError` (nothing written) if it doesn't.

        S3 checks every part's SHA-256, and the object appears only when complete. boto3's managed
        `upload_file` can't carry `If-None-Match`/`If-Match` (s3transfer drops them), hence one PutObject
        up to the transfer's multipart threshold and, above it, a multipart upload of the transfer's part
        size (the layout `upload_file` used) whose CompleteMultipartUpload carries the condition.
        """
        extra = {"Metadata": dict(metadata), "ContentType": content_type}
        try:
            if path.stat().st_size <= self._transfer.multipart_threshold:
                with path.open("rb") as body:
                    self.client.put_object(
                        Bucket=location.bucket,
                        Key=location.key,
                        Body=body,
                        ChecksumAlgorithm="SHA256",
                        **extra,
                        **condition.params,
                    )
            else:
                self._multipart_upload(path, location, extra, condition)
        except ClientError as error:
            if error_code(error) in WRITE_CONFLICT_CODES:
                raise WriteConflictError(f"{location} changed before it could be written ({condition})") from None
            raise

    def _multipart_upload(
        self, path: Path, location: ObjectLocation, extra: Mapping[str, Any], condition: WriteCondition
    ) -> None:
        """Upload `path` in parts of the transfer's chunk size, completed only if `condition` holds; aborted
        on any failure, so no part outlives it."""
        size, part_size = path.stat().st_size, self._transfer.multipart_chunksize
        upload_id = self.client.create_multipart_upload(
            Bucket=location.bucket, Key=location.key, ChecksumAlgorithm="SHA256", **extra
        )["UploadId"]

        def upload_part(number: int) -> dict[str, Any]:
            start = (number - 1) * part_size
            with ReadFileChunk.from_filename(str(path), start, part_size) as body:
                result = self.client.upload_part(
                    Bucket=location.bucket,
                    Key=location.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                    ChecksumAlgorithm="SHA256",
                )
            return {"PartNumber": number, "ETag": result["ETag"], "ChecksumSHA256": result["ChecksumSHA256"]}

        part_numbers = range(1, math.ceil(size / part_size) + 1)
        self._send_parts_and_complete(location, upload_id, upload_part, part_numbers, condition)

    def _send_parts_and_complete(
        self,
        location: ObjectLocation,
        upload_id: str,
        send_part: Callable[[int], dict[str, Any]],
        part_numbers: range,
        condition: WriteCondition,
        workers: int | None = None,
    ) -> None:
        """Send every part (concurrently), then complete the upload only if `condition` still holds at
        `location`; aborted on any failure, so no part outlives it and nothing partial looks complete."""
        try:
            with ThreadPoolExecutor(workers or self._transfer.max_request_concurrency) as pool:
                parts = list(pool.map(send_part, part_numbers))
            self.client.complete_multipart_upload(
                Bucket=location.bucket,
                Key=location.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **condition.params,
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=location.bucket, Key=location.key, UploadId=upload_id)
            raise

    def read_document(self, location: ObjectLocation) -> tuple[bytes, str] | None:
        """A small document (a STAC Collection) and its ETag, to rewrite it conditionally; None if absent."""
        try:
            response = self.client.get_object(Bucket=location.bucket, Key=location.key)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return response["Body"].read(), response["ETag"]

    def put_document(self, location: ObjectLocation, body: bytes, content_type: str, replacing: str | None) -> bool:
        """Write `body` only if the key still holds the version read (ETag `replacing`), or, with None, nothing.

        S3's conditional writes (IfMatch / IfNoneMatch) let concurrent writers of one document each add
        their part without a lock: False means another writer got there first, and the caller reads again.
        """
        condition = {"IfMatch": replacing} if replacing else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=location.bucket,
                Key=location.key,
                Body=body,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                **condition,
            )
        except ClientError as error:
            if error_code(error) in LOST_WRITE_RACE:
                return False
            raise
        return True

    def copy_to_archive(
        self,
        source: ObjectLocation,
        target: ObjectLocation,
        storage_class: str,
        original: StoredObject,
        checksum_algorithm: str = "SHA256",
        condition: WriteCondition | None = None,
    ) -> None:
        """Server-side copy of exactly the `original` version into `storage_class`: no byte passes here.

        S3 computes the copy's `checksum_algorithm` checksum itself: the archive proof compares it. The
        copy lands only if `condition` holds at `target` (default: only if nothing is there); a 412 is
        `SourceChangedError` if the original changed, else `WriteConflictError` (another writer got there).
        """
        condition = condition or WriteCondition()
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
                    **condition.params,
                )
            else:
                self._multipart_copy(source, target, storage_class, original, checksum_algorithm, condition)
        except ClientError as error:
            if error_code(error) not in WRITE_CONFLICT_CODES:
                raise
            current = self.head(ObjectLocation(source.bucket, source.key, original.version_id))
            if current is None or current.etag != original.etag:
                raise SourceChangedError(f"{source} changed before it could be archived") from None
            raise WriteConflictError(f"{target} changed before the archive copy landed ({condition})") from None

    def _multipart_copy(
        self,
        source: ObjectLocation,
        target: ObjectLocation,
        storage_class: str,
        original: StoredObject,
        checksum_algorithm: str,
        condition: WriteCondition,
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

        part_numbers = range(1, math.ceil(original.size / part_size) + 1)
        self._send_parts_and_complete(target, upload_id, copy_part, part_numbers, condition, self._copy_workers)

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
