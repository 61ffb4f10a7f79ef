"""Originals an earlier run tagged failed (`imagery-archive:status=failed`): `imagery-archive failed` lists them
with the reason, and `imagery-archive backfill --retry-failed` clears the mark and runs them again.

S3 can't list objects by tag, so each candidate's tags are read (one GetObjectTagging per object): narrow it
with `--prefix` on a large bucket. Clearing the mark removes only the pipeline's two tags; the user's own
tags stay.

Exit codes: 0 when nothing under the prefix is tagged failed, 1 when something is (each listed), 2 for a
bad argument or a bucket that can't be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from imagery_archive.s3.keys import Destinations, ObjectLocation, is_imagery_key
from imagery_archive.s3.storage import FAILURE_TAG, REASON_TAG
from imagery_archive_cli.console import Parser, fail, size, table


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
    for key, bytes_ in objects:
        tags = {tag["Key"]: tag["Value"] for tag in client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        if tags.get(FAILURE_TAG) == "failed":
            found.append(FailedOriginal(key, bytes_, tags.get(REASON_TAG, "")))
    return found


def clear_failure_mark(client: Any, bucket: str, key: str) -> None:
    """Remove the pipeline's failure tags from `key`, keeping any other tag."""
    tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    kept = [tag for tag in tags if tag["Key"] not in {FAILURE_TAG, REASON_TAG}]
    if kept:
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": kept})
    else:
        client.delete_object_tagging(Bucket=bucket, Key=key)


def imagery_objects(
    client: Any, bucket: str, prefix: str, destinations: Destinations | None = None
) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under `prefix` that the function would take as an image, page by page, except
    the pipeline's own results where `destinations` says where they go (a bucket that is input and output)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for listed in page.get("Contents", []):
            key = listed["Key"]
            ours = destinations is not None and destinations.is_pipeline_output(ObjectLocation(bucket, key))
            if is_imagery_key(key) and not ours:
                yield key, int(listed["Size"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="imagery-archive failed", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--input-bucket", required=True, help="the bucket the originals were uploaded to")
    parser.add_argument("--prefix", default="", help="only keys starting with this")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS, or AWS_ENDPOINT_URL)")
    args = parser.parse_args(argv)
    client = boto3.client("s3", endpoint_url=args.endpoint_url)
    try:
        found = failed_originals(client, args.input_bucket, imagery_objects(client, args.input_bucket, args.prefix))
    except (BotoCoreError, ClientError) as error:
        fail(f"can't read s3://{args.input_bucket}/{args.prefix}: {error}")
    if not found:
        print(f"No original under s3://{args.input_bucket}/{args.prefix} is tagged failed.")
        return 0
    rows = [(item.key, size(item.size), item.reason or "(no reason recorded)") for item in found]
    print(table(("original", "size", "why it was left in place"), rows, right=(1,)))
    print(f"\n{len(found)} original(s) tagged failed; after fixing them: imagery-archive backfill --retry-failed")
    return 1
