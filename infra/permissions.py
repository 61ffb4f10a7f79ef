"""The archive job's S3 permissions, one statement per purpose, each action named and each resource scoped.

One definition for both places the job runs: the function's role and the large-scene batch job's role.

Written out rather than `grant_read_write`: its wildcards (`s3:GetObject*`, `s3:List*`, `s3:DeleteObject*`)
would also allow reading or deleting old object versions, ACLs and retention settings the function never uses.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from infra.nag import acknowledge_wildcard_resources


def archive_job_statements(
    input_bucket: s3.IBucket,
    output_bucket: s3.IBucket,
    *,
    output_prefix: str,
    archive_prefix: str,
    catalog_prefix: str = "catalog/",
) -> list[iam.PolicyStatement]:
    """Everything the archive job does in S3, wherever it runs (the function, or the large-scene batch job)."""
    return [
        *input_bucket_statements(input_bucket),
        *output_bucket_statements(output_bucket, output_prefix=output_prefix, archive_prefix=archive_prefix),
        catalog_statement(output_bucket, catalog_prefix),
    ]


def allow_archive_job(
    role: iam.IRole,
    input_bucket: s3.IBucket,
    output_bucket: s3.IBucket,
    *,
    output_prefix: str,
    archive_prefix: str,
    catalog_prefix: str = "catalog/",
) -> None:
    """Give `role` exactly the archive job's S3 statements, and acknowledge the object-ARN wildcards they need."""
    statements = archive_job_statements(
        input_bucket,
        output_bucket,
        output_prefix=output_prefix,
        archive_prefix=archive_prefix,
        catalog_prefix=catalog_prefix,
    )
    for statement in statements:
        role.add_to_principal_policy(statement)
    object_arns = {arn for statement in statements for arn in statement.resources if arn.endswith("*")}
    acknowledge_wildcard_resources(
        role,
        sorted(object_arns),
        reason="Uploaded scenes are named by their uploaders, so object ARNs end in '*'. Each "
        "wildcard is confined to the input bucket's objects or to the output bucket's output and "
        "archive prefixes, and every action on them is listed by name.",
    )


def input_bucket_statements(bucket: s3.IBucket) -> list[iam.PolicyStatement]:
    """Read an upload (and the tags its archive copy keeps), tag it if it fails, delete it once archived.

    Each with its version action: in a versioned input bucket (many organisations version every bucket) S3
    names the upload's version, and every later call pins it (`VersionId`), which AWS authorizes as
    s3:GetObjectVersion, s3:GetObjectVersionTagging, s3:PutObjectVersionTagging and s3:DeleteObjectVersion.
    """
    objects = bucket.arn_for_objects("*")
    return [
        _allow(
            "ReadUploadedImagery",
            ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging"],
            [objects],
        ),
        _allow("TagFailedUploads", ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"], [objects]),
        _allow("DeleteArchivedUploads", ["s3:DeleteObject", "s3:DeleteObjectVersion"], [objects]),
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


def catalog_statement(bucket: s3.IBucket, catalog_prefix: str) -> iam.PolicyStatement:
    """Read and conditionally rewrite the STAC Collections and the root Catalog, which each Item grows."""
    return _allow(
        "GrowStacCollections", ["s3:GetObject", "s3:PutObject"], [bucket.arn_for_objects(f"{catalog_prefix}*")]
    )


def failure_queue_statements(queue: sqs.IQueue) -> list[iam.PolicyStatement]:
    """Report an object whose COG failed the function's own checks, at once (not after every retry)."""
    return [_allow("ReportOwnOutputFailures", ["sqs:SendMessage"], [queue.queue_arn])]


def _allow(sid: str, actions: list[str], resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
