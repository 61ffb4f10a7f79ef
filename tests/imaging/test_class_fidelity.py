"""Class data stays exact: paletted and categorical rasters, at full resolution and in every overview."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import sample_path, write_derived
from osgeo import gdal

from imagery_archive.imaging.categories import category_evidence
from imagery_archive.imaging.compress import open_image, read_properties
from imagery_archive.imaging.profiles import CompressionProfile, choose_encoding

pytestmark = pytest.mark.usefixtures("production_gdal")


def overview_levels(path: Path) -> list[tuple[int, np.ndarray]]:
    """(decimation factor, pixels) of every overview of band 1."""
    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    levels = []
    for index in range(band.GetOverviewCount()):
        overview = band.GetOverview(index)
        levels.append((round(dataset.RasterXSize / overview.XSize), overview.ReadAsArray()))
    return levels


def block_bounds(overview_side: int, full_side: int) -> tuple[np.ndarray, np.ndarray]:
    """First and stop full-resolution index of the source block each overview pixel summarises."""
    edges = np.arange(overview_side + 1) * full_side / overview_side
    return np.floor(edges[:-1]).astype(int), np.ceil(edges[1:]).astype(int)


def values_not_in_their_block(full: np.ndarray, overview: np.ndarray) -> int:
    """How many overview pixels hold a value found nowhere in the block of pixels they summarise."""
    (row_first, row_stop), (col_first, col_stop) = (
        block_bounds(overview.shape[axis], full.shape[axis]) for axis in (0, 1)
    )
    found = np.zeros(overview.shape, dtype=bool)
    for dy in range(int((row_stop - row_first).max())):
        rows, rows_inside = np.minimum(row_first + dy, full.shape[0] - 1), row_first + dy < row_stop
        for dx in range(int((col_stop - col_first).max())):
            cols, cols_inside = np.minimum(col_first + dx, full.shape[1] - 1), col_first + dx < col_stop
            inside = rows_inside[:, np.newaxis] & cols_inside[np.newaxis, :]
            found |= (full[np.ix_(rows, cols)] == overview) & inside
    return int((~found).sum())


def assert_overviews_hold_only_block_values(source: Path, output: Path) -> None:
    full = gdal.Open(str(source)).ReadAsArray()  # one band: rows x cols
    levels = overview_levels(output)
    assert levels, "no overviews to check"
    present = set(np.unique(full).tolist())
    for factor, overview in levels:
        invented = set(np.unique(overview).tolist()) - present
        assert not invented, f"1:{factor} overview holds class values the image never has: {sorted(invented)[:10]}"
        foreign = values_not_in_their_block(full, overview)
        assert foreign == 0, (
            f"1:{factor} overview: {foreign} of {overview.size} pixels hold a class found nowhere in their block"
        )


def test_paletted_overviews_hold_only_values_of_their_block(cog):
    made = cog("nitf_spot_cib_palette.ntf")
    assert made.result.encoding.resampling == "NEAREST"
    assert_overviews_hold_only_block_values(made.source, made.output)
    dataset = gdal.Open(str(made.output))
    palette = dataset.GetRasterBand(1).GetColorTable()
    assert palette is not None, "the colour table was lost"
    assert palette.GetCount() == 256


# --- class maps without a colour table: detected, lossless, NEAREST overviews -----------------------


def land_cover_classes(path: Path) -> np.ndarray:
    """A land-cover map of the NAIP scene (RGB + near-infrared), classified by NDVI and brightness, in
    ESA WorldCover's codes: 10 tree cover, 30 grassland, 50 built-up, 60 bare, 80 water."""
    red, green, blue, nir = gdal.Open(str(sample_path("naip_rgbn_5m.tif"))).ReadAsArray().astype(np.float64)
    ndvi = (nir - red) / np.maximum(nir + red, 1)
    brightness = (red + green + blue) / 3
    classes = np.full(red.shape, 60, dtype=np.uint8)
    classes[(ndvi > 0.1) & (ndvi <= 0.3)] = 30
    classes[ndvi > 0.3] = 10
    classes[(ndvi <= 0.1) & (brightness > 140)] = 50
    classes[nir < 40] = 80
    return classes


@pytest.fixture(scope="module")
def land_cover(tmp_path_factory) -> Path:
    """The class map as a plain single-band 8-bit GeoTIFF: no colour table (no RAT, no names: see categories)."""
    path = tmp_path_factory.mktemp("classes") / "land_cover.tif"
    return write_derived(path, sample_path("naip_rgbn_5m.tif"), land_cover_classes(path)[np.newaxis])


@pytest.fixture(scope="module")
def land_cover_uint16(tmp_path_factory) -> Path:
    """The same classes as a 16-bit band (codes x 100), as some products store them."""
    path = tmp_path_factory.mktemp("classes16") / "land_cover16.tif"
    codes = land_cover_classes(path).astype(np.uint16) * 100
    return write_derived(path, sample_path("naip_rgbn_5m.tif"), codes[np.newaxis])


