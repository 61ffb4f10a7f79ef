"""Versioned input buckets and pinned reads: exactly the version that was archived is the one deleted.

In a versioned bucket a plain DeleteObject only adds a delete marker, and the original stays there,
billed in S3 Standard. And between HeadObject and the read, a user can replace the object: the COG
must never be made of bytes other than those whose lineage it records.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

from imagery_archive.archiving.steps import archive_object
from imagery_archive.entrypoints.pipeline import event_object
from imagery_archive.errors import SourceChangedError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from imagery_archive_cli.local.events import object_created_event, object_created_record
from imagery_archive_cli.local.function import LambdaContext
from tests.support.function import cold_start
from tests.support.paths import SAMPLES

COMPRESS = partial(compress, profile=CompressionProfile())


@pytest.fixture
def versioned(buckets):
    buckets.client.put_bucket_versioning(Bucket=buckets.input, VersioningConfiguration={"Status": "Enabled"})
    return buckets


def put(buckets, key: str, sample: str) -> str:
    """Upload a sample; returns the version S3 gave it."""
    body = (SAMPLES / sample).read_bytes()
    return buckets.client.put_object(Bucket=buckets.input, Key=key, Body=body)["VersionId"]


def versions(buckets, key: str) -> tuple[list[str], list[str]]:
    """(object versions, delete markers) of `key` in the input bucket."""
    listing = buckets.client.list_object_versions(Bucket=buckets.input, Prefix=key)
    return (
        [item["VersionId"] for item in listing.get("Versions", [])],
        [item["VersionId"] for item in listing.get("DeleteMarkers", [])],
    )


def run(buckets, source: ObjectLocation, work_dir: Path, compress_image=COMPRESS):
    return archive_object(
        source, ImageryStore(buckets.client), Destinations(buckets.output), compress_image, str(work_dir)
    )


def archived_bytes_equal(buckets, key: str, sample: str) -> bool:
    archived = buckets.client.head_object(Bucket=buckets.output, Key=f"archive/{key}")
    return archived["ContentLength"] == (SAMPLES / sample).stat().st_size


def test_the_archived_version_is_deleted_for_good_not_hidden_behind_a_delete_marker(versioned, tmp_path):
    version = put(versioned, "scene.tif", "shade.tif")
    report = run(versioned, ObjectLocation(versioned.input, "scene.tif", version), tmp_path)
    assert report.outcome == "archived"
    assert versions(versioned, "scene.tif") == ([], []), "no version left, and no delete marker billing on"


def test_an_older_version_named_by_its_event_is_the_one_archived_and_deleted(versioned, tmp_path):
    first = put(versioned, "scene.tif", "shade.tif")
    second = put(versioned, "scene.tif", "RGB.byte.tif")
    report = run(versioned, ObjectLocation(versioned.input, "scene.tif", first), tmp_path)
    assert report.outcome == "archived"
    assert archived_bytes_equal(versioned, "scene.tif", "shade.tif"), "the event's version, not the newest, is archived"
    meta = versioned.client.head_object(Bucket=versioned.output, Key="output/scene.tif")["Metadata"]
    assert int(meta["source-size"]) == (SAMPLES / "shade.tif").stat().st_size
    assert versions(versioned, "scene.tif") == ([second], []), "the newer upload is left alone, untouched"


def test_without_a_version_in_the_event_the_current_version_is_pinned_and_deleted(versioned, tmp_path):
    older = put(versioned, "scene.tif", "RGB.byte.tif")
    put(versioned, "scene.tif", "shade.tif")
    report = run(versioned, ObjectLocation(versioned.input, "scene.tif"), tmp_path)
    assert report.outcome == "archived"
    assert archived_bytes_equal(versioned, "scene.tif", "shade.tif")
    assert versions(versioned, "scene.tif") == ([older], []), "only the archived version goes, for good"


def test_an_object_replaced_between_inspection_and_read_is_never_compressed(buckets, tmp_path):
    buckets.client.put_object(Bucket=buckets.input, Key="scene.tif", Body=(SAMPLES / "shade.tif").read_bytes())

    def replace_after_inspection(**_):
        buckets.client.meta.events.unregister("after-call.s3.HeadObject", replace_after_inspection)
        body = (SAMPLES / "RGB.byte.tif").read_bytes()
        buckets.client.put_object(Bucket=buckets.input, Key="scene.tif", Body=body)

    def must_not_compress(*_, **__):
        raise AssertionError("bytes other than the inspected ones were read")

    buckets.client.meta.events.register("after-call.s3.HeadObject", replace_after_inspection)
    with pytest.raises(SourceChangedError, match="replaced before it could be read"):
        run(buckets, ObjectLocation(buckets.input, "scene.tif"), tmp_path, compress_image=must_not_compress)
    stored = buckets.client.get_object(Bucket=buckets.input, Key="scene.tif")["Body"].read()
    assert stored == (SAMPLES / "RGB.byte.tif").read_bytes(), "the new upload stays, for its own event"
    assert buckets.keys(buckets.output) == [], "nothing published or archived under the old lineage"
    assert list(tmp_path.iterdir()) == []


def test_the_handler_reads_the_version_an_event_names(versioned, tmp_path, monkeypatch):
    first = put(versioned, "d/scene one.tif", "shade.tif")
    second = put(versioned, "d/scene one.tif", "RGB.byte.tif")
    function = cold_start(monkeypatch, OUTPUT_BUCKET=versioned.output, CPL_TMPDIR=str(tmp_path))
    size = (SAMPLES / "shade.tif").stat().st_size
    record = object_created_record(versioned.input, "d/scene one.tif", size, "etag", version_id=first)
    assert event_object(S3EventRecord(record)) == ObjectLocation(versioned.input, "d/scene one.tif", first)

    response = function.handler(object_created_event([record]), LambdaContext())
    assert [item["outcome"] for item in response["results"]] == ["archived"]
    assert versions(versioned, "d/scene one.tif") == ([second], [])
