"""An S3 endpoint on 127.0.0.1 (moto's server) with buckets configured as the stack configures them.

Like `infra/buckets.py`: public access blocked, ACLs disabled (bucket owner enforced), SSE-S3 default
encryption, incomplete multipart uploads aborted after 7 days; the output bucket is versioned and
expires replaced compressed images after 30 days. The TLS-only bucket policy is left out: the local
endpoint speaks plain HTTP, and the policy would refuse every request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
import requests

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""For a local endpoint only (the demo's, the tests', the benchmark's): it accepts any; never sent anywhere else."""


@contextmanager
def local_s3() -> Iterator[dict[str, str]]:
    """Run moto's S3 server for the block; yields the environment that points boto3 at it."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - a test dependency, needed only here

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per HTTP request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    finally:
        server.stop()


def s3_client(env: Mapping[str, str]) -> Any:
    """A boto3 S3 client for the endpoint and credentials of `env` (as `local_s3` yields them)."""
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
    )


def reset(url: str) -> None:
    """Forget every bucket and object of the moto server at `url` (frees its memory and spool files)."""
    requests.post(f"{url}/moto-api/reset", timeout=60)


def create_pipeline_buckets(client: Any, input_bucket: str, output_bucket: str, output_prefix: str = "output/") -> None:
    """Create the input and output buckets with the stack's settings."""
    for bucket in (input_bucket, output_bucket):
        client.create_bucket(Bucket=bucket)
        client.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        client.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )
        client.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    abort_uploads = {
        "ID": "AbortIncompleteMultipartUploads",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    client.put_bucket_lifecycle_configuration(Bucket=input_bucket, LifecycleConfiguration={"Rules": [abort_uploads]})
    client.put_bucket_versioning(Bucket=output_bucket, VersioningConfiguration={"Status": "Enabled"})
    expire_replaced = {
        "ID": "ExpireReplacedCompressedImages",
        "Status": "Enabled",
        "Filter": {"Prefix": output_prefix},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
    }
    client.put_bucket_lifecycle_configuration(
        Bucket=output_bucket, LifecycleConfiguration={"Rules": [abort_uploads, expire_replaced]}
    )
