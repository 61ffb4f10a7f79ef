"""Publishing a scene's STAC Item and thumbnail beside its COG: the job's last write before the delete.

When: after the archived original is verified, before the original is deleted. The Item states
where the original is archived, in which class and with which SHA-256, so it is written only once
that is true; and since it precedes the delete, every deleted original has its Item. A crash in
between leaves the original in place, and the next delivery writes the Item again (the same
content, but for its `created` time) before deleting.

Idempotent like the rest of the job: the Item and thumbnail carry the original's ETag as
`source-etag`; a delivery that reuses a published COG skips an Item already written for this
version, and otherwise downloads the COG to describe it. Knows no GDAL: `describe` is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from imagery_archive.catalogue.scene_facts import (
    ITEM_CONTENT_TYPE,
    THUMBNAIL_CONTENT_TYPE,
    DescribeScene,
    SceneFacts,
    item_location,
    thumbnail_location,
)
from imagery_archive.errors import SourceChangedError
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore, StoredObject


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
    files = describe(compressed, facts, scratch)
    store.upload(files.thumbnail, thumbnail_location(output), version, THUMBNAIL_CONTENT_TYPE)
    store.upload(files.item, item_at, version, ITEM_CONTENT_TYPE)
