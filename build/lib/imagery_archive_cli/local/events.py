"""S3 event notifications exactly as S3 sends them to Lambda, for objects already in a bucket.

The demo, the backfill and the tests deliver these to the same `handler` the container runs, so
the handler's parsing (URL-encoded keys included) is exercised as it is in AWS.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import quote_plus


def object_created_record(
    bucket: str, key: str, size: int, etag: str, region: str = "us-east-1", version_id: str | None = None
) -> dict[str, Any]:
    """One `ObjectCreated:Put` record; S3 URL-encodes the key (spaces as '+'), and names the version it
    created in a versioned bucket."""
    version = {"versionId": version_id} if version_id else {}
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:LOCAL"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "LOCAL", "x-amz-id-2": "LOCAL"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "imagery-upload",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "LOCAL"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": quote_plus(key, safe="/"),
                "size": size,
                "eTag": etag.strip('"'),
                **version,
                "sequencer": "0",
            },
        },
    }


def object_created_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The notification body that wraps records."""
    return {"Records": records}


def event_for_objects(client: Any, bucket: str, keys: list[str]) -> dict[str, Any]:
    """An event for objects already in `bucket`, with their real sizes and ETags."""
    records = []
    for key in keys:
        head = client.head_object(Bucket=bucket, Key=key)
        records.append(
            object_created_record(bucket, key, head["ContentLength"], head["ETag"], version_id=head.get("VersionId"))
        )
    return object_created_event(records)
