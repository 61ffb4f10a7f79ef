"""Load an archive's existing Items, and their Collections, into a pgSTAC database (already migrated).

    imagery-archive catalog load --dsn DSN --output-bucket BUCKET [--prefix output/] [--endpoint-url URL]

For archives made before the `stacApi` option was on: lists the Items under the prefix, upserts each
Item's Collection, then the Items, in batches (the deployed loader's code: `stac_api.loading`). Running
it again changes nothing but the rows' content. An Item written before Items named a Collection is
loaded into `--collection-id` (default imagery-archive): that Collection is read from the catalog
prefix, or, if the bucket has none, built from the Items' own extent. An Item whose COG is gone is not
loaded. Exit codes: 0 every Item loaded; 1 some Item could not be loaded (each is named on stderr) or
there was none; 2 bad arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import psycopg
from botocore.exceptions import ClientError
from tqdm import tqdm

from imagery_archive.catalogue.collection import grown, new_collection
from imagery_archive.s3.keys import Destinations
from imagery_archive_cli.console import Parser, fail
from stac_api.loading import CATALOG_TYPES, LoadError, OutputBucket, PgstacCatalog

BATCH_ITEMS = 500
"""Items per upsert: one statement and one transaction each."""


@dataclass
class LoadRun:
    """What `load_archive` did: Items loaded, and every Item not loaded with why."""

    loaded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    collections: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    """Catalog documents under the prefix (a static catalog of an earlier `imagery-archive catalog`): not Items."""


@dataclass
class Adoption:
    """The Collection given to Items written before Items named one, built from them if the bucket has none."""

    destinations: Destinations
    collection: dict[str, Any] | None = None
    built: bool = False

    def adopt(self, item: dict[str, Any], bucket: OutputBucket) -> dict[str, Any]:
        """`item` with `collection` and links, the Collection grown to cover it if it is built here."""
        collection_id = self.destinations.collection_id
        at, root = self.destinations.collection(collection_id), self.destinations.root_catalog()
        if self.collection is None:
            self.collection = bucket.read_json(at.bucket, at.key)
            self.built = self.collection is None
            self.collection = self.collection or new_collection(collection_id, str(at), str(root))
        if self.built:
            self.collection = grown(self.collection, item) or self.collection
        links = [link for link in item.get("links", []) if link.get("rel") not in {"collection", "parent", "root"}]
        links += [
            {"rel": "collection", "href": str(at), "type": "application/json"},
            {"rel": "parent", "href": str(at), "type": "application/json"},
            {"rel": "root", "href": str(root), "type": "application/json"},
        ]
        return {**item, "collection": collection_id, "links": links}


def load_archive(bucket: OutputBucket, catalog: PgstacCatalog, adoption: Adoption, progress: bool = True) -> LoadRun:
    """Load every Item under `bucket`'s prefix (see the module docstring)."""
    run = LoadRun()
    with tqdm(desc="Items loaded", unit=" item", disable=not progress, file=sys.stderr) as bar:
        for batch in _batches(bucket, adoption, run):
            _load_batch(batch, bucket, catalog, adoption, run)
            bar.update(len(batch))
    if adoption.built and adoption.collection is not None:
        catalog.upsert_collection(adoption.collection)  # its final extent, over every adopted Item
    return run


def _batches(bucket: OutputBucket, adoption: Adoption, run: LoadRun) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(key, Item) batches of `BATCH_ITEMS`; unreadable Items and Items without a COG go to `run.failed`."""
    batch: list[tuple[str, dict[str, Any]]] = []
    for key, has_cog in bucket.item_keys():
        where = f"s3://{bucket.bucket}/{key}"
        try:
            item = bucket.read_json(bucket.bucket, key)
        except LoadError as error:
            run.failed.append((where, str(error)))
            continue
        if item is not None and item.get("type") in CATALOG_TYPES:
            run.skipped.append(where)
        elif item is None or item.get("type") != "Feature":
            run.failed.append((where, "not a STAC Item"))
        elif not has_cog:
            run.failed.append((where, "its COG is not in the bucket: not loaded"))
        else:
            batch.append((key, item if item.get("collection") else adoption.adopt(item, bucket)))
        if len(batch) >= BATCH_ITEMS:
            yield batch
            batch = []
    if batch:
        yield batch


def _load_batch(
    batch: list[tuple[str, dict[str, Any]]],
    bucket: OutputBucket,
    catalog: PgstacCatalog,
    adoption: Adoption,
    run: LoadRun,
) -> None:
    """Upsert the batch's Collections, then its Items; on a database error, Item by Item to name the bad ones."""
    loadable = []
    for key, item in batch:
        where = f"s3://{bucket.bucket}/{key}"
        try:
            collection = (
                adoption.collection
                if item["collection"] == adoption.destinations.collection_id and adoption.built
                else bucket.collection_of(item, where)
            )
        except LoadError as error:
            run.failed.append((where, str(error)))
            continue
        if collection is not None and collection["id"] not in run.collections:
            catalog.upsert_collection(collection)
            run.collections.add(collection["id"])
        loadable.append((where, item))
    try:
        catalog.upsert_items([item for _, item in loadable])
        run.loaded += len(loadable)
    except psycopg.Error:
        for where, item in loadable:
            try:
                catalog.upsert_items([item])
                run.loaded += 1
            except psycopg.Error as error:
                run.failed.append((where, f"pgSTAC refused it: {str(error).splitlines()[0]}"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="imagery-archive catalog load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="the pgSTAC database, e.g. postgresql://user:pw@host/postgis")
    parser.add_argument("--output-bucket", required=True, help="the bucket the function writes to")
    parser.add_argument("--prefix", default="output/", help="where the COGs and Items are (default output/)")
    parser.add_argument("--endpoint-url", help="an S3-compatible endpoint instead of AWS's")
    parser.add_argument("--catalog-prefix", default=Destinations.catalog_prefix, help="where the Collections are")
    parser.add_argument("--collection-id", default=Destinations.collection_id, help="for Items that name none")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = parser.parse_args(argv)
    if args.prefix.startswith("/") or not args.prefix.endswith("/"):
        parser.error(f"--prefix {args.prefix!r} must be relative and end with '/' (e.g. output/)")
    destinations = Destinations(
        args.output_bucket, catalog_prefix=args.catalog_prefix, collection_id=args.collection_id
    )
    client = boto3.client("s3", endpoint_url=args.endpoint_url)
    try:
        catalog = PgstacCatalog(args.dsn)
        run = load_archive(
            OutputBucket(client, args.output_bucket, args.prefix), catalog, Adoption(destinations), not args.no_progress
        )
        catalog.close()
    except psycopg.Error as error:
        fail(f"pgSTAC at the given --dsn: {str(error).splitlines()[0]}", code=1)
    except ClientError as error:
        fail(f"s3://{args.output_bucket}/{args.prefix}: {error}", code=1)
    for where, reason in run.failed:
        print(f"not loaded: {where}: {reason}", file=sys.stderr)
    skipped = f"; {len(run.skipped)} catalog document(s) skipped" if run.skipped else ""
    print(
        f"{run.loaded} Item(s) loaded into {len(run.collections)} Collection(s); {len(run.failed)} not loaded{skipped}"
    )
    return 0 if run.loaded and not run.failed else 1


if __name__ == "__main__":
    sys.exit(main())
