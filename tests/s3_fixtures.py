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
import requests
from moto.server import ThreadedMotoServer

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The endpoint URL; the process environment points boto3 at it for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {name: os.environ.get(name) for name in [*FAKE_CREDENTIALS, "AWS_ENDPOINT_URL"]}
    os.environ.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=url)
    yield url
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


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
    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    suffix = uuid.uuid4().hex[:8]
    pair = Buckets(client, f"imagery-input-{suffix}", f"imagery-output-{suffix}")
    client.create_bucket(Bucket=pair.input)
    client.create_bucket(Bucket=pair.output)
    return pair
