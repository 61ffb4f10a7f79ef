"""A real S3 endpoint on 127.0.0.1 (moto's server) for the storage, job, handler and demo tests.

boto3 reaches it through `AWS_ENDPOINT_URL`, as the function reaches any S3-compatible endpoint.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from imagery_archive_cli.local.s3_server import local_s3, reset


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The endpoint URL; the process environment points boto3 at it for the whole session."""
    with local_s3() as env:
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        yield env["AWS_ENDPOINT_URL"]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class Buckets:
    """A fresh input and output bucket pair and a client for them."""

    client: Any
    input: str
    output: str

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.fixture
def buckets(s3_endpoint: str) -> Buckets:
    """New, empty buckets for each test (the server is reset, so no test sees another's objects)."""
    reset(s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    suffix = uuid.uuid4().hex[:8]
    pair = Buckets(client, f"imagery-input-{suffix}", f"imagery-output-{suffix}")
    client.create_bucket(Bucket=pair.input)
    client.create_bucket(Bucket=pair.output)
    return pair
