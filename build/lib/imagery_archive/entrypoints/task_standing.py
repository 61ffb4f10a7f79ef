"""What S3 says about a Batch Operations task's object before any work is done: one GetObjectTagging call."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from imagery_archive.entrypoints.batch_operations import Standing
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.storage import FAILURE_TAG, REASON_TAG, error_code


def standing_of(client: Any, location: ObjectLocation) -> Standing:
    """Whether the object (the version the task names, if any) exists, and its failure mark, in one call."""
    version = {"VersionId": location.version_id} if location.version_id else {}
    try:
        response = client.get_object_tagging(Bucket=location.bucket, Key=location.key, **version)
    except ClientError as error:
        if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
            return Standing(exists=False)
        raise
    tags = {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}
    failed = tags.get(REASON_TAG, "") if tags.get(FAILURE_TAG) == "failed" else None
    return Standing(True, failed)
