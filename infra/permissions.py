"""The function's S3 permissions, one statement per purpose, each action named and each resource scoped.

Written out rather than `grant_read_write`: its wildcards (`s3:GetObject*`, `s3:List*`, `s3:DeleteObject*`)
would also allow reading or deleting old object versions, ACLs and retention settings the function never uses.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs


def input_bucket_statements(bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    """Read an upload (and the tags its archive copy keeps), tag it if it fails, delete it once archived."""
    objects = bucket.arn_for_objects("*")
    return [
        _allow("ReadUploadedImagery", ["s3:GetObject", "s3:GetObjectTagging"], [objects]),
        _allow("TagFailedUploads", ["s3:PutObjectTagging"], [objects]),
        _allow("DeleteArchivedUploads", ["s3:DeleteObject"], [objects]),
        # Without ListBucket, HeadObject on a key already deleted (a duplicate event) is 403, not 404.
        _allow("ListInputBucketForNotFound", ["s3:ListBucket"], [bucket.bucket_arn]),
    ]


def output_bucket_statements(
    bucket: s3.IBucket, *, output_prefix: str, archive_prefix: str
) -> list[iam.PolicyStatement]:
    """Write compressed images and archive copies under their two prefixes only, and read them back to verify.

    PutObject covers uploads and the destination of CopyObject (including multipart copies of originals over
    5 GB, whose leftovers AbortMultipartUpload cleans up); GetObject covers HeadObject's checks.
    """
    prefixed_objects = [bucket.arn_for_objects(f"{prefix}*") for prefix in (output_prefix, archive_prefix)]
    return [
        _allow(
            "WriteAndVerifyResults",
            ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            prefixed_objects,
        ),
        _allow("KeepTagsOnArchivedOriginals", ["s3:PutObjectTagging"], [bucket.arn_for_objects(f"{archive_prefix}*")]),
        # The function never lists. S3 answers HeadObject on a missing key with 404 only if the caller holds
        # s3:ListBucket, evaluated for the HeadObject request itself, which carries no s3:prefix: a ListBucket
        # limited by an s3:prefix condition would turn every "not written yet" check into 403 AccessDenied.
        _allow("ListOutputBucketForNotFound", ["s3:ListBucket"], [bucket.bucket_arn]),
        # In a bucket that keeps no versions, a different original under a key already archived gets its own
        # archive key instead of overwriting the only copy of the first: the function asks, once per cold start.
        _allow("CheckOutputBucketVersioning", ["s3:GetBucketVersioning"], [bucket.bucket_arn]),
    ]


def failure_queue_statements(queue: sqs.IQueue) -> list[iam.PolicyStatement]:
    """Report an object whose COG failed the function's own checks, at once (not after every retry)."""
    return [_allow("ReportOwnOutputFailures", ["sqs:SendMessage"], [queue.queue_arn])]


def _allow(sid: str, actions: list[str], resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
