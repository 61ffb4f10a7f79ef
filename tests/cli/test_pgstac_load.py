"""The STAC API end to end, offline: the function's own Items loaded into a real pgSTAC (PostgreSQL + PostGIS,
migrated by pypgstac), by `imagery-archive catalog load` and by the deployed loader's handler, then found
through stac-fastapi-pgstac's app (in-process, through the Lambda handler the stack deploys).

The archive: five bundled scenes compressed by the function into three Collections (by upload prefix), one
Item rewritten as an Item made before Items named a Collection. Expected search results come from where
and when each scene is (its corners and its own acquisition time), not from the code under test.
"""

from __future__ import annotations

import importlib
import json
import uuid
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from pypgstac.db import PgstacDB

from imagery_archive.archiving.steps import archive_object
from imagery_archive.catalogue.item import describe_scene
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from imagery_archive_cli.catalogue import catalog_load
from stac_api.loader_handler import Loader
from stac_api.settings import DatabaseSettings, LoaderSettings
from tests.support.paths import SAMPLES

SCENES = {
    # upload key: (sample, where it is, when it was taken)
    "aerial/tibet.ntf": ("nitf_jitc_U_1001A_aerial_8bit.ntf", "85.0-86.0E 32.4-33.2N", "1993-03-25"),
    "aerial/mojave.ntf": ("nitf_spot_cib_palette.ntf", "117.1-116.9W 35.5-35.6N", "1995-03-31"),
    "sar/india.tif": ("sentinel1_grd_gcps.tif", "75.6-78.2E 9.2-11.2N", "2018-07-16"),
    "misc/new_zealand.tif": ("alpha.tif", "175.0E 39.5S", "the upload time"),
    "old/colorado.tif": ("shade.tif", "106.5W 39.6N", "the upload time"),
}
COLLECTIONS = (("aerial/", "aerial"), ("sar/", "sar"))


def archive_made_by_the_function(endpoint: str, work_dir: Path) -> tuple[Any, str]:
    """The output bucket after the function ran on every scene; 'old/colorado' rewritten as a pre-Collection Item."""
    client = boto3.client("s3", endpoint_url=endpoint)
    suffix = uuid.uuid4().hex[:8]
    source_bucket, output_bucket = f"pgstac-in-{suffix}", f"pgstac-out-{suffix}"
    client.create_bucket(Bucket=source_bucket)
    client.create_bucket(Bucket=output_bucket)
    destinations = Destinations(output_bucket, collections_by_prefix=COLLECTIONS)
    store = ImageryStore(client)
    for number, (key, (sample, _where, _when)) in enumerate(SCENES.items()):
        client.put_object(Bucket=source_bucket, Key=key, Body=(SAMPLES / sample).read_bytes())
        scratch = work_dir / str(number)
        scratch.mkdir()
        compressor = partial(compress, profile=CompressionProfile())
        location = ObjectLocation(source_bucket, key)
        archive_object(location, store, destinations, compressor, str(scratch), describe_scene=describe_scene)
    old = json.loads(client.get_object(Bucket=output_bucket, Key="output/old/colorado.json")["Body"].read())
    del old["collection"]
    old["links"] = []
    client.put_object(Bucket=output_bucket, Key="output/old/colorado.json", Body=json.dumps(old).encode())
    return client, output_bucket


@pytest.fixture(scope="module")
def archive(s3_endpoint, tmp_path_factory) -> tuple[Any, str]:
    return archive_made_by_the_function(s3_endpoint, tmp_path_factory.mktemp("pgstac-archive"))


def rows(dsn: str) -> dict[str, str]:
    """Item id -> Collection id, as pgSTAC holds them."""
    with PgstacDB(dsn=dsn) as db:
        return dict(db.connect().execute("SELECT id, collection FROM items ORDER BY id").fetchall())


def load(archive, dsn: str, endpoint: str) -> int:
    _client, bucket = archive
    return catalog_load.main(["--dsn", dsn, "--output-bucket", bucket, "--endpoint-url", endpoint, "--no-progress"])


EXPECTED_ROWS = {
    "aerial/tibet": "aerial",
    "aerial/mojave": "aerial",
    "sar/india": "sar",
    "misc/new_zealand": "imagery-archive",
    "old/colorado": "imagery-archive",
}


def test_the_load_command_loads_every_item_and_its_collection_idempotently(archive, pgstac_dsn, s3_endpoint, capsys):
    assert load(archive, pgstac_dsn, s3_endpoint) == 0
    assert rows(pgstac_dsn) == EXPECTED_ROWS, "every Item, in the Collection it names (or the default one)"
    assert "5 Item(s) loaded into 3 Collection(s); 0 not loaded" in capsys.readouterr().out
    assert load(archive, pgstac_dsn, s3_endpoint) == 0, "a second run is harmless"
    assert rows(pgstac_dsn) == EXPECTED_ROWS, "and leaves one row per Item"
    with PgstacDB(dsn=pgstac_dsn) as db:
        collections = dict(db.connect().execute("SELECT id, content->'extent' FROM collections").fetchall())
    assert sorted(collections) == ["aerial", "imagery-archive", "sar"]
    west, south, east, north = collections["sar"]["spatial"]["bbox"][0]
    assert (75 < west < 76, 9 < south < 10, 78 < east < 79, 11 < north < 12) == (True,) * 4