@pytest.mark.parametrize(
    ("fixture", "profile", "evidence"),
    [
        ("land_cover", CompressionProfile(), "5 classes"),
        ("land_cover", CompressionProfile(codec="WEBP"), "5 classes"),
        ("land_cover_uint16", CompressionProfile(max_z_error=50), "5 classes"),
    ],
    ids=["8-bit-jpeg-asked", "8-bit-webp-asked", "uint16-error-bound-asked"],
)
def test_class_maps_keep_exact_classes_at_full_resolution_and_in_every_overview(
    request, cog, fixture, profile, evidence
):
    source = request.getfixturevalue(fixture)
    made = cog(source, profile)
    encoding = made.result.encoding
    assert not encoding.lossy, f"{encoding.label}: the archive's only exact copy goes to Glacier"
    assert evidence in encoding.reason
    original = gdal.Open(str(source)).ReadAsArray()
    assert np.array_equal(gdal.Open(str(made.output)).ReadAsArray(), original), "class values changed"
    assert_overviews_hold_only_block_values(source, made.output)


def test_no_bundled_photograph_is_taken_for_a_class_map():
    """Every 8-bit photograph keeps its lossy encoding (and its size: see test_compress's expectations)."""
    photographs = [
        "RGB.byte.tif",
        "naip_rgbn_5m.tif",
        "aerial_hro_015m_intmask.tif",
        "neon_rgb_10cm_SJER.tif",
        "drone_rgba_pix4d.tif",
        "alpha.tif",
        "nitf_jitc_U_1001A_aerial_8bit.ntf",
        "s2_tci_60m.jp2",
    ]
    for name in photographs:
        dataset = open_image(sample_path(name))
        assert category_evidence(dataset) is None, name
        assert choose_encoding(read_properties(dataset), CompressionProfile()).lossy, name


def test_a_flat_hillshade_whose_valid_pixels_hold_one_value_is_kept_exact_and_smaller(cog):
    """shade.tif's valid pixels are all 0 (the rest is nodata 255): one class, lossless, and smaller than JPEG."""
    made = cog("shade.tif")
    assert made.result.encoding.reason.startswith("class map (1 class)")
    assert made.result.compressed_bytes < 60_000, "JPEG q75 made 110 kB of it"


def test_a_class_map_beyond_the_rule_is_kept_exact_when_lossless_is_requested(cog, zones):
    """40 brightness zones: too many classes for the rule, so its uploader tags it (or its prefix is listed)."""
    assert category_evidence(gdal.Open(str(zones))) is None, "the documented limit of the rule"
    assert cog(zones).result.encoding.lossy
    made = cog(zones, CompressionProfile(lossless=True))
    assert not made.result.encoding.lossy
    assert np.array_equal(gdal.Open(str(made.output)).ReadAsArray(), gdal.Open(str(zones)).ReadAsArray())


# --- lossless on request: the uploader's object tag, the operator's key prefixes --------------------


@pytest.fixture(scope="module")
def zones(tmp_path_factory) -> Path:
    """40 brightness zones of the NAIP scene as 8-bit codes: a class map the automatic rule can't see."""
    brightness = gdal.Open(str(sample_path("naip_rgbn_5m.tif"))).ReadAsArray()[:3].mean(axis=0)
    codes = np.digitize(brightness, np.linspace(brightness.min(), brightness.max(), 40)).astype(np.uint8) * 5
    return write_derived(tmp_path_factory.mktemp("zones") / "zones.tif", sample_path("naip_rgbn_5m.tif"), codes[None])


def archived_encoding(buckets, key: str) -> str:
    output = buckets.client.head_object(Bucket=buckets.output, Key=f"output/{key}")
    return output["Metadata"]["encoding"]


def test_the_uploaders_tag_and_the_operators_prefixes_keep_objects_lossless(buckets, monkeypatch, tmp_path, zones):
    from imagery_archive_cli.local.events import event_for_objects  # noqa: PLC0415
    from imagery_archive_cli.local.function import LambdaContext  # noqa: PLC0415
    from tests.support.function import cold_start  # noqa: PLC0415 - the pipeline imports boto3 and reads env

    handler = cold_start(
        monkeypatch, OUTPUT_BUCKET=buckets.output, CPL_TMPDIR=str(tmp_path), LOSSLESS_PREFIXES="landcover/,masks/"
    )
    body = zones.read_bytes()
    buckets.client.put_object(Bucket=buckets.input, Key="plain/zones.tif", Body=body)
    buckets.client.put_object(
        Bucket=buckets.input, Key="tagged/zones.tif", Body=body, Tagging="imagery-archive%3Aencoding=lossless"
    )
    buckets.client.put_object(Bucket=buckets.input, Key="landcover/zones.tif", Body=body)
    keys = ["plain/zones.tif", "tagged/zones.tif", "landcover/zones.tif"]
    handler.handler(event_for_objects(buckets.client, buckets.input, keys), LambdaContext())
    assert archived_encoding(buckets, "plain/zones.tif").startswith("JPEG"), "without a request: imagery"
    assert archived_encoding(buckets, "tagged/zones.tif") == "DEFLATE", "the uploader's tag was ignored"
    assert archived_encoding(buckets, "landcover/zones.tif") == "DEFLATE", "the operator's prefix was ignored"
