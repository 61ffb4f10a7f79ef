"""Publishing a scene's STAC Item and thumbnail beside its COG: the job's last write before the delete.

When: after the archived original is verified, before the original is deleted. The Item states
where the original is archived, in which class and with which SHA-256, so it is written only once
that is true; and since it precedes the delete, every deleted original has its Item. A crash in
between leaves the original in place, and the next delivery writes the Item again (the same
content, but for its `created` time) before deleting.

Idempotent like the rest of the job: the Item and thumbnail carry the original's ETag as
`source-etag`; a delivery that reuses a published COG skips an Item already written for this
version, and otherwise downloads the COG to describe it. Knows no GDAL: `describe` is passed in.

Each Item names its Collection (`Destinations.collection_for` its upload's key) and grows that
Collection's extent first (`collection_writer`), so the Collection always covers every written Item.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from imagery_archive.catalogue.collection_writer import add_to_collection
from imagery_archive.catalogue.scene_facts import (
    ITEM_CONTENT_TYPE,
    THUMBNAIL_CONTENT_TYPE,
    CatalogLinks,
    DescribeScene,
    SceneFacts,
    item_location,
    thumbnail_location,
)
from imagery_archive.errors import SourceChangedError, WriteConflictError
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import CONDITIONAL_WRITE_ATTEMPTS, ImageryStore, StoredObject, WriteCondition


def publish_scene(
    output: ObjectLocation,
    archived_copy: ObjectLocation,
    original: StoredObject,
    compressed: Path | None,
    cog_metadata: Mapping[str, str] | None,
    scratch: Path,
    store: ImageryStore,
    destinations: Destinations,
    describe: DescribeScene,
) -> None:
    """Write `output`'s Item and thumbnail; `compressed` is None when an earlier COG was reused."""
    version = {"source-etag": original.etag.strip('"')}
    item_at = item_location(output)
    if compressed is None or cog_metadata is None:
        existing = store.head(item_at)
        if existing is not None and existing.metadata.get("source-etag") == version["source-etag"]:
            return
        published = store.head(output)
        if published is None:
            raise SourceChangedError(f"{output} disappeared before its STAC Item could be written")
        compressed = scratch / "published.tif"
        store.download(output, published, compressed)
        cog_metadata = published.metadata
    facts = SceneFacts.from_cog_metadata(
        cog_metadata,
        output,
        destinations.output_prefix,
        archived_copy,
        destinations.storage_class,
        original.last_modified,
    )
    facts = replace(facts, links=CatalogLinks.of(item_at, facts.uploaded_from.key, destinations))
    files = describe(compressed, facts, scratch)
    _check_cog_is_ours(output, version, store)
    add_to_collection(json.loads(files.item.read_text()), store, destinations)
    _write_beside(files.thumbnail, thumbnail_location(output), version, THUMBNAIL_CONTENT_TYPE, store)
    _write_beside(files.item, item_at, version, ITEM_CONTENT_TYPE, store)


def _check_cog_is_ours(output: ObjectLocation, version: Mapping[str, str], store: ImageryStore) -> None:
    """`SourceChangedError` if `output` no longer holds the COG of this version: a newer upload's run
    published over it, and its own Item and thumbnail must not be replaced by this run's."""
    cog = store.head(output)
    if cog is None or cog.metadata.get("source-etag") != version["source-etag"]:
        raise SourceChangedError(f"{output} was replaced by another upload's COG; its STAC Item is left to that run")


def _write_beside(
    path: Path, location: ObjectLocation, version: Mapping[str, str], content_type: str, store: ImageryStore
) -> None:
    """Write `path` over what is at `location` now and nothing newer (a conditional write); if another run
    wrote there meanwhile, it is accepted if it describes this very version, else written over again."""
    for attempt in range(1, CONDITIONAL_WRITE_ATTEMPTS + 1):
        there = store.head(location)
        if attempt > 1 and there is not None and there.metadata.get("source-etag") == version["source-etag"]:
            return
        try:
            store.upload(path, location, version, content_type, WriteCondition.over(there))
            return
        except WriteConflictError:
            if attempt == CONDITIONAL_WRITE_ATTEMPTS:
                raise
