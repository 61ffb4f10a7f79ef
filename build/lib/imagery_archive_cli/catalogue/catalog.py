"""A static STAC catalog of the output bucket: one Collection of every Item the function wrote.

    imagery-archive catalog --output-bucket B [--prefix output/] [--out DIR] [--collection-id ID]

Reads the Items under the prefix (each `scene.json` beside its `scene.tif`), validates every one
offline, and writes `catalog.json` (the root) and `collection.json` (extent from the Items,
summaries of encodings, archive classes and projections) at the prefix, linking the Items where
they are: the function stays the only writer of Items. With `--out DIR` the catalog goes to a
folder instead, with a copy of each Item and thumbnail (their `data` asset then points at the COG
in the bucket), to browse offline. Everything written is validated before it is written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pystac
from botocore.exceptions import ClientError

from imagery_archive.catalogue.scene_facts import FIELD_PREFIX, ITEM_CONTENT_TYPE
from imagery_archive.settings import SERVICE_NAME
from imagery_archive_cli.catalogue.stac_validation import validate
from imagery_archive_cli.console import Parser, fail

CATALOG_FILE = "catalog.json"
COLLECTION_FILE = "collection.json"
SUMMARIZED_PROPERTIES = (f"{FIELD_PREFIX}encoding", "proj:code")
SUMMARIZED_ORIGINAL_FIELDS = (f"{FIELD_PREFIX}storage_class",)


@dataclass(frozen=True)
class CatalogRun:
    """What `build_catalog` wrote, for the summary line and the tests."""

    root: str
    items: int
    cogs_without_item: list[str]
    collection: dict[str, Any]


def build_catalog(
    client: Any,
    bucket: str,
    prefix: str = "output/",
    out_dir: Path | None = None,
    collection_id: str = SERVICE_NAME,
) -> CatalogRun:
    """Read, validate, link and write (see the module docstring); raises `CatalogError` on a bad Item."""
    keys = _listing(client, bucket, prefix)
    own = {f"{prefix}{CATALOG_FILE}", f"{prefix}{COLLECTION_FILE}"}
    item_keys = [key for key in keys if key.endswith(".json") and key not in own]
    items = {key: _read_item(client, bucket, key) for key in item_keys}
    if not items:
        raise CatalogError(f"no STAC Items under s3://{bucket}/{prefix}: nothing to catalog")
    described = {key.removesuffix(".json") for key in items}
    orphans = [key for key in keys if key.endswith(".tif") and key.removesuffix(".tif") not in described]
    base = f"{out_dir.resolve()}/" if out_dir else f"s3://{bucket}/{prefix}"
    catalog, collection = _linked(items, prefix, base, collection_id, f"s3://{bucket}/{prefix}")
    documents = {
        CATALOG_FILE: catalog.to_dict(include_self_link=False),
        COLLECTION_FILE: collection.to_dict(include_self_link=False),
    }
    for name, document in documents.items():
        validate(document, href=f"{base}{name}")
    if out_dir:
        _write_folder(client, bucket, prefix, out_dir, documents, items)
    else:
        for name, document in documents.items():
            body = json.dumps(document, indent=1).encode()
            client.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=body, ContentType="application/json")
    return CatalogRun(f"{base}{CATALOG_FILE}", len(items), orphans, documents[COLLECTION_FILE])


class CatalogError(Exception):
    """An Item can't be read or isn't valid STAC, or there is nothing to catalog."""


def _listing(client: Any, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _read_item(client: Any, bucket: str, key: str) -> dict[str, Any]:
    """The Item at `key`, validated against core STAC and its extensions."""
    where = f"s3://{bucket}/{key}"
    try:
        document = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except json.JSONDecodeError as error:
        raise CatalogError(f"{where} is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("type") != "Feature":
        raise CatalogError(f"{where} is not a STAC Item (its type is not 'Feature')")
    try:
        validate(document, href=where)
    except (pystac.STACValidationError, pystac.STACTypeError) as error:
        raise CatalogError(f"{where} is not a valid STAC Item: {str(error).splitlines()[-1]}") from None
    return document


def _linked(
    items: dict[str, dict[str, Any]], prefix: str, base: str, collection_id: str, location: str
) -> tuple[pystac.Catalog, pystac.Collection]:
    """The root Catalog and its Collection, linking every Item at its own href below `base`."""
    catalog = pystac.Catalog(
        id=f"{collection_id}-catalog",
        description=f"Compressed imagery and its archived originals in {location}",
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    collection = pystac.Collection(
        id=collection_id,
        description=f"Cloud Optimized GeoTIFFs written by {SERVICE_NAME}; each Item's 'original' asset is the "
        "untouched upload, archived (restore it before reading if its class says so)",
        extent=_extent(list(items.values())),
        license="other",
        summaries=pystac.Summaries(_summaries(list(items.values()))),
    )
    catalog.set_self_href(f"{base}{CATALOG_FILE}")
    catalog.add_child(collection)
    collection.set_self_href(f"{base}{COLLECTION_FILE}")
    for key, document in items.items():
        href = f"{base}{key.removeprefix(prefix)}"
        collection.add_link(pystac.Link(pystac.RelType.ITEM, href, ITEM_CONTENT_TYPE, document["id"]))
    return catalog, collection


def _extent(items: list[dict[str, Any]]) -> pystac.Extent:
    """The union of the Items' bboxes (Items without a footprint don't count) and their time span."""
    boxes = [item["bbox"] for item in items if item.get("bbox")]
    spatial = (
        [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
        if boxes
        else [-180.0, -90.0, 180.0, 90.0]
    )
    times = sorted(datetime.fromisoformat(item["properties"]["datetime"]) for item in items)
    return pystac.Extent(pystac.SpatialExtent([spatial]), pystac.TemporalExtent([[times[0], times[-1]]]))


def _summaries(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Distinct encodings, archive classes and projections; the range of SSIM and compression ratios."""
    summaries: dict[str, Any] = {}
    for name in SUMMARIZED_PROPERTIES:
        summaries[name] = sorted({item["properties"].get(name) for item in items} - {None})
    for name in SUMMARIZED_ORIGINAL_FIELDS:
        summaries[name] = sorted({item["assets"]["original"].get(name) for item in items} - {None})
    for name in (f"{FIELD_PREFIX}ssim", f"{FIELD_PREFIX}compression_ratio"):
        measured = [item["properties"][name] for item in items if name in item["properties"]]
        summaries[name] = {"minimum": min(measured), "maximum": max(measured)} if measured else None
    return {name: value for name, value in summaries.items() if value}


