"""Originals read where they lie: GDAL streams them from S3, pinned to the inspected ETag.

Against the local S3 endpoint (moto's server), through `imagery_archive_cli.local.s3_proxy` where the test needs to see
or steer the requests GDAL sends. The streamed path runs on every bundled format; a replacement is
never compressed in place of the inspected object, before or during the read; what can't be
streamed (no comparable S3 checksum, an older version, a failed read) is downloaded as before.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from botocore.config import Config

from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import CorruptImageError, ScratchSpaceTakenError, SourceChangedError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.source_access import ReadMode, SourceReading
from imagery_archive.s3.storage import ImageryStore
from imagery_archive_cli.local.s3_proxy import S3Proxy
from tests.support.paths import SAMPLES

STREAM = SourceReading("stream", gdal_sends_headers=True)
FORMATS = {
    "GeoTIFF, striped": "RGB.byte.tif",
    "GeoTIFF, tiled": "naip_rgbn_5m.tif",
    "NITF": "nitf_jitc_U_1001A_aerial_8bit.ntf",
    "NITF, blocked with a palette": "nitf_spot_cib_palette.ntf",
    "JPEG 2000": "s2_tci_60m.jp2",
}


def upload(buckets, key: str, sample: str, client=None, checksum: str | None = "CRC64NVME") -> ObjectLocation:
    """`sample` uploaded as S3 stores an upload without a checksum since the end of 2024: with a CRC-64/NVME
    (moto computes it with awscrt, a test requirement)."""
    extra = {"ChecksumAlgorithm": checksum} if checksum else {}
    body = (SAMPLES / sample).read_bytes()
    (client or buckets.client).put_object(Bucket=buckets.input, Key=key, Body=body, **extra)
    return ObjectLocation(buckets.input, key)


def s3_crc64(buckets, source: ObjectLocation) -> str:
    return buckets.client.head_object(Bucket=source.bucket, Key=source.key, ChecksumMode="ENABLED")["ChecksumCRC64NVME"]


def compress_watching_scratch(seen: list[list[str]]):
    """The real compression, noting the files in scratch once the whole source was read."""

    def run(src, dst, *, on_source_read, read_options=None):
        def noted() -> None:
            seen.append(sorted(path.name for path in Path(dst).parent.iterdir()))
            on_source_read()

        return compress(src, dst, CompressionProfile(), on_source_read=noted, read_options=read_options)

    return run


def run(buckets, source, work_dir: Path, reading=STREAM, compress_image=None, store=None):
    compress_image = compress_image or partial(compress, profile=CompressionProfile())
    store = store or ImageryStore(buckets.client)
    return archive_object(source, store, Destinations(buckets.output), compress_image, str(work_dir), reading=reading)


def gets_by_boto3(client) -> list[str]:
    """Counts GetObject calls made through `client` (the download path); GDAL's own GETs don't pass here."""
    calls: list[str] = []
    client.meta.events.register("before-call.s3.GetObject", lambda **_: calls.append("GetObject"))
    return calls


@pytest.mark.parametrize("sample", FORMATS.values(), ids=FORMATS.keys())
def test_every_bundled_format_is_streamed_and_archived_without_a_download(buckets, tmp_path, sample):
    key = f"scenes/{sample}"
    source = upload(buckets, key, sample)
    crc64 = s3_crc64(buckets, source)
    downloads, seen = gets_by_boto3(buckets.client), []
    report = run(buckets, source, tmp_path, compress_image=compress_watching_scratch(seen))

    assert report.outcome == "archived"
    assert report.read.mode is ReadMode.STREAM, report.read.reason
    assert downloads == [], "not one byte of the original went through boto3"
    assert seen, "the source was read"
    # the COG being written, or (read in one pass) the folder of its overview levels: nothing of the original
    assert all(all(name.startswith("compressed.tif.partial") for name in files) for files in seen), seen
    assert "download" not in report.seconds
    meta = buckets.client.head_object(Bucket=buckets.output, Key=report.output.key)["Metadata"]
    assert (meta["source-read"], meta["archive-proof"]) == ("stream", "s3-crc64nvme")
    assert meta["source-crc64nvme"] == crc64
    assert buckets.keys(buckets.input) == []
    archived = buckets.client.head_object(Bucket=buckets.output, Key=f"archive/{key}", ChecksumMode="ENABLED")
    assert archived["ChecksumCRC64NVME"] == crc64, "the archive is proved by S3's CRC-64/NVME of the copy"


def test_a_streamed_cog_is_the_cog_of_the_downloaded_original(buckets, tmp_path):
    streamed = run(buckets, upload(buckets, "a.tif", "naip_rgbn_5m.tif"), tmp_path)
    downloaded = run(buckets, upload(buckets, "b.tif", "naip_rgbn_5m.tif"), tmp_path, SourceReading("download"))
    assert downloaded.read.mode is ReadMode.DOWNLOAD
    assert streamed.compression.compressed_bytes == downloaded.compression.compressed_bytes
    assert streamed.compression.ssim == downloaded.compression.ssim
    cogs = [
        buckets.client.get_object(Bucket=buckets.output, Key=f"output/{k}")["Body"].read() for k in ("a.tif", "b.tif")
    ]
    assert cogs[0] == cogs[1], "the same pixels, the same COG, byte for byte"


def test_every_request_gdal_sends_is_pinned_to_the_inspected_etag(buckets, tmp_path, s3_endpoint, monkeypatch):
    source = upload(buckets, "scene.ntf", "nitf_jitc_U_1001A_aerial_8bit.ntf")
    etag = buckets.client.head_object(Bucket=buckets.input, Key="scene.ntf")["ETag"]
    with S3Proxy(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # GDAL's endpoint; boto3's client is already made
        report = run(buckets, source, tmp_path)
    assert report.read.mode is ReadMode.STREAM
    gdal_requests = [r for r in proxy.requests if r.path.startswith(f"/{buckets.input}/scene.ntf")]
    assert gdal_requests, "GDAL read the original through the proxy"
    assert all(r.headers.get("if-match") == etag for r in gdal_requests), [r.headers for r in gdal_requests]
    assert all("range" in r.headers for r in gdal_requests if r.method == "GET"), "ranged reads only"


def test_an_object_replaced_right_after_it_was_inspected_is_never_compressed(buckets, tmp_path):
    source = upload(buckets, "scene.tif", "shade.tif")
    replaced: list[str] = []

    def replace_once(**_kwargs):
        if not replaced:
            replaced.append("once")
            upload(buckets, "scene.tif", "RGB.byte.tif")

    buckets.client.meta.events.register("after-call.s3.HeadObject", replace_once)
    compressed: list[str] = []

    def tracked(src, dst, **kwargs):
        result = compress(src, dst, CompressionProfile(), **kwargs)
        compressed.append(str(src))
        return result

    with pytest.raises(SourceChangedError, match="replaced"):
        run(buckets, source, tmp_path, compress_image=tracked)
    assert compressed == [], "the replacement's pixels were never made into a COG"
    assert buckets.keys(buckets.output) == [], "nothing published, nothing archived"
    body = buckets.client.get_object(Bucket=buckets.input, Key="scene.tif")["Body"].read()
    assert body == (SAMPLES / "RGB.byte.tif").read_bytes(), "the replacement stays for its own event"


def test_an_object_replaced_while_gdal_reads_it_fails_the_read_and_nothing_is_published(
    buckets, tmp_path, s3_endpoint, monkeypatch
):
    source = upload(buckets, "scene.tif", "landsat8_b4_150m.tif")
    gets: list[str] = []

    def replace_before_the_second_get(request):
        if request.method == "GET" and request.path.startswith(f"/{buckets.input}/scene.tif"):
            gets.append(request.headers["range"])
            if len(gets) == 2:  # GDAL has opened the image with the first: the second asks for pixels
                upload(buckets, "scene.tif", "shade.tif")

    with S3Proxy(s3_endpoint, on_request=replace_before_the_second_get) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        with pytest.raises(SourceChangedError, match="replaced"):
            run(buckets, source, tmp_path, store=ImageryStore(buckets.client))
    assert len(gets) >= 2, [(r.method, r.path, r.headers.get("range")) for r in proxy.requests]
    assert buckets.keys(buckets.output) == []
    assert list(tmp_path.iterdir()) == [], "scratch space is cleaned"


def test_an_original_without_an_s3_checksum_is_downloaded_and_proved_by_its_sha256(buckets, tmp_path, s3_endpoint):
    import boto3  # noqa: PLC0415

    no_checksum = boto3.client(
        "s3", endpoint_url=s3_endpoint, config=Config(request_checksum_calculation="when_required")
    )
    source = upload(buckets, "old.tif", "shade.tif", client=no_checksum, checksum=None)
    assert ImageryStore(buckets.client).head(source).checksums == {}, "an upload from before S3's default checksums"
    report = run(buckets, source, tmp_path)
    assert report.read.mode is ReadMode.DOWNLOAD
    assert "no full-object S3 checksum" in report.read.reason
    assert report.proof == "sha256-of-downloaded-bytes"
    meta = buckets.client.head_object(Bucket=buckets.output, Key="output/old.tif")["Metadata"]
    assert (meta["source-read"], meta["archive-proof"]) == ("download", "sha256-of-downloaded-bytes")
    assert "source-sha256" in meta


def test_an_original_with_only_the_sdks_crc32_is_downloaded_and_proved_by_its_sha256(buckets, tmp_path):
    source = upload(buckets, "sdk.tif", "shade.tif", checksum=None)  # boto3 adds its default CRC32
    assert set(ImageryStore(buckets.client).head(source).checksums) == {"CRC32"}
    report = run(buckets, source, tmp_path)
    assert (report.read.mode, report.proof) == (ReadMode.DOWNLOAD, "sha256-of-downloaded-bytes")


def test_a_crc64nvme_original_is_proved_by_s3s_crc64nvme_of_the_copy(buckets, tmp_path):
    """moto computes CRC-64/NVME with awscrt (requirements-dev), as S3 does for every upload without a checksum."""
    body = (SAMPLES / "shade.tif").read_bytes()
    buckets.client.put_object(Bucket=buckets.input, Key="new.tif", Body=body, ChecksumAlgorithm="CRC64NVME")
    report = run(buckets, ObjectLocation(buckets.input, "new.tif"), tmp_path)
    assert (report.read.mode, report.proof) == (ReadMode.STREAM, "s3-crc64nvme")
    source_crc = buckets.client.head_object(Bucket=buckets.output, Key="output/new.tif")["Metadata"]["source-crc64nvme"]
    archived = buckets.client.head_object(Bucket=buckets.output, Key="archive/new.tif", ChecksumMode="ENABLED")
    assert archived["ChecksumCRC64NVME"] == source_crc


def test_an_older_version_is_downloaded_by_version_when_streaming_finds_a_newer_one(buckets, tmp_path):
    buckets.client.put_bucket_versioning(Bucket=buckets.input, VersioningConfiguration={"Status": "Enabled"})
    body = (SAMPLES / "shade.tif").read_bytes()
    first = buckets.client.put_object(Bucket=buckets.input, Key="v.tif", Body=body, ChecksumAlgorithm="CRC64NVME")
    upload(buckets, "v.tif", "RGB.byte.tif")
    report = run(buckets, ObjectLocation(buckets.input, "v.tif", first["VersionId"]), tmp_path)
    assert report.outcome == "archived"
    assert report.read.mode is ReadMode.DOWNLOAD
    assert "no longer current" in report.read.reason
    meta = buckets.client.head_object(Bucket=buckets.output, Key="output/v.tif")["Metadata"]
    assert int(meta["source-size"]) == (SAMPLES / "shade.tif").stat().st_size, "the event's version, not the newest"


def test_a_corrupt_original_that_fails_streaming_is_judged_on_its_download(buckets, tmp_path):
    body = (SAMPLES / "landsat8_b4_150m.tif").read_bytes()
    buckets.client.put_object(
        Bucket=buckets.input, Key="cut.tif", Body=body[: len(body) // 2], ChecksumAlgorithm="CRC64NVME"
    )
    downloads = gets_by_boto3(buckets.client)
    with pytest.raises(CorruptImageError, match=r"cut\.tif"):
        run(buckets, ObjectLocation(buckets.input, "cut.tif"), tmp_path)
    assert downloads, "the failed stream fell back to the download, whose verdict stands"
    assert buckets.keys(buckets.output) == []


def test_auto_downloads_what_fits_and_streams_what_only_fits_streamed(buckets, tmp_path, monkeypatch):
    auto = SourceReading("auto", gdal_sends_headers=True)
    fits = run(buckets, upload(buckets, "a.tif", "shade.tif"), tmp_path, auto)
    assert fits.read.mode is ReadMode.DOWNLOAD, "downloading is faster where the original fits (BENCHMARKS.md)"
    assert fits.proof == "s3-crc64nvme", "downloaded or not, S3's checksum proves the archive (no hashing)"

    half_of_it = (SAMPLES / "landsat8_b4_150m.tif").stat().st_size // 2  # room for a COG, not for the original
    for module in ("imagery_archive.archiving.steps", "imagery_archive.archiving.scratch"):
        monkeypatch.setattr(f"{module}.free_bytes", lambda _work_dir: half_of_it)
    too_large = run(buckets, upload(buckets, "b.tif", "landsat8_b4_150m.tif"), tmp_path, auto)
    assert too_large.read.mode is ReadMode.STREAM
    assert "too large for scratch space" in too_large.read.reason
    # Without a checksum that proves it unread, it is downloaded: it doesn't fit the (here: taken) space.
    with pytest.raises(ScratchSpaceTakenError):
        run(buckets, upload(buckets, "c.tif", "landsat8_b4_150m.tif", checksum=None), tmp_path, auto)
    assert "c.tif" in buckets.keys(buckets.input), "refused for now, left in place"
