"""Publishing a scene's STAC Item and thumbnail beside its COG: the job's last write before the delete.

When: built (`scene_files`) while the COG uploads; written (`publish_scene`) after the archived original is
verified, before the original is deleted. The Item states
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from imagery_archive.catalogue.collection_writer import add_to_collection
from imagery_archive.catalogue.scene_facts import (
    ITEM_CONTENT_TYPE,
    THUMBNAIL_CONTENT_TYPE,
    CatalogLinks,
    DescribeScene,
    SceneFacts,
    SceneFiles,
    item_location,
    thumbnail_location,
)
from imagery_archive.errors import SourceChangedError, WriteConflictError
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import CONDITIONAL_WRITE_ATTEMPTS, ImageryStore, StoredObject, WriteCondition


def scene_files(
    output: ObjectLocation,
    archived_copy: ObjectLocation,
    original: StoredObject,
    compressed: Path,
    cog_metadata: Mapping[str, str],
    destinations: Destinations,
    describe: DescribeScene,
) -> SceneFiles:
    """The Item and thumbnail of the local COG `compressed`, which goes to `output`, written beside it.

    Writes nothing to S3, so the job builds them while the COG uploads and the archive copy is verified.
    """
    facts = SceneFacts.from_cog_metadata(
        cog_metadata,
        output,
        destinations.output_prefix,
        archived_copy,
        destinations.storage_class,
        original.last_modified,
    )
    facts = replace(facts, links=CatalogLinks.of(item_location(output), facts.uploaded_from.key, destinations))
    return describe(compressed, facts, compressed.parent)


def publish_scene(
    output: ObjectLocation, original: StoredObject, files: SceneFiles, store: ImageryStore, destinations: Destinations
) -> None:
    """Write `output`'s Item and thumbnail (`scene_files`), unless `output` no longer holds this version's COG.

    The Collection grows, and the thumbnail is written, at once; the Item last, so whoever finds it finds
    its Collection covering it and its thumbnail in place.
    """
    version = _version_of(original)
    _check_cog_is_ours(output, version, store)
    item = json.loads(files.item.read_text())
    with ThreadPoolExecutor(1) as helper:
        thumbnail = helper.submit(
            _write_beside, files.thumbnail, thumbnail_location(output), version, THUMBNAIL_CONTENT_TYPE, store
        )
        add_to_collection(item, store, destinations)
        thumbnail.result()
    _write_beside(files.item, item_location(output), version, ITEM_CONTENT_TYPE, store)


def publish_reused_scene(
    output: ObjectLocation,
    archived_copy: ObjectLocation,
    original: StoredObject,
    scratch: Path,
    store: ImageryStore,
    destinations: Destinations,
    describe: DescribeScene,
) -> None:
    """Write the Item and thumbnail of a COG an earlier delivery published, unless its Item for this version
    is already there: the COG is downloaded to `scratch` and described from its own metadata."""
    existing = store.head(item_location(output))
    if existing is not None and existing.metadata.get("source-etag") == _version_of(original)["source-etag"]:
        return
    published = store.head(output)
    if published is None:
        raise SourceChangedError(f"{output} disappeared before its STAC Item could be written")
    compressed = scratch / "published.tif"
    store.download(output, published, compressed)
    files = scene_files(output, archived_copy, original, compressed, published.metadata, destinations, describe)
    publish_scene(output, original, files, store, destinations)


def _version_of(original: StoredObject) -> dict[str, str]:
    """The metadata naming the original's version, which the COG, its Item and its thumbnail carry."""
    return {"source-etag": original.etag.strip('"')}


def _check_cog_is_ours(output: ObjectLocation, version: Mapping[str, str], store: ImageryStore) -> None:
    """`SourceChangedError` if `output` no longer holds the COG of this version: a newer upload's run
    published over it, and its own Item and thumbnail must not be replaced by this run's."""
    cog = store.head(output)
    if cog is None or cog.metadata.get("source-etag") != version["source-etag"]:
        raise SourceChangedError(f"{output} was replaced by another upload's COG; its STAC Item is left to that run")


def _write_beside(
    path: Path, location: ObjectLocation, version: Mapping[str, str], content_type: str, store: ImageryStore
) -> None:
    """Write `path` at `location` if nothing is there; over what is there now and nothing newer if something is
    (a conditional write after a look); if another run wrote there meanwhile, it is accepted if it describes
    this very version, else written over again.

    A new scene's key is free: its first write needs no look.
    """
    there: StoredObject | None = None
    for attempt in range(CONDITIONAL_WRITE_ATTEMPTS + 1):
        try:
            store.upload(path, location, version, content_type, WriteCondition.over(there))
            return
        except WriteConflictError:
            if attempt == CONDITIONAL_WRITE_ATTEMPTS:
                raise
        there = store.head(location)
        if attempt > 0 and there is not None and there.metadata.get("source-etag") == version["source-etag"]:
            return
