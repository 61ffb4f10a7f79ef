"""Never silently replace a result: one source's COG or archived original is never overwritten by another's.

On real imagery and the local S3 server. The output bucket the `buckets` fixture makes keeps no
versions, as an imported one may not.
"""

from __future__ import annotations

import base64
import hashlib
from functools import partial
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import OutputKeyTakenError, PermanentError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from tests.support.faults import failing
from tests.support.paths import SAMPLES

COMPRESS = partial(compress, profile=CompressionProfile())


def upload(buckets, key: str, sample: str) -> ObjectLocation:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())
    return ObjectLocation(buckets.input, key)


def run(buckets, source: ObjectLocation, work_dir: Path, store: ImageryStore | None = None, compress_image=COMPRESS):
    store = store or ImageryStore(buckets.client)
    return archive_object(source, store, Destinations(buckets.output), compress_image, str(work_dir))


def sha256_b64(sample: str) -> str:
    return base64.b64encode(hashlib.sha256((SAMPLES / sample).read_bytes()).digest()).decode()


def sha256_hex(sample: str) -> str:
    return hashlib.sha256((SAMPLES / sample).read_bytes()).hexdigest()


def head(buckets, key: str) -> dict:
    return buckets.client.head_object(Bucket=buckets.output, Key=key, ChecksumMode="ENABLED")


# --- archived originals --------------------------------------------------------------------------------


def test_a_different_original_under_an_archived_key_gets_its_own_archive_key(buckets, tmp_path):
    run(buckets, upload(buckets, "d/scene.tif", "shade.tif"), tmp_path)
    first = head(buckets, "archive/d/scene.tif")

    report = run(buckets, upload(buckets, "d/scene.tif", "RGB.byte.tif"), tmp_path)

    own_key = f"archive/d/scene.sha256-{sha256_hex('RGB.byte.tif')[:16]}.tif"
    assert report.outcome == "archived"
    assert report.archived_copy == ObjectLocation(buckets.output, own_key)
    kept = head(buckets, "archive/d/scene.tif")
    assert (kept["ETag"], kept["ChecksumSHA256"]) == (first["ETag"], sha256_b64("shade.tif")), (
        "the first original's only copy must survive"
    )
    assert head(buckets, own_key)["ChecksumSHA256"] == sha256_b64("RGB.byte.tif")
    cog = head(buckets, "output/d/scene.tif")["Metadata"]
    assert unquote(cog["archive-key"]) == own_key, "the COG says where its original really is"
    assert buckets.keys(buckets.input) == [], "verified at its own key, then deleted"


def test_the_same_original_again_reuses_its_archived_copy(buckets, tmp_path):
    run(buckets, upload(buckets, "d/scene.tif", "shade.tif"), tmp_path)
    report = run(buckets, upload(buckets, "d/scene.tif", "shade.tif"), tmp_path)
    assert report.archived_copy.key == "archive/d/scene.tif"
    assert buckets.keys(buckets.output, "archive/") == ["archive/d/scene.tif"], "no second copy of the same bytes"


def test_in_a_versioned_bucket_the_earlier_original_stays_as_an_older_version(buckets, tmp_path):
    buckets.client.put_bucket_versioning(Bucket=buckets.output, VersioningConfiguration={"Status": "Enabled"})
    run(buckets, upload(buckets, "d/scene.tif", "shade.tif"), tmp_path)
    report = run(buckets, upload(buckets, "d/scene.tif", "RGB.byte.tif"), tmp_path)
    assert report.archived_copy.key == "archive/d/scene.tif"
    versions = buckets.client.list_object_versions(Bucket=buckets.output, Prefix="archive/")["Versions"]
    assert sorted(version["Size"] for version in versions) == sorted(
        (SAMPLES / sample).stat().st_size for sample in ("shade.tif", "RGB.byte.tif")
    )


