"""Where `imagery-archive restore` may put an original, and whether what is there already is that original.

- A download goes only to a path that resolves inside the chosen folder: an archived key is the key an
  uploader chose, and may hold `..` or start with `/` (`local_path` refuses those, naming the key).
- "Fetched earlier" means the same bytes, not the same size: the size and a full-object checksum strong
  enough to prove it (SHA-256 or CRC-64/NVME, as `archive_proof` trusts), compared with the archived
  object's own. Where none can be compared, the copy is not taken for the original.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from awscrt import checksums as crt_checksums

from imagery_archive.s3.storage import StoredObject

COMPARABLE_ALGORITHMS = ("SHA256", "CRC64NVME")
"""Full-object checksums that prove two objects hold the same bytes, the first preferred."""
READ_CHUNK = 8 * 1024 * 1024


class RefusedError(Exception):
    """An original that this run will not fetch where asked; the message names its key and the reason."""


def local_path(folder: Path, name: str, key: str) -> Path:
    """`folder / name`, if it resolves inside `folder` (symbolic links followed); else `RefusedError`."""
    root = folder.resolve()
    path = (root / name).resolve()
    if path == root or not path.is_relative_to(root):
        raise RefusedError(f"{key}: its name {name!r} resolves outside {folder}")
    return path


def full_object_checksums(head: Mapping[str, Any]) -> dict[str, str]:
    """The comparable checksums a HeadObject (with ChecksumMode=ENABLED) reports, by algorithm."""
    if head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return {}
    found = {name: head.get(f"Checksum{name}") for name in COMPARABLE_ALGORITHMS}
    return {name: value for name, value in found.items() if value and "-" not in value}


def file_checksum(path: Path, algorithm: str) -> str:
    """The file's full-object checksum as S3 writes it (base64)."""
    digest = hashlib.sha256()
    crc = 0
    with path.open("rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            if algorithm == "SHA256":
                digest.update(chunk)
            else:
                crc = crt_checksums.crc64nvme(chunk, crc)
    raw = digest.digest() if algorithm == "SHA256" else crc.to_bytes(8, "big")
    return base64.b64encode(raw).decode()


def is_local_copy(path: Path, archived: Mapping[str, Any]) -> bool:
    """True if the file at `path` holds the archived object's bytes (size and a comparable checksum)."""
    if not path.is_file() or path.stat().st_size != archived["ContentLength"]:
        return False
    for algorithm, value in full_object_checksums(archived).items():
        return file_checksum(path, algorithm) == value
    return False


def is_same_object(copy: Mapping[str, Any], archived: Mapping[str, Any]) -> bool:
    """True if two HeadObject answers describe the same bytes (size and a checksum both report)."""
    if copy["ContentLength"] != archived["ContentLength"]:
        return False
    ours, theirs = full_object_checksums(archived), full_object_checksums(copy)
    return any(theirs.get(algorithm) == value for algorithm, value in ours.items())


def copy_algorithm(original: StoredObject) -> str:
    """The checksum a copy of `original` asks S3 for: one `original` has as a full-object checksum, so that a
    later run can compare the two (`is_same_object`); CRC-64/NVME where it has none."""
    if original.checksum_type in {"FULL_OBJECT", None}:
        for algorithm in COMPARABLE_ALGORITHMS:
            value = original.checksums.get(algorithm)
            if value and "-" not in value:
                return algorithm
    return "CRC64NVME"
