"""Every Item in a Collection: the Collection chosen by the upload's prefix, grown one Item at a time with
conditional PUTs (concurrent writers lose nothing), at a key no upload can map to. All against the local
S3 server; conflicts are real (a second writer changes the document between a read and a write).
"""

from __future__ import annotations

import json
import threading
from functools import partial
from pathlib import Path

import pytest

from imagery_archive.archiving.steps import archive_object
from imagery_archive.catalogue.collection import longitude_union
from imagery_archive.catalogue.collection_writer import CONFLICT_ATTEMPTS, add_to_collection
from imagery_archive.catalogue.item import describe_scene
from imagery_archive.errors import CatalogConflictError, SettingsError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from imagery_archive.settings import FunctionSettings
from imagery_archive_cli.catalogue import catalog
from imagery_archive_cli.catalogue.stac_validation import validate
from tests.support.paths import SAMPLES

COMPRESS = partial(compress, profile=CompressionProfile())


def upload(buckets, key: str, sample: str) -> ObjectLocation:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())
    return ObjectLocation(buckets.input, key)


def stored_json(buckets, key: str) -> dict:
    return json.loads(buckets.client.get_object(Bucket=buckets.output, Key=key)["Body"].read())


def archived(buckets, key: str, sample: str, destinations: Destinations, work_dir: Path) -> None:
    source = upload(buckets, key, sample)
    store = ImageryStore(buckets.client)
    work_dir.mkdir()
    archive_object(source, store, destinations, COMPRESS, str(work_dir), describe_scene=describe_scene)


def item_at(lon_west: float, lon_east: float, when: str, collection: str = "c") -> dict:
    return {
        "collection": collection,
        "bbox": [lon_west, -18.0, lon_east, -17.0],
        "properties": {"datetime": when},
    }


def test_items_name_their_collection_chosen_by_prefix_and_link_it(buckets, tmp_path):
    destinations = Destinations(
        buckets.output, collection_id="everything-else", collections_by_prefix=(("landsat/", "landsat"),)
    )
    archived(buckets, "landsat/b4.tif", "landsat8_b4_150m.tif", destinations, tmp_path / "a")
    archived(buckets, "aerial/scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf", destinations, tmp_path / "b")
    landsat, aerial = stored_json(buckets, "output/landsat/b4.json"), stored_json(buckets, "output/aerial/scene.json")
    assert landsat["collection"] == "landsat"
    assert aerial["collection"] == "everything-else", "the stack's Collection for uploads under no listed prefix"
    out = f"s3://{buckets.output}"
    links = {link["rel"]: link["href"] for link in landsat["links"]}
    assert links == {
        "self": f"{out}/output/landsat/b4.json",
        "collection": f"{out}/catalog/collections/landsat.json",
        "parent": f"{out}/catalog/collections/landsat.json",
        "root": f"{out}/catalog/catalog.json",
    }
    for item in (landsat, aerial):
        validate(item)
    for name, item in (("landsat", landsat), ("everything-else", aerial)):
        collection = stored_json(buckets, f"catalog/collections/{name}.json")
        validate(collection)
        assert collection["extent"]["spatial"]["bbox"] == [item["bbox"]], "the extent of its one Item"
        assert collection["extent"]["temporal"]["interval"] == [[item["properties"]["datetime"]] * 2]
    root = stored_json(buckets, "catalog/catalog.json")
    validate(root)
    children = sorted(link["href"] for link in root["links"] if link["rel"] == "child")
    assert children == [f"{out}/catalog/collections/everything-else.json", f"{out}/catalog/collections/landsat.json"]


def test_an_upload_named_like_a_catalog_document_never_overwrites_it(buckets, tmp_path):
    destinations = Destinations(buckets.output, collection_id="collection")
    archived(buckets, "collection.tif", "shade.tif", destinations, tmp_path / "a")
    archived(buckets, "catalog.tif", "shade.tif", destinations, tmp_path / "b")
    assert stored_json(buckets, "output/collection.json")["type"] == "Feature", "the upload's Item, at its key"
    assert stored_json(buckets, "output/catalog.json")["type"] == "Feature"
    assert stored_json(buckets, "catalog/collections/collection.json")["type"] == "Collection"
    assert stored_json(buckets, "catalog/catalog.json")["type"] == "Catalog"
    assert destinations.is_pipeline_output(ObjectLocation(buckets.output, "catalog/catalog.json"))
    catalog.build_catalog(buckets.client, buckets.output)  # the on-demand static catalog, beside them
    assert stored_json(buckets, "output/collection.json")["type"] == "Feature", "still the upload's Item"
    assert stored_json(buckets, "catalog/static/output/collection.json")["type"] == "Collection"