def test_versioning_is_asked_once_per_bucket_for_the_life_of_the_store(buckets, tmp_path):
    asked = []
    buckets.client.meta.events.register("before-call.s3.GetBucketVersioning", lambda **_: asked.append(1))
    store = ImageryStore(buckets.client)
    for sample in ("shade.tif", "RGB.byte.tif", "worldview_pan_rpc_11bit.tif"):
        run(buckets, upload(buckets, "d/scene.tif", sample), tmp_path, store=store)
    assert len(asked) == 1


# --- COGs ------------------------------------------------------------------------------------------------


def test_sources_sharing_a_stem_get_cogs_of_their_own(buckets, tmp_path):
    run(buckets, upload(buckets, "d/scene.tif", "shade.tif"), tmp_path)
    first = head(buckets, "output/d/scene.tif")

    run(buckets, upload(buckets, "d/scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf"), tmp_path)
    run(buckets, upload(buckets, "d/scene.TIF", "RGB.byte.tif"), tmp_path)

    assert buckets.keys(buckets.output, "output/") == [
        "output/d/scene.TIF.tif",
        "output/d/scene.ntf.tif",
        "output/d/scene.tif",
    ]
    assert head(buckets, "output/d/scene.tif")["ETag"] == first["ETag"], "the first COG is not replaced"
    for key, source in [
        ("output/d/scene.tif", "d/scene.tif"),
        ("output/d/scene.ntf.tif", "d/scene.ntf"),
        ("output/d/scene.TIF.tif", "d/scene.TIF"),
    ]:
        assert head(buckets, key)["Metadata"]["source-key"] == quote(source), f"{key} says which source it is"


def test_a_redelivery_finds_its_own_cog_under_the_alternate_name(buckets, tmp_path):
    run(buckets, upload(buckets, "d/scene.tif", "shade.tif"), tmp_path)
    source = upload(buckets, "d/scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    with failing(buckets.client, "CopyObject"), pytest.raises(Exception, match="SlowDown"):
        run(buckets, source, tmp_path)
    assert "output/d/scene.ntf.tif" in buckets.keys(buckets.output, "output/")

    def must_not_compress(*_, **__):
        raise AssertionError("this version's COG is already published, under its alternate name")

    report = run(buckets, source, tmp_path, compress_image=must_not_compress)
    assert report.outcome == "archived"
    assert report.output.key == "output/d/scene.ntf.tif"
    assert buckets.keys(buckets.output, "output/") == ["output/d/scene.ntf.tif", "output/d/scene.tif"]


def test_a_new_version_of_a_source_replaces_its_own_cog(buckets, tmp_path):
    run(buckets, upload(buckets, "d/scene.tif", "shade.tif"), tmp_path)
    run(buckets, upload(buckets, "d/scene.tif", "RGB.byte.tif"), tmp_path)
    assert buckets.keys(buckets.output, "output/") == ["output/d/scene.tif"], "its own COG, updated in place"
    meta = head(buckets, "output/d/scene.tif")["Metadata"]
    assert int(meta["source-size"]) == (SAMPLES / "RGB.byte.tif").stat().st_size


def test_when_both_names_are_taken_by_others_the_upload_is_refused_and_kept(buckets, tmp_path):
    other = {"source-bucket": buckets.input, "source-key": "d/scene.tif"}
    buckets.client.put_object(Bucket=buckets.output, Key="output/d/scene.tif", Body=b"II*\x00", Metadata=other)
    buckets.client.put_object(Bucket=buckets.output, Key="output/d/scene.ntf.tif", Body=b"someone else's")
    source = upload(buckets, "d/scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    with pytest.raises(OutputKeyTakenError, match="rename the upload") as raised:
        run(buckets, source, tmp_path)
    assert isinstance(raised.value, PermanentError), "the original is tagged with the reason, not retried"
    assert buckets.keys(buckets.input) == ["d/scene.ntf"]
    assert head(buckets, "output/d/scene.ntf.tif")["ContentLength"] == len(b"someone else's")
