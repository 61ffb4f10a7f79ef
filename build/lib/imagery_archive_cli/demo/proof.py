"""The demo's proof that no original left the input bucket before its archived copy was verified.

It is read from the S3 calls the function really made (recorded by `imagery_archive_cli.local.function`), in
order: a copy into the archive, then a HeadObject whose size, SHA-256 and storage class match the
original, then a DeleteObject of the original conditional on the version that was archived.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from imagery_archive_cli.local.function import Invocation, S3Call


def sha256_b64(data: bytes) -> str:
    """SHA-256 as S3 reports ChecksumSHA256 (base64)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True)
class Proof:
    """When the original was deleted, relative to the archive copy and its verification (call numbers)."""

    key: str
    copied: int | None
    verified: int | None
    deleted: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def prove_order(invocation: Invocation, archive_key: str, sha256: str, size_: int, storage_class: str) -> Proof:
    """From the recorded S3 calls: a copy, then a HeadObject that verified it, then a conditional delete."""
    numbered = list(enumerate(invocation.calls, start=1))

    def first(match: Callable[[S3Call], bool], after: int = 0) -> int | None:
        return next((number for number, call in numbered if number > after and match(call)), None)

    def verifies(call: S3Call) -> bool:
        return (
            call.operation == "HeadObject"
            and call.key == archive_key
            and call.status == 200
            and call.response.get("ChecksumSHA256") == sha256
            and call.response.get("ContentLength") == size_
            and call.response.get("StorageClass") == storage_class
        )

    copied = first(lambda call: call.operation == "CopyObject" and call.key == archive_key and call.status == 200)
    verified = first(verifies, after=copied or 0)
    deleted = first(lambda call: call.operation == "DeleteObject" and call.key == invocation.key)
    problems = []
    if copied is None:
        problems.append("no archive copy")
    if verified is None:
        problems.append("archive never verified (size, SHA-256 of the file, class)")
    if deleted is None:
        problems.append("original not deleted")
    elif verified is None or deleted < verified:
        problems.append("original deleted before its archive was verified")
    elif "IfMatch" not in invocation.calls[deleted - 1].params:
        problems.append("delete not conditional on the archived version (IfMatch)")
    return Proof(invocation.key, copied, verified, deleted, tuple(problems))
