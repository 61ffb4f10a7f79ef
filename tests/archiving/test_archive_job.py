"""One object through the whole job, on real imagery and a real (local) S3 endpoint.

The promise under test: the original leaves the input bucket only after a verified archive copy
exists, whatever fails and whenever; duplicates are harmless; scratch space is always cleaned.
"""

from __future__ import annotations

import base64
import hashlib
from functools import partial
from pathlib import Path

import pytest
from osgeo import gdal

from imagery_archive.archiving.scratch import check_scratch_space
from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import (
    ArchiveNotVerifiedError,
    CorruptImageError,
    EmptyObjectError,
    PermanentError,
    ScratchSpaceTakenError,
    SourceChangedError,
    TooLargeError,
    UnreadableImageError,
)
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.checksums import GiB
from imagery_archive.s3.keys import Destinations
from imagery_archive.s3.storage import ImageryStore, ObjectLocation
from tests.support.faults import failing
from tests.support.paths import SAMPLES

COMPRESS = partial(compress, profile=CompressionProfile())


def upload(buckets, key: str, sample: str | bytes) -> ObjectLocation:
    body = sample if isinstance(sample, bytes) else (SAMPLES / sample).read_bytes()
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=body)
    return ObjectLocation(buckets.input, key)


def run(buckets, source: ObjectLocation, work_dir: Path, compress_image=COMPRESS, store=None):
    store = store or ImageryStore(buckets.client)
    return archive_object(source, store, Destinations(buckets.output), compress_image, str(work_dir))


def still_there(buckets, location: ObjectLocation, sample: str | bytes) -> bool:
    body = sample if isinstance(sample, bytes) else (SAMPLES / sample).read_bytes()
    stored = buckets.client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    return stored == body


