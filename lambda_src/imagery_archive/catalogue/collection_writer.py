"""Adding an Item to its Collection in S3, with concurrent writers: conditional PUTs, read again on conflict.

Up to the function's reserved concurrency, invocations publish Items of one Collection at once. Each
reads the Collection and its ETag, grows it (`collection.grown`) and writes it back only if its ETag
is unchanged (`IfMatch`; `IfNoneMatch: *` to create it). A writer that lost the race reads again,
after a jittered, growing pause, so two writers never erase each other's extent. Most Items change
nothing (their scene is inside the extent already): one GET, no write. Runs before the Item itself
is written, so a crash in between leaves an extent that covers every published Item, never less.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from imagery_archive.catalogue.collection import grown, new_collection, new_root_catalog, with_child
from imagery_archive.errors import CatalogConflictError
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore

CONFLICT_ATTEMPTS = 12
"""Reads and conditional writes of one document before giving up (the object is then retried by Lambda)."""
FIRST_PAUSE_SECONDS = 0.05
LONGEST_PAUSE_SECONDS = 2.0
"""Pauses after a lost race double from the first to the longest, each a random 50-100% of that."""
CATALOG_CONTENT_TYPE = "application/json"

Change = Callable[[dict[str, Any] | None], dict[str, Any] | None]
"""The document as read (None: absent) -> the document to write, or None for no write."""


def add_to_collection(
    item: dict[str, Any], store: ImageryStore, destinations: Destinations, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Grow `item`'s Collection to cover it (creating it if needed), and list the Collection in the root Catalog."""
    collection_at = destinations.collection(item["collection"])
    root_at = destinations.root_catalog()

    def grow(current: dict[str, Any] | None) -> dict[str, Any] | None:
        collection = current or new_collection(item["collection"], str(collection_at), str(root_at))
        return grown(collection, item) or (collection if current is None else None)

    def list_collection(current: dict[str, Any] | None) -> dict[str, Any] | None:
        catalog = current or new_root_catalog(str(root_at), f"Imagery archived in s3://{destinations.bucket}")
        return with_child(catalog, str(collection_at), item["collection"]) or (catalog if current is None else None)

    if update_document(store, collection_at, grow, sleep):
        update_document(store, root_at, list_collection, sleep)


def update_document(
    store: ImageryStore, location: ObjectLocation, change: Change, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Apply `change` to the JSON document at `location` until a conditional PUT wins; True if it wrote."""
    for attempt in range(CONFLICT_ATTEMPTS):
        found = store.read_document(location)
        changed = change(json.loads(found[0]) if found else None)
        if changed is None:
            return False
        body = json.dumps(changed, indent=1).encode()
        if store.put_document(location, body, CATALOG_CONTENT_TYPE, replacing=found[1] if found else None):
            return True
        sleep(min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2**attempt) * random.uniform(0.5, 1.0))
    raise CatalogConflictError(
        f"{location} changed under every one of {CONFLICT_ATTEMPTS} conditional writes: other writers kept "
        "winning; the object will be retried"
    )
