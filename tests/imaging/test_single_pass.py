"""The original read once for its overviews and SSIM: the COG driver reads only its full resolution.

Each COG written through `single_pass` is compared with the COG the driver writes when it builds the
overviews itself (`pyramid.applies` switched off): the same full-resolution pixels and mask, the same
georeferencing and overview sizes, and overviews that are the mean of the valid pixels. Streamed from
the local S3 endpoint, the original is read twice in all, where the driver and the SSIM check read it
four times and more. Originals with overviews of their own (a JPEG 2000's resolution levels) keep them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import sample_path
from osgeo import gdal

from imagery_archive.imaging import pyramid
from imagery_archive.imaging.cog_writer import write_cog
from imagery_archive.imaging.compress import compress, open_image, read_properties, validate_cog
from imagery_archive.imaging.profiles import CompressionProfile, choose_encoding
from imagery_archive.imaging.pyramid import Pyramid, level_sizes
from imagery_archive.imaging.quality import Grid, _window_read, measure_ssim, read_shape
from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.source_access import gdal_read_options, vsis3_path
from imagery_archive.s3.storage import ImageryStore
from imagery_archive_cli.local.s3_proxy import S3Proxy

pytestmark = pytest.mark.usefixtures("production_gdal")

IN_SCOPE = {
    "nodata of all bands": "RGB.byte.tif",
    "alpha": "drone_rgba_pix4d.tif",
    "alpha, larger": "alpha.tif",
    "NITF, no mask": "nitf_jitc_U_1001A_aerial_8bit.ntf",
}


def both_cogs(source: Path, folder: Path, monkeypatch) -> tuple[gdal.Dataset, gdal.Dataset, np.ndarray | None]:
    """(ours read once, the COG driver's own overviews, the SSIM grid's pixels kept on the way)."""
    dataset = open_image(source)
    encoding = choose_encoding(read_properties(dataset), CompressionProfile())
    assert pyramid.applies(dataset, encoding)
    samples = write_cog(dataset, encoding, folder / "once.tif")
    with monkeypatch.context() as patched:
        patched.setattr(pyramid, "applies", lambda *_: False)
        assert write_cog(dataset, encoding, folder / "driver.tif") is None
    return gdal.Open(str(folder / "once.tif")), gdal.Open(str(folder / "driver.tif")), samples


def overview_sizes(band: gdal.Band) -> list[tuple[int, int]]:
    return [(band.GetOverview(i).XSize, band.GetOverview(i).YSize) for i in range(band.GetOverviewCount())]


@pytest.mark.parametrize("sample", IN_SCOPE.values(), ids=IN_SCOPE.keys())
def test_a_cog_read_once_is_the_drivers_own_at_full_resolution(sample, tmp_path, monkeypatch):
    once, driver, _ = both_cogs(sample_path(sample), tmp_path, monkeypatch)
    validate_cog(tmp_path / "once.tif")
    assert np.array_equal(once.ReadAsArray(), driver.ReadAsArray()), "the same full-resolution pixels"
    first, theirs = once.GetRasterBand(1), driver.GetRasterBand(1)
    assert first.GetMaskFlags() == theirs.GetMaskFlags()
    assert np.array_equal(first.GetMaskBand().ReadAsArray(), theirs.GetMaskBand().ReadAsArray())
    assert once.GetGeoTransform() == driver.GetGeoTransform()
    assert once.GetProjection() == driver.GetProjection()
    assert once.GetMetadata() == driver.GetMetadata()
    assert overview_sizes(first) == level_sizes(once.RasterXSize, once.RasterYSize)
    if first.GetMaskFlags() == gdal.GMF_PER_DATASET:
        assert overview_sizes(first.GetMaskBand()) == overview_sizes(first)
    # Halving an odd size: GDAL 3.6's driver rounds up, later ones down (as `level_sizes` does).
    for ours, drivers in zip(overview_sizes(first), overview_sizes(theirs), strict=True):
        assert abs(ours[0] - drivers[0]) <= 1
        assert abs(ours[1] - drivers[1]) <= 1


def mean_of_valid_blocks(pixels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The expected level below (bands x rows x cols): each 2 x 2 block's mean over its valid pixels."""
    rows, cols = pixels.shape[1] // 2 * 2, pixels.shape[2] // 2 * 2
    blocks = pixels[:, :rows, :cols].astype(np.float64).reshape(len(pixels), rows // 2, 2, cols // 2, 2)
    weights = valid[:rows, :cols].reshape(rows // 2, 2, cols // 2, 2)
    count = weights.sum(axis=(1, 3))
    total = (blocks * weights).sum(axis=(2, 4))
    mean = np.floor(total / np.maximum(count, 1) + 0.5)
    return mean.astype(np.uint8), count > 0


def test_each_level_is_the_mean_of_the_valid_pixels_of_the_level_above(tmp_path):
    source = gdal.Open(str(sample_path("RGB.byte.tif")))  # a real nodata collar: blocks half valid
    pixels = source.ReadAsArray()
    valid = (pixels != 0).any(axis=0)
    levels = Pyramid(source.RasterXSize, source.RasterYSize, 3, True, tmp_path)
    for first in range(0, source.RasterYSize, levels.strip_rows):  # strip by strip, as a read would
        rows = slice(first, first + levels.strip_rows)
        levels.add(pixels[:, rows], valid[rows])
    levels.close()
    assert [(level.width, level.height) for level in levels.levels] == [(395, 359)]
    expected, expected_valid = mean_of_valid_blocks(pixels, valid)
    written = gdal.Open(str(levels.levels[0].pixels))
    mask = written.GetRasterBand(1).GetMaskBand().ReadAsArray() > 0
    assert np.array_equal(mask, expected_valid)
    assert np.array_equal(written.ReadAsArray()[:, mask], expected[:, mask])
    assert not np.array_equal(expected_valid, expected_valid[0, 0]), "the collar makes partly valid blocks"
    assert np.array_equal(gdal.Open(str(levels.levels[0].mask)).ReadAsArray() > 0, mask)


def test_an_original_with_overviews_of_its_own_keeps_them(tmp_path):
    dataset = open_image(sample_path("s2_tci_60m.jp2"))  # JPEG 2000: its resolution levels are overviews
    encoding = choose_encoding(read_properties(dataset), CompressionProfile())
    assert dataset.GetRasterBand(1).GetOverviewCount() > 0
    assert not pyramid.applies(dataset, encoding)
    assert write_cog(dataset, encoding, tmp_path / "s2.tif") is None


def test_a_level_that_misses_rows_is_an_error_not_a_short_overview(tmp_path):
    levels = Pyramid(1200, 1200, 1, False, tmp_path)
    levels.add(np.zeros((1, 512, 1200), np.uint8), np.ones((512, 1200), bool))
    with pytest.raises(RuntimeError, match="level 1 got 256 of 600 rows"):
        levels.close()


@pytest.mark.parametrize("sample", ["RGB.byte.tif", "drone_rgba_pix4d.tif"])
def test_the_kept_pixels_are_those_the_ssim_check_reads_and_score_the_same(sample, tmp_path, monkeypatch):
    once, _, samples = both_cogs(sample_path(sample), tmp_path, monkeypatch)
    assert samples is not None
    original = gdal.Open(str(sample_path(sample)))
    width, height = read_shape(original)
    bands = list(range(1, once.RasterCount + 1))
    read = _window_read(
        original, Grid(width, height, original.RasterXSize, original.RasterYSize), 0, height, band_list=bands
    )
    assert np.array_equal(samples, read.reshape(samples.shape))
    output = str(tmp_path / "once.tif")
    kept = measure_ssim(str(sample_path(sample)), output, tuple(bands), original_samples=samples)
    assert kept == measure_ssim(str(sample_path(sample)), output, tuple(bands))


def scene(folder: Path) -> Path:
    """A 3955 x 3590 RGB mosaic of the Landsat sample (43 MB, uncompressed, tiled, as the benchmark's).

    Larger than GDAL's cache of network reads (32 MB: `source_access.GDAL_NETWORK_OPTIONS`), so that a
    pass over it can't be served from what the last pass read.
    """
    from bench.scene import SceneSpec, build_scene  # noqa: PLC0415

    return build_scene(SceneSpec("test-43MB", 5, 5), folder)


def bytes_read(requests, key: str) -> int:
    spans = [re.fullmatch(r"bytes=(\d+)-(\d+)", r.headers.get("range", "")) for r in requests if r.path.endswith(key)]
    return sum(int(span[2]) - int(span[1]) + 1 for span in spans if span)


def streamed_bytes(buckets, path: Path, proxy_url: str, folder: Path) -> int:
    """The size of `path`, uploaded and compressed through `/vsis3/` with a 2 MB block cache.

    GDAL's caches far smaller than the original, as the function's are for the scenes that matter
    (GBs): every re-read shows on the network.
    """
    source = ObjectLocation(buckets.input, path.name)
    buckets.client.put_object(Bucket=source.bucket, Key=source.key, Body=path.read_bytes())
    options = gdal_read_options(ImageryStore(buckets.client).head(source), {"AWS_ENDPOINT_URL": proxy_url}, None)
    cache = gdal.GetCacheMax()
    gdal.SetCacheMax(2 * 1024 * 1024)
    try:
        compress(vsis3_path(source), folder / "out.tif", CompressionProfile(), read_options=options)
    finally:
        gdal.SetCacheMax(cache)
    return path.stat().st_size


@pytest.mark.slow
def test_a_streamed_original_is_read_twice_where_the_driver_read_it_four_times(
    buckets, s3_endpoint, tmp_path, monkeypatch
):
    original = scene(tmp_path / "scenes")
    with S3Proxy(s3_endpoint) as proxy:
        size = streamed_bytes(buckets, original, proxy.url, tmp_path)
        once = bytes_read(proxy.requests, original.name)
        proxy.requests.clear()
        monkeypatch.setattr(pyramid, "applies", lambda *_: False)
        streamed_bytes(buckets, original, proxy.url, tmp_path)
        driver = bytes_read(proxy.requests, original.name)
    assert once <= 2.2 * size, f"read {once / size:.2f} times"
    assert driver >= 3.5 * size, f"the driver's own overviews and the SSIM check read it {driver / size:.2f} times"
