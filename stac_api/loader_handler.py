"""The loader Lambda: S3 events on the Items and COGs, through an SQS queue, synced into pgSTAC.

The output bucket sends ObjectCreated and ObjectRemoved events for `output/*.json` and `output/*.tif`
to a queue; this function takes them in batches and, for each scene named, makes pgSTAC agree with
the bucket (`loading.sync_scene`). A record that fails (the database unreachable after retries, an
unreadable Item) is reported as a batch item failure: SQS delivers it again, and after the queue's
receive limit it goes to the loader's dead-letter queue. Idempotent, so a redelivery is harmless.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_plus

import boto3

from stac_api.loading import OutputBucket, PgstacCatalog, sync_scene
from stac_api.settings import LoaderSettings

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class Loader:
    """Built once per cold start: the settings, the S3 client and the database connection."""

    def __init__(self, settings: LoaderSettings, s3: Any = None) -> None:
        self.settings = settings
        self.s3 = s3 or boto3.client("s3")
        self.catalog = PgstacCatalog(settings.database.dsn)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Sync every scene the SQS batch names; the messages that failed are returned for redelivery."""
        failures = []
        for message in event.get("Records", []):
            try:
                for bucket, key in scene_keys(json.loads(message["body"])):
                    output = OutputBucket(self.s3, bucket, self.settings.output_prefix)
                    change = sync_scene(output, self.catalog, key)
                    logger.info("pgSTAC %s for s3://%s/%s", change.value, bucket, key)
            except Exception:
                logger.exception("message %s not synced: it will be delivered again", message.get("messageId"))
                failures.append({"itemIdentifier": message["messageId"]})
        return {"batchItemFailures": failures}


def scene_keys(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, decoded key) of each S3 record in an S3 notification (S3's test event has none)."""
    return [
        (record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"]))
        for record in body.get("Records", [])
        if "s3" in record
    ]


_loader: Loader | None = None


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    """Lambda's entry point: the Loader is built at the first invocation and kept for the next ones."""
    global _loader  # noqa: PLW0603 (one Loader per execution environment, as Lambda advises)
    if _loader is None:
        _loader = Loader(LoaderSettings.from_env())
    return _loader.handle(event)
