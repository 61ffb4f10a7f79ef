"""The output bucket as a STAC catalog: the job writes an Item and thumbnail beside every COG, at the
right moment, idempotently; `imagery-archive catalog` links them into a valid static catalog, in the bucket or
in a folder. All on the local S3 endpoint, all validation offline.
"""

from __future__ import annotations

import base64
import json
import socket
from functools import partial
from pathlib import Path

import pystac
import pytest
from osgeo import gdal

from imagery_archive.archiving.steps import archive_object
from imagery_archive.catalogue.item import describe_scene
from imagery_archive.errors import ArchiveNotVerifiedError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations
from imagery_archive.s3.storage import ImageryStore, ObjectLocation
from imagery_archive_cli.catalogue import catalog
from imagery_archive_cli.catalogue.stac_validation import validate
from tests.support.faults import failing
from tests.support.paths import SAMPLES

COMPRESS = partial(compress, profile=CompressionProfile())


def upload(buckets, key: str, sample: str) -> ObjectLocation:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())
    return ObjectLocation(buckets.input, key)


def run(buckets, source: ObjectLocation, work_dir: Path, store=None, compress_image=COMPRESS):
    store = store or ImageryStore(buckets.client)
    return archive_object(
        source, store, Destinations(buckets.output), compress_image, str(work_dir), describe_scene=describe_scene
    )


def stored_json(buckets, key: str) -> dict:
    return json.loads(buckets.client.get_object(Bucket=buckets.output, Key=key)["Body"].read())


