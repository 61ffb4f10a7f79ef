"""What proves an archived copy is the original, byte for byte, before the original is deleted.

A copy in GLACIER or DEEP_ARCHIVE can't be read back, so it is proved by a checksum S3 computes of
it, compared with one of the original. Two proofs, in order of preference:

- `S3ChecksumProof`: the original's own full-object checksum, as S3 reports it (every object
  uploaded without a checksum has had a CRC-64/NVME one since the end of 2024). The copy is pinned
  to the original's ETag (`CopySourceIfMatch`) and asks S3 for the same algorithm; S3 computes it
  over the bytes it copied, and the two must be equal. No byte of the original passes through the
  function, so it need not be downloaded at all. Only checksums of 64 bits or more prove a copy
  (`PROVING_ALGORITHMS`): the same check decides whether an archived object already is this original
  (`same_content`, used to skip a copy and to avoid overwriting another original), and a 32-bit CRC
  (the SDKs' default) would take one in four billion different originals for it.
- `DownloadedBytesProof`: where the original has no comparable checksum (older uploads, or a
  composite checksum), the SHA-256 of the bytes the function downloaded, against the copy's
  SHA-256 (today's path, and the reason such an original is still downloaded).

Only like is compared with like: a COMPOSITE checksum (of part checksums, from a multipart upload)
depends on the part layout, and the copy's parts are not the upload's, so it proves nothing here.
A SHA checksum of a copy beyond CopyObject's 5 GiB is composite too (multipart copy), so there only
a CRC qualifies: S3 combines a CRC's parts into the CRC of the whole object (FULL_OBJECT). S3 names
the type (ChecksumType); where an S3-compatible store doesn't, a value without a '-N' part count
is a checksum of the whole object.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from imagery_archive.s3.checksums import SINGLE_COPY_LIMIT, FileChecksums
from imagery_archive.s3.storage import StoredObject, archive_problems

PROVING_ALGORITHMS = ("CRC64NVME", "SHA256", "SHA1")
"""S3 checksums strong enough to prove an archived copy, the preferred first."""
FULL_OBJECT_ACROSS_PARTS = ("CRC64NVME",)
"""Of those, the ones whose multipart copy S3 can checksum as a whole object (ChecksumType FULL_OBJECT)."""


@dataclass(frozen=True)
class S3ChecksumProof:
    """The original's full-object checksum, which the copy's (computed by S3 as it copies) must equal."""

    algorithm: str
    checksum: str
    size: int

    @property
    def copy_algorithm(self) -> str:
        return self.algorithm

    @property
    def label(self) -> str:
        """How the COG's metadata and the logs name this proof, e.g. 's3-crc64nvme'."""
        return f"s3-{self.algorithm.lower()}"

    @property
    def digest(self) -> bytes:
        return base64.b64decode(self.checksum)

    @property
    def digest_name(self) -> str:
        return self.algorithm.lower()

    def same_content(self, stored: StoredObject) -> bool:
        """True if `stored` holds the original's bytes: its size, and S3's whole-object checksum of it."""
        whole = stored.checksum_type != "COMPOSITE"
        return stored.size == self.size and stored.checksums.get(self.algorithm) == self.checksum and whole

    def problems(self, archived: StoredObject | None, storage_class: str) -> list[str]:
        """Why `archived` is not a verified copy (empty if it is)."""
        if archived is None:
            return ["no archived copy"]
        problems = []
        if archived.size != self.size:
            problems.append(f"size {archived.size} != original's {self.size}")
        copied = archived.checksums.get(self.algorithm)
        if copied != self.checksum or archived.checksum_type == "COMPOSITE":
            kind = f" ({archived.checksum_type})" if archived.checksum_type else ""
            problems.append(f"{self.algorithm} {copied}{kind} != original's full-object {self.checksum}")
        if archived.storage_class != storage_class:
            problems.append(f"storage class {archived.storage_class} != {storage_class}")
        return problems


@dataclass(frozen=True)
class DownloadedBytesProof:
    """The SHA-256 of the downloaded original (whole, or per copy part), which S3's of the copy must equal."""

    checksums: FileChecksums
    copy_algorithm = "SHA256"
    label = "sha256-of-downloaded-bytes"
    digest_name = "sha256"

    @property
    def digest(self) -> bytes:
        return base64.b64decode(self.checksums.sha256)

    def same_content(self, stored: StoredObject) -> bool:
        """True if `stored` holds the downloaded bytes: its size, and the SHA-256 S3 computed of it."""
        expected = self.checksums
        return stored.size == expected.size and stored.checksum_sha256 == expected.expected_s3_checksum()

    def problems(self, archived: StoredObject | None, storage_class: str) -> list[str]:
        """Why `archived` is not a verified copy (empty if it is)."""
        return archive_problems(archived, self.checksums, storage_class)


ArchiveProof = S3ChecksumProof | DownloadedBytesProof


def s3_checksum_proof(original: StoredObject, single_copy_limit: int = SINGLE_COPY_LIMIT) -> S3ChecksumProof | None:
    """The proof S3's own checksum of `original` gives, or None if it has none comparable with a copy's."""
    if original.checksum_type not in {"FULL_OBJECT", None}:
        return None  # COMPOSITE: a checksum of the upload's parts
    multipart_copy = original.size > single_copy_limit
    for algorithm in PROVING_ALGORITHMS:
        checksum = original.checksums.get(algorithm)
        if checksum is None or "-" in checksum:
            continue  # base64 has no '-': a '-N' suffix counts the parts of a composite checksum
        if multipart_copy and algorithm not in FULL_OBJECT_ACROSS_PARTS:
            return None  # the copy's SHA would be of its parts
        return S3ChecksumProof(algorithm, checksum, original.size)
    return None