def _write_folder(
    client: Any,
    bucket: str,
    prefix: str,
    out_dir: Path,
    documents: dict[str, dict[str, Any]],
    items: dict[str, dict[str, Any]],
) -> None:
    """The catalog, a copy of each Item (its COG referenced in the bucket) and each thumbnail, under `out_dir`."""
    for name, document in documents.items():
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(json.dumps(document, indent=1))
    for key, document in items.items():
        local = out_dir / key.removeprefix(prefix)
        local.parent.mkdir(parents=True, exist_ok=True)
        folder = key.rpartition("/")[0]
        copy = json.loads(json.dumps(document))
        data = copy["assets"].get("data")
        if data and data["href"].startswith("./"):
            data["href"] = f"s3://{bucket}/{folder}/{data['href'][2:]}"
        validate(copy, href=str(local))
        local.write_text(json.dumps(copy))
        thumbnail = document["assets"].get("thumbnail")
        if thumbnail and thumbnail["href"].startswith("./"):
            client.download_file(bucket, f"{folder}/{thumbnail['href'][2:]}", str(local.parent / thumbnail["href"][2:]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="imagery-archive catalog", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-bucket", required=True, help="the bucket the function writes to")
    parser.add_argument("--prefix", default="output/", help="where the COGs and Items are (default output/)")
    parser.add_argument("--out", type=Path, help="write the catalog to this folder instead of the bucket")
    parser.add_argument("--collection-id", default=SERVICE_NAME, help=f"the Collection's id (default {SERVICE_NAME})")
    args = parser.parse_args(argv)
    if not args.output_bucket.strip():
        parser.error("--output-bucket is empty")
    if args.prefix.startswith("/") or not args.prefix.endswith("/"):
        parser.error(f"--prefix {args.prefix!r} must be relative and end with '/' (e.g. output/2024/)")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    try:
        run = build_catalog(boto3.client("s3"), args.output_bucket, args.prefix, args.out, args.collection_id)
    except CatalogError as error:
        fail(str(error), code=1)
    except ClientError as error:
        fail(f"s3://{args.output_bucket}/{args.prefix}: {error}", code=1)
    orphans = f"; {len(run.cogs_without_item)} COG(s) without an Item" if run.cogs_without_item else ""
    print(f"Catalog of {run.items} valid Item(s) written: {run.root}{orphans}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