def test_the_job_writes_a_valid_item_and_thumbnail_beside_the_cog(buckets, tmp_path):
    source = upload(buckets, "d/scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    report = run(buckets, source, tmp_path)
    assert buckets.keys(buckets.output) == [
        "archive/d/scene.ntf",
        "catalog/catalog.json",
        "catalog/collections/imagery-archive.json",
        "output/d/scene.json",
        "output/d/scene.png",
        "output/d/scene.tif",
    ]
    item = stored_json(buckets, "output/d/scene.json")
    validate(item)
    archived = buckets.client.head_object(Bucket=buckets.output, Key="archive/d/scene.ntf", ChecksumMode="ENABLED")
    original = item["assets"]["original"]
    assert original["href"] == f"s3://{buckets.output}/archive/d/scene.ntf"
    assert original["type"] == "application/vnd.nitf"
    assert original["file:size"] == archived["ContentLength"]
    sha256 = bytes.fromhex(original["file:checksum"].removeprefix("1220"))
    assert sha256 == base64.b64decode(archived["ChecksumSHA256"]), "the SHA-256 S3 verified"
    assert original["imagery_archive:storage_class"] == archived["StorageClass"] == "GLACIER"
    cog = buckets.client.head_object(Bucket=buckets.output, Key="output/d/scene.tif")
    assert item["assets"]["data"]["file:size"] == cog["ContentLength"]
    assert item["properties"]["imagery_archive:ssim"] == round(report.compression.ssim, 4)
    head = buckets.client.head_object(Bucket=buckets.output, Key="output/d/scene.json")
    assert head["ContentType"] == "application/geo+json"
    thumbnail = tmp_path.parent / "thumbnail.png"
    buckets.client.download_file(buckets.output, "output/d/scene.png", str(thumbnail))
    assert gdal.Open(str(thumbnail)).GetDriver().ShortName == "PNG"
    assert "catalog" in report.seconds


def test_no_item_claims_an_archive_that_was_not_verified(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "shade.tif")
    store = ImageryStore(buckets.client)

    def copy_the_wrong_bytes(source, target, storage_class, original, checksum_algorithm, condition=None):
        buckets.client.put_object(Bucket=target.bucket, Key=target.key, Body=b"damaged", StorageClass=storage_class)

    store.copy_to_archive = copy_the_wrong_bytes
    with pytest.raises(ArchiveNotVerifiedError):
        run(buckets, source, tmp_path, store=store)
    assert "output/scene.json" not in buckets.keys(buckets.output)


def test_the_item_exists_before_the_original_is_deleted(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "worldview_pan_rpc_11bit.tif")
    with failing(buckets.client, "DeleteObject"), pytest.raises(Exception, match="SlowDown"):
        run(buckets, source, tmp_path)
    assert buckets.keys(buckets.input) == ["scene.tif"], "the original is still there"
    validate(stored_json(buckets, "output/scene.json"))


def test_a_redelivery_that_reuses_the_cog_still_leaves_a_valid_item(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "RGB.byte.tif")
    with failing(buckets.client, "DeleteObject"), pytest.raises(Exception, match="SlowDown"):
        run(buckets, source, tmp_path)
    first = stored_json(buckets, "output/scene.json")
    buckets.client.delete_object(Bucket=buckets.output, Key="output/scene.json")  # as if lost

    def must_not_compress(*_, **__):
        raise AssertionError("the COG of this version is already published")

    report = run(buckets, source, tmp_path, compress_image=must_not_compress)
    assert report.outcome == "archived"
    assert report.compression is None
    second = stored_json(buckets, "output/scene.json")
    validate(second)
    for volatile in ("created", "processing:datetime"):
        first["properties"].pop(volatile)
        second["properties"].pop(volatile)
    assert second == first, "the COG's own metadata describes it as the first delivery did"
    assert list(tmp_path.iterdir()) == []


def test_a_redelivery_keeps_an_item_already_written_for_this_version(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "shade.tif")
    with failing(buckets.client, "DeleteObject"), pytest.raises(Exception, match="SlowDown"):
        run(buckets, source, tmp_path)
    before = buckets.client.head_object(Bucket=buckets.output, Key="output/scene.json")["ETag"]
    with failing(buckets.client, "GetObject", AssertionError("the COG must not be downloaded again"), after=1):
        assert run(buckets, source, tmp_path).outcome == "archived"
    assert buckets.client.head_object(Bucket=buckets.output, Key="output/scene.json")["ETag"] == before


# --- imagery-archive catalog ---------------------------------------------------------------------------------------


@pytest.fixture
def published(buckets, tmp_path):
    """Three scenes through the job: RGB.byte.tif (JPEG), the NITF (JPEG) and the WorldView chip (LERC)."""
    for key, sample in [
        ("2024/a/RGB.byte.tif", "RGB.byte.tif"),
        ("2024/b/airfield.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf"),
        ("2025/pan.tif", "worldview_pan_rpc_11bit.tif"),
    ]:
        run(buckets, upload(buckets, key, sample), tmp_path)
    return buckets


def test_the_catalog_in_the_bucket_links_every_item_and_is_valid(published):
    run_ = catalog.build_catalog(published.client, published.output)
    assert run_.items == 3
    assert run_.cogs_without_item == []
    root = stored_json(published, "catalog/static/output/catalog.json")
    collection = stored_json(published, "catalog/static/output/collection.json")
    validate(root)
    validate(collection)
    assert [link["href"] for link in root["links"] if link["rel"] == "child"] == ["./collection.json"]
    assert sorted(link["href"] for link in collection["links"] if link["rel"] == "item") == [
        "../../../output/2024/a/RGB.byte.json",  # from catalog/static/output/: the Items where the function wrote them
        "../../../output/2024/b/airfield.json",
        "../../../output/2025/pan.json",
    ]
    summaries = collection["summaries"]
    assert summaries["imagery_archive:storage_class"] == ["GLACIER"]
    assert set(summaries["imagery_archive:encoding"]) == {"JPEG q75", "LERC_ZSTD"}
    assert "EPSG:32618" in summaries["proj:code"]
    documents = [
        stored_json(published, key) for key in published.keys(published.output, "output/") if key[-5:] == ".json"
    ]
    items = [document for document in documents if document["type"] == "Feature"]
    assert len(items) == 3
    bboxes = [item["bbox"] for item in items if "bbox" in item]
    (extent,) = collection["extent"]["spatial"]["bbox"]
    assert extent == [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
    start, end = collection["extent"]["temporal"]["interval"][0]
    assert start.startswith("1993-03-25"), "the NITF's IDATIM is the earliest time"
    assert max(item["properties"]["datetime"] for item in items) == end, "the latest: an upload time"


def test_a_prefix_catalogs_only_what_is_below_it(published):
    run_ = catalog.build_catalog(published.client, published.output, prefix="output/2024/")
    assert run_.items == 2
    assert "catalog/static/output/2024/catalog.json" in published.keys(published.output)


def test_the_catalog_in_a_folder_reads_with_pystac_offline(published, tmp_path, monkeypatch):
    out = tmp_path / "stac"
    catalog.build_catalog(published.client, published.output, out_dir=out)
    assert published.keys(published.output, "catalog/static/") == [], "nothing written to the bucket"

    def refuse(*_args, **_kwargs):
        raise AssertionError("reading and validating the folder catalog tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    root = pystac.Catalog.from_file(str(out / "catalog.json"))
    items = list(root.get_items(recursive=True))
    assert sorted(item.id for item in items) == ["2024/a/RGB.byte", "2024/b/airfield", "2025/pan"]
    for item in items:
        validate(item.to_dict(include_self_link=False))
        assert Path(item.assets["thumbnail"].get_absolute_href()).is_file(), "thumbnails are copied beside"
        assert item.assets["data"].href.startswith(f"s3://{published.output}/output/"), "COGs stay in the bucket"


def test_a_cog_without_an_item_is_reported(published, tmp_path):
    source = upload(published, "old.tif", "shade.tif")  # archived by a caller that writes no Item
    archive_object(source, ImageryStore(published.client), Destinations(published.output), COMPRESS, str(tmp_path))
    assert catalog.build_catalog(published.client, published.output).cogs_without_item == ["output/old.tif"]


def test_an_invalid_item_stops_the_catalog_with_its_name(published, capsys):
    published.client.put_object(Bucket=published.output, Key="output/bad.json", Body=b'{"type": "Feature"}')
    with pytest.raises(SystemExit) as stopped:
        catalog.main(["--output-bucket", published.output])
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1, "one line"
    assert f"s3://{published.output}/output/bad.json is not a valid STAC Item" in error
    assert published.keys(published.output, "catalog/static/") == [], "nothing written"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --output-bucket"),
        (["--output-bucket", "b", "--prefix", "output"], "must be relative and end with '/'"),
        (["--output-bucket", "b", "--prefix", "/output/"], "must be relative and end with '/'"),
        (["--output-bucket", " "], "--output-bucket is empty"),
    ],
)
def test_bad_arguments_get_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        catalog.main(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


def test_an_empty_prefix_is_an_error_not_an_empty_catalog(buckets, capsys):
    with pytest.raises(SystemExit):
        catalog.main(["--output-bucket", buckets.output])
    assert "no STAC Items under" in capsys.readouterr().err