def test_concurrent_writers_each_widen_the_extent_and_none_is_lost(buckets):
    destinations = Destinations(buckets.output)
    items = [item_at(10.0 * i, 10.0 * i + 1, f"2024-01-{i + 1:02d}T00:00:00Z") for i in range(8)]
    store = ImageryStore(buckets.client)
    threads = [threading.Thread(target=add_to_collection, args=(item, store, destinations)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    collection = stored_json(buckets, "catalog/collections/c.json")
    assert collection["extent"]["spatial"]["bbox"] == [[0.0, -18.0, 71.0, -17.0]], "every writer's scene covered"
    assert collection["extent"]["temporal"]["interval"] == [["2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"]]


def test_a_write_that_loses_the_race_reads_again_and_keeps_both(buckets):
    """Between this writer's read and its PUT, another writer grows the Collection: the PUT is refused (412)."""
    destinations = Destinations(buckets.output)
    store = ImageryStore(buckets.client)
    add_to_collection(item_at(0, 1, "2024-01-01T00:00:00Z"), store, destinations)
    other_store = ImageryStore(buckets.client)
    raced = []

    def another_writer_first(**_kwargs) -> None:
        if not raced:
            raced.append(True)
            add_to_collection(item_at(50, 51, "2024-06-01T00:00:00Z"), other_store, destinations)

    buckets.client.meta.events.register("before-call.s3.PutObject", another_writer_first)
    pauses: list[float] = []
    try:
        add_to_collection(item_at(-20, -19, "2023-01-01T00:00:00Z"), store, destinations, sleep=pauses.append)
    finally:
        buckets.client.meta.events.unregister("before-call.s3.PutObject", another_writer_first)
    assert len(pauses) == 1, "one lost race, one pause, then a fresh read"
    collection = stored_json(buckets, "catalog/collections/c.json")
    assert collection["extent"]["spatial"]["bbox"] == [[-20.0, -18.0, 51.0, -17.0]]
    assert collection["extent"]["temporal"]["interval"] == [["2023-01-01T00:00:00Z", "2024-06-01T00:00:00Z"]]


def test_a_writer_that_always_loses_raises_a_transient_error(buckets):
    destinations = Destinations(buckets.output)
    store = ImageryStore(buckets.client)
    add_to_collection(item_at(0, 1, "2024-01-01T00:00:00Z"), store, destinations)
    counter = iter(range(1000))

    def another_writer_every_time(**_kwargs) -> None:
        buckets.client.meta.events.unregister("before-call.s3.PutObject", another_writer_every_time)
        later = f"2025-01-01T00:00:{next(counter):02d}Z"  # each one widens the extent: a real write every time
        add_to_collection(item_at(0, 1, later), store, destinations)
        buckets.client.meta.events.register("before-call.s3.PutObject", another_writer_every_time)

    buckets.client.meta.events.register("before-call.s3.PutObject", another_writer_every_time)
    try:
        with pytest.raises(CatalogConflictError, match=r"catalog/collections/c\.json"):
            add_to_collection(item_at(-50, -49, "2024-01-01T00:00:00Z"), store, destinations, sleep=lambda _: None)
    finally:
        buckets.client.meta.events.unregister("before-call.s3.PutObject", another_writer_every_time)
    assert next(counter) == CONFLICT_ATTEMPTS


def test_an_item_inside_the_extent_writes_nothing(buckets):
    destinations = Destinations(buckets.output)
    store = ImageryStore(buckets.client)
    add_to_collection(item_at(0, 10, "2024-01-01T00:00:00Z"), store, destinations)
    add_to_collection(item_at(0, 10, "2024-02-01T00:00:00Z"), store, destinations)
    before = buckets.client.head_object(Bucket=buckets.output, Key="catalog/collections/c.json")["ETag"]
    add_to_collection(item_at(2, 3, "2024-01-15T00:00:00Z"), store, destinations)
    after = buckets.client.head_object(Bucket=buckets.output, Key="catalog/collections/c.json")["ETag"]
    assert before == after, "no PUT for an Item the Collection already covers"


@pytest.mark.parametrize(
    ("first", "second", "union"),
    [
        ((0, 10), (20, 30), (0, 30)),
        ((179, -179), (170, 175), (170, -179)),  # across 180: west > east
        ((170, 175), (-175, -170), (170, -170)),  # the short way is across 180
        ((-10, 10), (-5, 5), (-10, 10)),
        ((-180, 180), (10, 20), (-180, 180)),
        ((-170, 170), (160, -160), (-180, 180)),  # together they go round the globe
    ],
)
def test_the_extent_takes_the_shortest_arc_of_longitudes(first, second, union):
    assert longitude_union(first, second) == union


def test_collection_settings_are_read_from_the_environment():
    settings = FunctionSettings.from_env(
        {"OUTPUT_BUCKET": "out", "STAC_COLLECTION": "archive-1", "STAC_COLLECTIONS": "landsat/=landsat,s2/l2a/=s2-l2a"}
    )
    destinations = settings.destinations
    assert destinations.collection_for("s2/l2a/tile.jp2") == "s2-l2a"
    assert destinations.collection_for("landsat/x.tif") == "landsat"
    assert destinations.collection_for("other/x.tif") == "archive-1"
    for name, value in (("STAC_COLLECTION", "has space"), ("STAC_COLLECTIONS", "landsat/"), ("CATALOG_PREFIX", "c")):
        with pytest.raises(SettingsError, match=name):
            FunctionSettings.from_env({"OUTPUT_BUCKET": "out", name: value})
