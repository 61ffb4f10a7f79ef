"""Originals an earlier run tagged failed (`imagery-archive:status=failed`), for `tools.backfill --retry-failed`.

S3 can't list objects by tag, so each candidate's tags are read (one GetObjectTagging per object). Clearing
the mark removes only the pipeline's two tags; the user's own tags stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imagery_archive.s3.storage import FAILURE_TAG, REASON_TAG


@dataclass(frozen=True)
class FailedOriginal:
    key: str
    size: int
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason or '(no reason recorded)'}"


def failed_originals(client: Any, bucket: str, objects: Iterable[tuple[str, int]]) -> list[FailedOriginal]:
    """Those of `objects` ((key, size) each) that are tagged failed, with the reason the tag holds."""
    found = []
    for key, size in objects:
        tags = {tag["Key"]: tag["Value"] for tag in client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        if tags.get(FAILURE_TAG) == "failed":
            found.append(FailedOriginal(key, size, tags.get(REASON_TAG, "")))
    return found


def clear_failure_mark(client: Any, bucket: str, key: str) -> None:
    """Remove the pipeline's failure tags from `key`, keeping any other tag."""
    tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    kept = [tag for tag in tags if tag["Key"] not in {FAILURE_TAG, REASON_TAG}]
    if kept:
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": kept})
    else:
        client.delete_object_tagging(Bucket=bucket, Key=key)
