"""Items and their Collections, from the output bucket into pgSTAC: idempotent upserts, retried.

pgSTAC is the database behind the STAC API; its SQL functions (`upsert_collection`, `upsert_items`,
`delete_item`) are its documented loading interface, and upserts make every load repeatable: loading
an Item twice leaves one row, the newer content. A Collection is upserted before its Items (pgSTAC
partitions Items by Collection and refuses an Item of an unknown one).

`sync_scene` makes pgSTAC agree with S3 for one scene, whatever event announced it and in whatever
order events arrive: the Item is upserted when both it and its COG are in the bucket, and deleted
from pgSTAC otherwise (a COG deleted, or replaced and not yet described). It reads the bucket's
current state rather than trusting the event, so a late event never undoes a newer one.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import psycopg
from botocore.exceptions import ClientError

ITEM_SUFFIX = ".json"
COG_SUFFIX = ".tif"
CONNECT_TIMEOUT_SECONDS = 10
DATABASE_ATTEMPTS = 5
"""Tries of one statement when the connection fails (a database restarting, a failover, a network blip)."""
FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 8.0
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


CATALOG_TYPES = frozenset({"Catalog", "Collection"})
"""JSON documents under the output prefix that are not Items: a static catalog `imagery-archive catalog` wrote there
before the catalog documents moved to their own prefix. Not loaded, and not an error."""


class SceneChange(Enum):
    """What `sync_scene` did to the scene's row in pgSTAC."""

    UPSERTED = "upserted"
    DELETED = "deleted"
    IGNORED = "ignored (a catalog document, not an Item)"


class LoadError(Exception):
    """An Item or Collection can't be loaded as it is (not JSON, not STAC, no Collection): permanent."""


class PgstacCatalog:
    """The pgSTAC database at `dsn`, written through pgSTAC's own functions, with retries on lost connections.

    One connection, opened at once (an unreachable database fails in `CONNECT_TIMEOUT_SECONDS`, not after
    a pool's long wait), in autocommit: each statement is its own transaction.
    """

    def __init__(self, dsn: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._dsn = dsn
        self._sleep = sleep
        self._connection: psycopg.Connection[Any] | None = self._connect()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        connection.execute("SET search_path TO pgstac, public")
        return connection

    def upsert_collection(self, collection: dict[str, Any]) -> None:
        self._execute("SELECT upsert_collection(%s::jsonb)", [json.dumps(collection)])

    def upsert_items(self, items: list[dict[str, Any]]) -> None:
        """All of `items` in one statement (one transaction): each is inserted, or replaces its row."""
        if items:
            self._execute("SELECT upsert_items(%s::jsonb)", [json.dumps(items)])

    def delete_item(self, item_id: str, collection_id: str | None = None) -> None:
        """Remove the Item (from any Collection when `collection_id` is None); nothing if it isn't there.

        Plain SQL: pgSTAC's `delete_item` fails on an absent Item, and a repeated delete must succeed.
        """
        self._execute(
            "DELETE FROM items WHERE id = %s AND (%s::text IS NULL OR collection = %s)",
            [item_id, collection_id, collection_id],
        )

    def _execute(self, statement: str, args: list[Any]) -> None:
        for attempt in range(DATABASE_ATTEMPTS):
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = self._connect()
                self._connection.execute(statement, args)
                return
            except psycopg.OperationalError:
                if attempt == DATABASE_ATTEMPTS - 1:
                    raise
                self.close()
                self._sleep(min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2**attempt) * random.uniform(0.5, 1))


@dataclass
class OutputBucket:
    """The Items, COGs and Collection documents of one output bucket, read through one S3 client."""

    client: Any
    bucket: str
    prefix: str = "output/"
    _collections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def item_keys(self) -> Iterable[tuple[str, bool]]:
        """Every Item key under the prefix, and whether its COG is there, listed page by page."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            keys = {entry["Key"] for entry in page.get("Contents", [])}
            for key in sorted(keys):
                if key.endswith(ITEM_SUFFIX):
                    cog = f"{key.removesuffix(ITEM_SUFFIX)}{COG_SUFFIX}"
                    yield key, cog in keys or self.exists(cog)  # a COG may be listed on the next page

    def read_json(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The JSON document at `key`; None if there is none. `LoadError` if it isn't a JSON object."""
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise
        try:
            document = json.loads(body)
        except json.JSONDecodeError as error:
            raise LoadError(f"s3://{bucket}/{key} is not JSON: {error}") from None
        if not isinstance(document, dict):
            raise LoadError(f"s3://{bucket}/{key} is not a JSON object")
        return document

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                return False
            raise
        return True

    def collection_of(self, item: dict[str, Any], where: str) -> dict[str, Any]:
        """The Collection document the Item's `collection` link names (read once per Collection)."""
        link = next((link["href"] for link in item.get("links", []) if link.get("rel") == "collection"), None)
        if not item.get("collection") or not link or not link.startswith("s3://"):
            raise LoadError(f"{where} names no Collection with an s3:// link (an Item written before Collections)")
        if link not in self._collections:
            bucket, _, key = link.removeprefix("s3://").partition("/")
            collection = self.read_json(bucket, key)
            if collection is None or collection.get("type") != "Collection":
                raise LoadError(f"{where}: its Collection {link} is missing or not a Collection")
            self._collections[link] = collection
        return self._collections[link]


def item_id_of(key: str, prefix: str) -> str:
    """The id the function gives the Item at `key`: its key below the prefix, without '.json'."""
    return key.removeprefix(prefix).removesuffix(ITEM_SUFFIX)


def sync_scene(bucket: OutputBucket, catalog: PgstacCatalog, key: str) -> SceneChange:
    """Make pgSTAC agree with the bucket for the scene of `key` (its COG or its Item); see the module docstring."""
    stem = key.removesuffix(COG_SUFFIX).removesuffix(ITEM_SUFFIX)
    item_key = f"{stem}{ITEM_SUFFIX}"
    item = bucket.read_json(bucket.bucket, item_key)
    if item is None or not bucket.exists(f"{stem}{COG_SUFFIX}"):
        catalog.delete_item(item["id"] if item else item_id_of(item_key, bucket.prefix))
        return SceneChange.DELETED
    where = f"s3://{bucket.bucket}/{item_key}"
    if item.get("type") in CATALOG_TYPES:
        return SceneChange.IGNORED
    if item.get("type") != "Feature":
        raise LoadError(f"{where} is not a STAC Item")
    catalog.upsert_collection(bucket.collection_of(item, where))
    catalog.upsert_items([item])
    return SceneChange.UPSERTED