def test_the_load_command_fails_naming_an_item_it_could_not_load(archive, pgstac_dsn, s3_endpoint, capsys):
    client, bucket = archive
    client.put_object(Bucket=bucket, Key="output/misc/broken.json", Body=b"{not json")
    try:
        assert load(archive, pgstac_dsn, s3_endpoint) == 1
    finally:
        client.delete_object(Bucket=bucket, Key="output/misc/broken.json")
    captured = capsys.readouterr()
    assert f"not loaded: s3://{bucket}/output/misc/broken.json: s3://{bucket}/output/misc/broken.json is not JSON" in (
        captured.err
    )
    assert "5 Item(s) loaded" in captured.out, "the others still load"


def test_a_static_catalog_an_earlier_catalog_tool_wrote_under_the_prefix_is_skipped(
    archive, pgstac_dsn, s3_endpoint, capsys
):
    client, bucket = archive
    legacy = {"type": "Catalog", "id": "old", "stac_version": "1.1.0", "description": "d", "links": []}
    client.put_object(Bucket=bucket, Key="output/catalog.json", Body=json.dumps(legacy).encode())
    try:
        assert load(archive, pgstac_dsn, s3_endpoint) == 0, "not an Item, not a failure"
    finally:
        client.delete_object(Bucket=bucket, Key="output/catalog.json")
    assert "5 Item(s) loaded into 3 Collection(s); 0 not loaded; 1 catalog document(s) skipped" in (
        capsys.readouterr().out
    )


def test_an_archive_made_before_collections_gets_one_built_from_its_items(archive, pgstac_dsn, s3_endpoint):
    """No catalog documents at all, Items naming no Collection: the default Collection is built from their extent."""
    client, bucket = archive
    older = f"pgstac-older-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=older)
    for suffix in (".json", ".tif"):
        source = {"Bucket": bucket, "Key": f"output/old/colorado{suffix}"}
        client.copy_object(CopySource=source, Bucket=older, Key=f"output/old/colorado{suffix}")
    code = catalog_load.main(["--dsn", pgstac_dsn, "--output-bucket", older, "--endpoint-url", s3_endpoint])
    assert code == 0
    assert rows(pgstac_dsn) == {"old/colorado": "imagery-archive"}
    with PgstacDB(dsn=pgstac_dsn) as db:
        (extent,) = db.connect().execute("SELECT content->'extent' FROM collections").fetchone()
    item = json.loads(client.get_object(Bucket=older, Key="output/old/colorado.json")["Body"].read())
    assert extent["spatial"]["bbox"] == [item["bbox"]], "the extent of the Items it was built from"


def test_an_unreachable_database_is_one_line_and_exit_1(archive, s3_endpoint, capsys):
    with pytest.raises(SystemExit) as stopped:
        load(archive, "postgresql://nobody@127.0.0.1:1/none", s3_endpoint)
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("error: pgSTAC at the given --dsn: ")
    assert len(error.strip().splitlines()) == 1, "one line, no traceback"


# --- the deployed loader: S3 events through SQS ----------------------------------------------------


def sqs_event(bucket: str, key: str, event_name: str) -> dict[str, Any]:
    record = {"eventName": event_name, "s3": {"bucket": {"name": bucket}, "object": {"key": key.replace(" ", "+")}}}
    return {"Records": [{"messageId": str(uuid.uuid4()), "body": json.dumps({"Records": [record]})}]}


