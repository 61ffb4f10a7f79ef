"""The checksums S3 will report for an archived copy, computed from the bytes the function read.

An object in GLACIER or DEEP_ARCHIVE can't be read back, so the copy is verified against what S3
computes itself (`ChecksumSHA256`). For a single CopyObject that is the SHA-256 of the whole
object; for a multipart copy it is the SHA-256 of the parts' digests, with '-N' for N parts. So
the part layout (`copy_part_size`) is decided here, once, and the copy in `storage` follows it.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
SINGLE_COPY_LIMIT = 5 * GiB
"""The largest object one CopyObject can copy; larger ones are copied part by part."""
MAX_PARTS = 10_000
"""The most parts one multipart upload may have."""
CHECKSUM_ALGORITHMS = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")
"""The object checksums S3 reports in HeadObject (with ChecksumMode=ENABLED) that this pipeline reads, the
preferred first (`archive_proof`)."""
PREFERRED_PART_SIZE = 512 * MiB
"""Part size of a multipart copy, unless the object needs larger parts to stay within MAX_PARTS."""


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


def copy_part_size(size: int, preferred: int = PREFERRED_PART_SIZE) -> int:
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