def test_an_image_is_compressed_archived_verified_then_deleted(buckets, tmp_path):
    source = upload(buckets, "d/scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    report = run(buckets, source, tmp_path)

    assert report.outcome == "archived"
    assert buckets.keys(buckets.input) == [], "the original leaves the input bucket once archived"
    assert buckets.keys(buckets.output) == ["archive/d/scene.ntf", "output/d/scene.tif"]
    archived = buckets.client.head_object(Bucket=buckets.output, Key="archive/d/scene.ntf", ChecksumMode="ENABLED")
    original = (SAMPLES / "nitf_jitc_U_1001A_aerial_8bit.ntf").read_bytes()
    assert archived["StorageClass"] == "GLACIER"
    # boto3 uploads with a CRC32 by default: too weak a proof, so the downloaded bytes' SHA-256 proves the copy.
    assert report.proof == "sha256-of-downloaded-bytes"
    assert archived["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(original).digest()).decode()
    cog = tmp_path.parent / "downloaded.tif"
    buckets.client.download_file(buckets.output, "output/d/scene.tif", str(cog))
    assert gdal.Open(str(cog)).GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    assert list(tmp_path.iterdir()) == [], "scratch space is cleaned after a success"


def test_output_metadata_records_where_it_came_from_and_its_quality(buckets, tmp_path):
    source = upload(buckets, "landsat/RGB byte é.tif", "RGB.byte.tif")
    report = run(buckets, source, tmp_path)
    head = buckets.client.head_object(Bucket=buckets.output, Key="output/landsat/RGB byte é.tif")
    meta = head["Metadata"]
    assert head["ContentType"].startswith("image/tiff; application=geotiff")
    assert meta["source-key"] == "landsat/RGB%20byte%20%C3%A9.tif"
    assert int(meta["source-size"]) == (SAMPLES / "RGB.byte.tif").stat().st_size
    assert float(meta["ssim"]) == pytest.approx(report.compression.ssim, abs=1e-4)
    assert float(meta["compression-ratio"]) > 5
    assert meta["encoding"] == "JPEG q75"
    assert set(report.seconds) >= {"download", "compress", "upload", "archive", "verify", "delete"}


def test_a_second_delivery_of_a_finished_object_is_a_no_op(buckets, tmp_path):
    source = upload(buckets, "a.tif", "shade.tif")
    run(buckets, source, tmp_path)
    before = {k: buckets.client.head_object(Bucket=buckets.output, Key=k)["ETag"] for k in buckets.keys(buckets.output)}
    assert run(buckets, source, tmp_path).outcome == "already-archived"
    after = {k: buckets.client.head_object(Bucket=buckets.output, Key=k)["ETag"] for k in buckets.keys(buckets.output)}
    assert before == after


def test_an_object_that_never_arrived_is_gone_not_an_error(buckets, tmp_path):
    assert run(buckets, ObjectLocation(buckets.input, "never.tif"), tmp_path).outcome == "gone"


@pytest.mark.parametrize(
    "operation",
    ["GetObject", "PutObject", "CopyObject", "DeleteObject"],
    ids=["download", "upload", "archive-copy", "delete"],
)
def test_a_failure_at_any_s3_step_keeps_the_original_and_a_rerun_completes(buckets, tmp_path, operation):
    source = upload(buckets, "scene.tif", "worldview_pan_rpc_11bit.tif")
    with failing(buckets.client, operation), pytest.raises(Exception, match="SlowDown"):
        run(buckets, source, tmp_path)
    assert still_there(buckets, source, "worldview_pan_rpc_11bit.tif"), f"original lost after {operation} failed"
    assert list(tmp_path.iterdir()) == [], "scratch space is cleaned after a failure"

    assert run(buckets, source, tmp_path).outcome == "archived", "the retry finishes the half-done work"
    assert buckets.keys(buckets.input) == []
    assert buckets.keys(buckets.output) == ["archive/scene.tif", "output/scene.tif"]


def test_a_half_finished_object_is_completed_without_compressing_again(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "shade.tif")
    with failing(buckets.client, "CopyObject"), pytest.raises(Exception, match="SlowDown"):
        run(buckets, source, tmp_path)
    assert buckets.keys(buckets.output) == ["output/scene.tif"]

    def must_not_compress(*_, **__):
        raise AssertionError("the COG of this version is already published")

    report = run(buckets, source, tmp_path, compress_image=must_not_compress)
    assert report.outcome == "archived"
    assert report.compression is None


def test_a_failed_verification_keeps_the_original(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "shade.tif")
    store = ImageryStore(buckets.client)

    def copy_the_wrong_bytes(source, target, storage_class, original, checksum_algorithm, condition=None):
        buckets.client.put_object(Bucket=target.bucket, Key=target.key, Body=b"damaged", StorageClass=storage_class)

    store.copy_to_archive = copy_the_wrong_bytes
    with pytest.raises(ArchiveNotVerifiedError, match="size"):
        run(buckets, source, tmp_path, store=store)
    assert still_there(buckets, source, "shade.tif")


def test_a_reupload_during_processing_is_neither_archived_as_the_old_one_nor_deleted(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "shade.tif")

    def compress_while_a_user_reuploads(src, dst, on_source_read):
        upload(buckets, "scene.tif", "RGB.byte.tif")
        return COMPRESS(src, dst, on_source_read=on_source_read)

    # S3 refuses the copy (CopySourceIfMatch); an endpoint that ignores that precondition still
    # fails verification, because the copy's SHA-256 is not that of the bytes compressed.
    with pytest.raises((SourceChangedError, ArchiveNotVerifiedError)):
        run(buckets, source, tmp_path, compress_image=compress_while_a_user_reuploads)
    assert still_there(buckets, source, "RGB.byte.tif"), "the user's new upload must survive"


def test_a_reupload_just_before_the_delete_survives(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "shade.tif")

    def reupload(**_):
        buckets.client.meta.events.unregister("before-call.s3.DeleteObject", reupload)
        upload(buckets, "scene.tif", "RGB.byte.tif")

    buckets.client.meta.events.register("before-call.s3.DeleteObject", reupload)
    with pytest.raises(SourceChangedError, match="replaced"):
        run(buckets, source, tmp_path)
    assert still_there(buckets, source, "RGB.byte.tif"), "the delete is conditional on the archived version"


def half_of_a_cog(tmp_path: Path) -> bytes:
    """A COG cut in half: its header (at the start) opens, its pixels can't be read."""
    cog = tmp_path / "whole.tif"
    gdal.Translate(str(cog), str(SAMPLES / "RGB.byte.tif"), format="COG")
    data = cog.read_bytes()
    cog.unlink()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("make_body", "error", "reason"),
    [
        (lambda _: b"", EmptyObjectError, "empty"),
        (lambda _: b"this is a text file, not an image\n" * 10, UnreadableImageError, "can't open it as an image"),
        (lambda _: (SAMPLES / "RGB.byte.tif").read_bytes()[:600_000], UnreadableImageError, "TIFF"),
        (half_of_a_cog, CorruptImageError, "reading or encoding its pixels failed"),
    ],
    ids=["zero-bytes", "not-an-image", "truncated-header", "truncated-pixels"],
)
def test_bad_input_is_a_permanent_error_and_nothing_is_written(buckets, tmp_path, make_body, error, reason):
    body = make_body(tmp_path)
    source = upload(buckets, "uploads/bad scene.tif", body)
    with pytest.raises(error, match=reason) as raised:
        run(buckets, source, tmp_path)
    assert str(source) in str(raised.value), "the error names the object"
    assert str(tmp_path) not in str(raised.value), "not the function's scratch path"
    assert still_there(buckets, source, body)
    assert buckets.keys(buckets.output) == [], "no output and no archive for bad input"
    assert list(tmp_path.iterdir()) == []


def test_an_original_too_large_even_for_empty_scratch_space_is_refused_for_good():
    source = ObjectLocation("imagery-input", "huge.tif")
    check_scratch_space(source, size=9 * GiB, capacity=10 * GiB, free=10 * GiB)  # fits: no error
    with pytest.raises(TooLargeError, match=r"huge.tif needs at least 9.9 GiB .* 9.0 GiB in all"):
        check_scratch_space(source, size=9 * GiB, capacity=9 * GiB, free=9 * GiB)


def test_space_taken_by_something_else_is_transient_not_the_objects_fault():
    source = ObjectLocation("imagery-input", "scene.tif")
    with pytest.raises(ScratchSpaceTakenError, match="retried") as raised:
        check_scratch_space(source, size=2 * GiB, capacity=10 * GiB, free=1 * GiB)
    assert not isinstance(raised.value, PermanentError), "the original must not be tagged failed"