def test_the_loader_follows_the_bucket_whatever_the_order_of_events(archive, pgstac_dsn, s3_endpoint):
    client, bucket = archive
    loader = Loader(LoaderSettings(DatabaseSettings.from_env({"PGSTAC_DSN": pgstac_dsn})), s3=client)
    created = sqs_event(bucket, "output/misc/new_zealand.json", "ObjectCreated:Put")
    assert loader.handle(created) == {"batchItemFailures": []}
    assert rows(pgstac_dsn) == {"misc/new_zealand": "imagery-archive"}
    assert loader.handle(created) == {"batchItemFailures": []}, "a redelivery is harmless"
    cog = client.get_object(Bucket=bucket, Key="output/misc/new_zealand.tif")["Body"].read()
    client.delete_object(Bucket=bucket, Key="output/misc/new_zealand.tif")
    try:
        assert loader.handle(sqs_event(bucket, "output/misc/new_zealand.tif", "ObjectRemoved:Delete")) == {
            "batchItemFailures": []
        }
        assert rows(pgstac_dsn) == {}, "a deleted COG's Item leaves the API"
        assert loader.handle(created) == {"batchItemFailures": []}
        assert rows(pgstac_dsn) == {}, "a late ObjectCreated event doesn't bring back an Item whose COG is gone"
    finally:
        client.put_object(Bucket=bucket, Key="output/misc/new_zealand.tif", Body=cog)
    assert loader.handle(sqs_event(bucket, "output/misc/new_zealand.tif", "ObjectCreated:Put")) == {
        "batchItemFailures": []
    }
    assert rows(pgstac_dsn) == {"misc/new_zealand": "imagery-archive"}, "a replaced COG's Item is back"
    item = json.loads(client.get_object(Bucket=bucket, Key="output/misc/new_zealand.json")["Body"].read())
    item["properties"]["imagery_archive:ssim"] = 0.5  # the Item of a replacement COG, rewritten by the function
    client.put_object(Bucket=bucket, Key="output/misc/new_zealand.json", Body=json.dumps(item).encode())
    assert loader.handle(created) == {"batchItemFailures": []}
    with PgstacDB(dsn=pgstac_dsn) as db:
        (ssim,) = db.connect().execute("SELECT content->'properties'->'imagery_archive:ssim' FROM items").fetchone()
    assert ssim == 0.5, "the rewritten Item replaces the row"


def test_a_message_the_loader_cannot_sync_is_returned_for_redelivery(archive, pgstac_dsn):
    client, bucket = archive
    client.put_object(Bucket=bucket, Key="output/misc/broken.json", Body=b"{not json")
    client.put_object(Bucket=bucket, Key="output/misc/broken.tif", Body=b"II*\x00")
    loader = Loader(LoaderSettings(DatabaseSettings.from_env({"PGSTAC_DSN": pgstac_dsn})), s3=client)
    try:
        bad = sqs_event(bucket, "output/misc/broken.json", "ObjectCreated:Put")
        good = sqs_event(bucket, "output/sar/india.json", "ObjectCreated:Put")
        answer = loader.handle({"Records": bad["Records"] + good["Records"]})
    finally:
        client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": "output/misc/broken.json"}, {"Key": "output/misc/broken.tif"}]}
        )
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad["Records"][0]["messageId"]}]}
    assert rows(pgstac_dsn) == {"sar/india": "sar"}, "the other message of the batch was synced"


# --- searching through stac-fastapi-pgstac, as the deployed API Lambda serves it ---------------------


@pytest.fixture
def api(pgstac_dsn, monkeypatch):
    """The API Lambda's handler (stac_api.api_handler: stac-fastapi-pgstac behind Mangum), on the test database."""
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        monkeypatch.setenv(name, "")  # restored (removed) after the test: the module sets them
    monkeypatch.setenv("PGSTAC_DSN", pgstac_dsn)
    module = importlib.reload(importlib.import_module("stac_api.api_handler"))

    def get(path: str, **query: str) -> dict[str, Any]:
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": urlencode(query),
            "headers": {"host": "stac.example.com", "x-forwarded-proto": "https"},
            "requestContext": {
                "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                "stage": "$default",
            },
            "isBase64Encoded": False,
        }
        response = module.handler(event, None)
        assert response["statusCode"] == 200, response["body"]
        assert not response["isBase64Encoded"], "GeoJSON is answered as text"
        return json.loads(response["body"])

    return get


def found(api, **query: str) -> list[str]:
    return sorted(feature["id"] for feature in api("/search", **query)["features"])


def test_a_search_by_place_time_and_collection_returns_exactly_the_scenes_there(archive, pgstac_dsn, s3_endpoint, api):
    assert load(archive, pgstac_dsn, s3_endpoint) == 0
    assert found(api, bbox="80,30,90,35") == ["aerial/tibet"], "only the scene in Tibet"
    assert found(api, datetime="1990-01-01T00:00:00Z/2000-01-01T00:00:00Z") == ["aerial/mojave", "aerial/tibet"]
    assert found(api, bbox="-120,34,-100,40", collections="aerial") == ["aerial/mojave"], "Colorado is not aerial"
    assert found(api, bbox="-120,34,-100,40") == ["aerial/mojave", "old/colorado"]
    assert found(api, bbox="70,5,80,15", datetime="2018-07-16T00:00:00Z/2018-07-17T00:00:00Z") == ["sar/india"]
    assert found(api, collections="sar", datetime="1990-01-01T00:00:00Z/2000-01-01T00:00:00Z") == []
    collections = sorted(collection["id"] for collection in api("/collections")["collections"])
    assert collections == ["aerial", "imagery-archive", "sar"]
    india = api("/search", ids="sar/india")["features"][0]
    original = india["assets"]["original"]
    assert original["href"].startswith("s3://"), "the archived original, where S3 keeps it"
    assert original["href"].endswith("/archive/sar/india.tif")
    assert original["imagery_archive:restore_required"] is True, "what a user needs to restore it is in the result"
