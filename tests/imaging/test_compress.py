"""The GDAL core on real imagery: each kind of image comes out as a valid COG that loses nothing the
user relies on (mask, alpha, extra bands, palette, data type, georeferencing, metadata), and bad input
fails clearly without leaving anything behind.

Every COG is made once per session by the `cog` fixture (conftest.py); tests only read it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import crop, sample_path, write_derived
from osgeo import gdal
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate
from skimage.metrics import structural_similarity

from imagery_archive.errors import (
    CorruptImageError,
    PermanentError,
    UnreadableImageError,
)
from imagery_archive.imaging.compress import compress, configure_gdal, open_image, read_properties
from imagery_archive.imaging.profiles import CompressionProfile

pytestmark = pytest.mark.usefixtures("production_gdal")

JPEG = CompressionProfile()
WEBP = CompressionProfile(codec="WEBP")
DEFLATE = CompressionProfile(codec="DEFLATE")


# --- reading helpers: every dataset stays referenced while its bands are read ------------------------


def pixels(path: Path) -> np.ndarray:
    """All bands, as bands x rows x cols."""
    dataset = gdal.Open(str(path))
    values = dataset.ReadAsArray()
    return values if values.ndim == 3 else values[np.newaxis]


def valid_pixels(path: Path) -> np.ndarray:
    """Where the file says there is data: GDAL's mask of band 1 (nodata, alpha or per-dataset mask)."""
    dataset = gdal.Open(str(path))
    return dataset.GetRasterBand(1).GetMaskBand().ReadAsArray() > 0


def structure(path: Path) -> dict[str, str]:
    dataset = gdal.Open(str(path))
    return dataset.GetMetadata("IMAGE_STRUCTURE")


def bands_of(path: Path) -> list[tuple[str, float | None, int, str]]:
    """(colour interpretation, nodata, mask flags, data type) of each band."""
    dataset = gdal.Open(str(path))
    described = []
    for index in range(1, dataset.RasterCount + 1):
        band = dataset.GetRasterBand(index)
        described.append(
            (
                gdal.GetColorInterpretationName(band.GetColorInterpretation()),
                band.GetNoDataValue(),
                band.GetMaskFlags(),
                gdal.GetDataTypeName(band.DataType),
            )
        )
    return described


def all_bands_equal(values: np.ndarray, value: float) -> np.ndarray:
    return (values == value).all(axis=0)


def describe_mismatch(expected_valid: np.ndarray, valid: np.ndarray) -> str:
    lost = int((expected_valid & ~valid).sum())
    invented = int((~expected_valid & valid).sum())
    return f"{lost} data pixels masked out, {invented} nodata pixels turned into data"


def non_empty_metadata(path: Path, prefix: str) -> dict[str, str]:
    dataset = gdal.Open(str(path))
    return {k: v.strip() for k, v in dataset.GetMetadata().items() if k.startswith(prefix) and v.strip()}


RPC_POLYNOMIALS = ("LINE_NUM", "LINE_DEN", "SAMP_NUM", "SAMP_DEN")


def rpc_numbers(path: Path) -> dict[str, list[float]]:
    dataset = gdal.Open(str(path))
    return {key: [float(x) for x in value.split()] for key, value in dataset.GetMetadata("RPC").items()}


# --- every output is a valid COG ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "profile"),
    [
        ("RGB.byte.tif", JPEG),
        ("RGB.byte.tif", WEBP),
        ("naip_rgbn_5m.tif", JPEG),
        ("nitf_spot_cib_palette.ntf", JPEG),
        ("sentinel1_grd_gcps.tif", JPEG),
        ("dsm_lidar_float32.tif", JPEG),
        ("landsat8_rgb16_60m.tif", CompressionProfile(max_z_error=4)),
    ],
    ids=["rgb-jpeg", "rgb-webp", "rgbn-jpeg", "palette", "uint16-gcps", "float32", "uint16-lerc"],
)
def test_output_is_a_valid_cog_with_overviews_in_512_tiles(cog, source, profile):
    output = cog(source, profile).output
    warnings, errors, _ = validate(str(output), full_check=True)
    assert errors == [], f"GDAL's COG validator rejects the output: {errors}"
    dataset = gdal.Open(str(output))
    assert dataset.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG", "not in COG layout: slow to read"
    for index in range(1, dataset.RasterCount + 1):
        assert dataset.GetRasterBand(index).GetBlockSize() == [512, 512], "not tiled 512: slow range reads"
    if max(dataset.RasterXSize, dataset.RasterYSize) > 512:
        assert dataset.GetRasterBand(1).GetOverviewCount() >= 1, f"no overviews: zoomed-out views {warnings}"


# --- 8-bit RGB: JPEG YCbCr at the configured quality -------------------------------------------------


@pytest.mark.parametrize("quality", [75, 95])
def test_rgb_is_ycbcr_jpeg_at_the_configured_quality(cog, quality):
    made = cog("RGB.byte.tif", CompressionProfile(quality=quality))
    layout = structure(made.output)
    assert layout["COMPRESSION"] == "YCbCr JPEG", "RGB JPEG without YCbCr is about 2x larger"
    assert layout["JPEG_QUALITY"] == str(quality), "the configured quality was not applied"
    assert [band[0] for band in bands_of(made.output)] == ["Red", "Green", "Blue"]
    assert made.result.encoding.quality == quality


# --- nodata becomes an exact mask --------------------------------------------------------------------


def test_nodata_collar_becomes_an_exact_mask(cog):
    made = cog("RGB.byte.tif")
    source_nodata = all_bands_equal(pixels(made.source), 0)
    assert int(source_nodata.sum()) == 184_823, "RGB.byte.tif is not the Landsat subset these tests expect"
    output_invalid = ~valid_pixels(made.output)
    assert int(output_invalid.sum()) == int(source_nodata.sum()), describe_mismatch(~source_nodata, ~output_invalid)
    assert np.array_equal(output_invalid, source_nodata), (
        f"the valid/invalid boundary moved: {describe_mismatch(~source_nodata, ~output_invalid)}"
    )


def test_plain_gdal_translate_to_jpeg_fails_that_check(tmp_path):
    """The control: without the mask, JPEG turns thousands of collar pixels into near-black 'data'."""
    source = sample_path("RGB.byte.tif")
    plain = tmp_path / "plain.tif"
    gdal.Translate(str(plain), str(source), format="COG", creationOptions=["COMPRESS=JPEG", "QUALITY=75"])
    source_nodata = all_bands_equal(pixels(source), 0)
    plain_nodata = all_bands_equal(pixels(plain), 0)
    became_data = int((source_nodata & ~plain_nodata).sum())
    assert became_data > 10_000, f"only {became_data} collar pixels became data: the control proves nothing"


def test_a_pixel_is_nodata_only_when_every_band_is(cog):
    made = cog("RGB.byte.tif")
    source = pixels(made.source)
    partly_zero = (source == 0).any(axis=0) & ~all_bands_equal(source, 0)
    assert partly_zero.sum() > 100, "the sample has no partly-zero pixels to check"
    assert valid_pixels(made.output)[partly_zero].all(), "dark pixels with one band at 0 were masked out"


def test_lossy_output_drops_nodata_for_a_per_dataset_mask(cog):
    for _interp, nodata, mask_flags, _type in bands_of(cog("RGB.byte.tif").output):
        assert nodata is None, "a nodata value on JPEG pixels marks the wrong pixels"
        assert mask_flags == gdal.GMF_PER_DATASET, "no exact mask: the collar would show as data"


@pytest.fixture(scope="module")
def landsat_red(tmp_path_factory) -> Path:
    """Landsat's red band alone, its 0 collar declared nodata: a single-band photograph with nodata."""
    red = pixels(sample_path("RGB.byte.tif"))[:1]
    return write_derived(tmp_path_factory.mktemp("red") / "red.tif", sample_path("RGB.byte.tif"), red, nodata=0)


def test_single_band_nodata_becomes_an_exact_mask(cog, landsat_red):
    made = cog(landsat_red)
    assert made.result.encoding.lossy
    expected_valid = pixels(landsat_red)[0] != 0
    valid = valid_pixels(made.output)
    assert np.array_equal(valid, expected_valid), describe_mismatch(expected_valid, valid)
    assert bands_of(made.output)[0][1:3] == (None, gdal.GMF_PER_DATASET)


def test_a_lossless_single_band_keeps_its_nodata_value(cog):
    made = cog("shade.tif")  # its valid pixels are one class: lossless (see test_class_fidelity)
    expected_valid = pixels(made.source)[0] != 255
    valid = valid_pixels(made.output)
    assert np.array_equal(valid, expected_valid), describe_mismatch(expected_valid, valid)
    assert bands_of(made.output)[0][1:3] == (255.0, gdal.GMF_NODATA)


def test_an_internal_mask_is_copied_exactly(cog):
    made = cog("aerial_hro_015m_intmask.tif")
    expected_valid = valid_pixels(made.source)
    assert (~expected_valid).sum() > 0, "the sample's internal mask masks nothing"
    assert np.array_equal(valid_pixels(made.output), expected_valid), describe_mismatch(
        expected_valid, valid_pixels(made.output)
    )


# --- alpha becomes a mask ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["RGBA.byte.tif", "drone_rgba_pix4d.tif"])
def test_alpha_band_becomes_the_mask(cog, source):
    made = cog(source)
    expected_valid = pixels(made.source)[3] > 0
    bands = bands_of(made.output)
    assert [band[0] for band in bands] == ["Red", "Green", "Blue"], "the alpha band was JPEG-encoded as colour"
    valid = valid_pixels(made.output)
    assert np.array_equal(valid, expected_valid), describe_mismatch(expected_valid, valid)
    assert all(band[2] == gdal.GMF_PER_DATASET for band in bands)


@pytest.mark.parametrize("profile", [JPEG, DEFLATE], ids=["jpeg", "deflate"])
def test_out_of_range_nodata_does_not_become_zero(cog, profile):
    """The drone's nodata is -10000 on 8-bit data: it marks no pixel, and must not be clamped to 0."""
    made = cog("drone_rgba_pix4d.tif", profile)
    assert [band[1] for band in bands_of(made.output)] == [None] * len(bands_of(made.output)), (
        "nodata=0 would turn every black pixel into a hole"
    )
    source = pixels(made.source)
    dark_but_opaque = (source[:3] == 0).any(axis=0) & (source[3] > 0)
    assert dark_but_opaque.sum() > 0, "the sample has no dark opaque pixels to check"
    assert valid_pixels(made.output)[dark_but_opaque].all(), "opaque pixels with a 0 band were masked"
    assert int(valid_pixels(made.output).sum()) == int((source[3] > 0).sum())


# --- RGBN: the near-infrared band is data ------------------------------------------------------------


def test_rgbn_keeps_near_infrared_as_data(cog):
    made = cog("naip_rgbn_5m.tif")
    bands = bands_of(made.output)
    assert len(bands) == 4, "the near-infrared band was dropped"
    assert all(band[0] != "Alpha" for band in bands), "near-infrared was taken for transparency"
    assert all(not band[2] & gdal.GMF_ALPHA for band in bands), "near-infrared values became the mask"

    source, output = pixels(made.source).astype(float), pixels(made.output).astype(float)
    valid = valid_pixels(made.output)
    assert np.array_equal(valid, ~all_bands_equal(source, 0)), "the mask is not the all-bands nodata"
    nir_error = np.abs(source[3] - output[3])[valid].mean()
    nir_correlation = np.corrcoef(source[3][valid], output[3][valid])[0, 1]
    assert nir_error < 4, f"near-infrared off by {nir_error:.1f} DN on average: vegetation indices shift"
    assert nir_correlation > 0.99, f"near-infrared no longer follows the source (r={nir_correlation:.3f})"


# --- single-band 8-bit -------------------------------------------------------------------------------


def test_single_band_8_bit_is_grayscale_jpeg(cog):
    made = cog("nitf_jitc_U_1001A_aerial_8bit.ntf")
    layout = structure(made.output)
    assert layout["COMPRESSION"] == "JPEG"
    assert layout["JPEG_QUALITY"] == "75"
    assert len(bands_of(made.output)) == 1
    assert made.result.ssim > 0.9, f"the aerial photo is visibly damaged (SSIM {made.result.ssim:.3f})"


def test_single_band_with_nodata_is_grayscale_jpeg(cog, landsat_red):
    assert structure(cog(landsat_red).output)["COMPRESSION"] == "JPEG"


# --- paletted: lossless ------------------------------------------------------------------------------


def test_paletted_stays_lossless_with_its_colour_table_and_nodata(cog):
    made = cog("nitf_spot_cib_palette.ntf")
    assert structure(made.output)["COMPRESSION"] == "DEFLATE"
    assert np.array_equal(pixels(made.output), pixels(made.source)), "class values changed"
    source, output = gdal.Open(str(made.source)), gdal.Open(str(made.output))
    source_table = source.GetRasterBand(1).GetColorTable()
    output_table = output.GetRasterBand(1).GetColorTable()
    assert output_table is not None, "the colour table was lost: the image shows as grey indices"
    # GeoTIFF palettes always have 2**bits entries: the 217 NITF entries come first, the rest are unused.
    assert output_table.GetCount() >= source_table.GetCount()
    for index in range(source_table.GetCount()):
        assert output_table.GetColorEntry(index) == source_table.GetColorEntry(index), f"colour {index}"
    assert output.GetRasterBand(1).GetNoDataValue() == 216, "nodata 216 would be shown as a colour"
    assert gdal.GetColorInterpretationName(output.GetRasterBand(1).GetColorInterpretation()) == "Palette"
    assert made.result.ssim == 1.0


# --- 16-bit and float: data type kept, lossless unless told otherwise --------------------------------

LOSSLESS_DEEP = [
    "landsat8_rgb16_60m.tif",
    "sentinel1_grd_gcps.tif",
    "worldview_pan_rpc_11bit.tif",
    "dsm_lidar_float32.tif",
    "s2_b04_60m.jp2",
    "rgb_uint16",
    "dsm_holes",
]


def resolve(request: pytest.FixtureRequest, source: str) -> Path:
    """A sample by file name, or a derived image by its fixture's name."""
    return sample_path(source) if "." in source else request.getfixturevalue(source)


@pytest.mark.parametrize("source", LOSSLESS_DEEP)
def test_deep_data_is_lossless_by_default(request, cog, source):
    made = cog(resolve(request, source))
    source_bands, output_bands = bands_of(made.source), bands_of(made.output)
    assert [b[3] for b in output_bands] == [b[3] for b in source_bands], "the data type changed"
    assert [b[1] for b in output_bands] == [b[1] for b in source_bands], "the nodata value changed"
    assert np.array_equal(pixels(made.output), pixels(made.source), equal_nan=True), "pixel values changed"
    assert not made.result.encoding.lossy
    assert made.result.ssim == 1.0


def test_15_bit_jpeg2000_is_read_as_full_samples(cog):
    """Sentinel-2's 15-bit NBITS samples once came out as garbage through LERC; now exact."""
    made = cog("s2_b04_60m.jp2")
    dataset = gdal.Open(str(made.source))
    assert dataset.GetRasterBand(1).GetMetadataItem("NBITS", "IMAGE_STRUCTURE") == "15"
    output = pixels(made.output)
    assert output.max() > 0, "all-black output"
    assert np.array_equal(output, pixels(made.source))


@pytest.mark.parametrize(
    ("source", "max_z_error", "nodata"),
    [("rgb_uint16", 64, 0), ("dsm_holes", 0.05, -9999.0), ("worldview_pan_rpc_11bit.tif", 3, 0)],
)
def test_max_z_error_bounds_the_error_and_keeps_the_mask_exact(request, cog, source, max_z_error, nodata):
    path = resolve(request, source)
    made = cog(path, CompressionProfile(max_z_error=max_z_error))
    lossless = cog(path)
    source_values, output_values = pixels(path).astype(np.float64), pixels(made.output).astype(np.float64)
    expected_valid = ~all_bands_equal(source_values, nodata)
    valid = valid_pixels(made.output)

    assert [b[3] for b in bands_of(made.output)] == [b[3] for b in bands_of(path)], "the data type changed"
    assert np.array_equal(valid, expected_valid), describe_mismatch(expected_valid, valid)
    error = np.abs(output_values - source_values)[:, valid].max()
    float_slack = float(np.spacing(np.float32(np.abs(source_values[:, valid]).max())))
    assert error <= max_z_error + float_slack, f"error {error} exceeds MAX_Z_ERROR={max_z_error}"
    assert error > 0, "MAX_Z_ERROR had no effect: nothing was gained"
    assert made.result.compressed_bytes < lossless.result.compressed_bytes, "lossy is not smaller"
    assert made.result.encoding.lossy
    assert 0.9 < made.result.ssim < 1.0


def test_nan_nodata_becomes_an_exact_mask_under_max_z_error(cog, dsm_nan_holes):
    made = cog(dsm_nan_holes, CompressionProfile(max_z_error=0.05))
    expected_valid = ~np.isnan(pixels(dsm_nan_holes)[0])
    valid = valid_pixels(made.output)
    assert (~expected_valid).sum() > 0
    assert np.array_equal(valid, expected_valid), describe_mismatch(expected_valid, valid)
    error = np.abs(pixels(made.output)[0] - pixels(dsm_nan_holes)[0])[valid].max()
    assert error <= 0.05 + 1e-5


@pytest.mark.parametrize("max_z_error", [0, 2])
def test_64_bit_integers_keep_their_values(cog, dsm_int64_mm, max_z_error):
    made = cog(dsm_int64_mm, CompressionProfile(max_z_error=max_z_error))
    error = np.abs(pixels(made.output) - pixels(dsm_int64_mm)).max()
    assert error <= max_z_error, f"elevations off by up to {error} mm"


def test_multi_band_float_with_nan_under_max_z_error(cog, reflectance_nan):
    made = cog(reflectance_nan, CompressionProfile(max_z_error=0.001))
    source = pixels(reflectance_nan)
    expected_valid = ~np.isnan(source).all(axis=0)
    valid = valid_pixels(made.output)
    assert np.array_equal(valid, expected_valid), describe_mismatch(expected_valid, valid)
    error = np.abs(pixels(made.output) - source)[:, valid].max()
    assert error <= 0.001 + 1e-7, f"reflectance off by {error}, more than MAX_Z_ERROR=0.001"


def test_complex_sar_compresses_losslessly(cog, sar_complex):
    made = cog(sar_complex)
    assert np.array_equal(pixels(made.output), pixels(sar_complex)), "I/Q samples changed"
    assert bands_of(made.output)[0][3] == "CInt16"


def test_complex_sar_overviews_are_real_samples(cog, sar_complex):
    """NEAREST, not the AVERAGE other COGs get: an average of I/Q samples blends their phases."""
    dataset = gdal.Open(str(cog(sar_complex).output))
    overview = dataset.GetRasterBand(1).GetOverview(0).ReadAsArray()
    assert np.array_equal(overview, pixels(sar_complex)[0, ::2, ::2]), "the overview's I/Q samples were averaged"


# --- georeferencing and metadata ---------------------------------------------------------------------


def test_geotransform_and_crs_are_kept(cog):
    made = cog("RGB.byte.tif")
    source, output = gdal.Open(str(made.source)), gdal.Open(str(made.output))
    assert output.GetGeoTransform() == source.GetGeoTransform(), "the image moved on the map"
    assert output.GetSpatialRef().IsSame(source.GetSpatialRef()), "the CRS changed"


def test_gcps_are_kept(cog):
    made = cog("sentinel1_grd_gcps.tif")
    source, output = gdal.Open(str(made.source)), gdal.Open(str(made.output))
    assert source.GetGCPCount() == 210
    assert output.GetGCPCount() == source.GetGCPCount(), "the SAR scene can no longer be located"

    def points(dataset):
        return [(p.GCPPixel, p.GCPLine, p.GCPX, p.GCPY, p.GCPZ) for p in dataset.GetGCPs()]

    assert points(output) == points(source)
    assert output.GetGCPSpatialRef().IsSame(source.GetGCPSpatialRef())
    assert output.GetGeoTransform(can_return_null=True) is None, "a made-up geotransform was added"


def test_rpcs_are_kept(cog):
    made = cog("worldview_pan_rpc_11bit.tif")
    source_rpc = gdal.Open(str(made.source)).GetMetadata("RPC")
    assert all(len(source_rpc[f"{kind}_COEFF"].split()) == 20 for kind in RPC_POLYNOMIALS)
    assert gdal.Open(str(made.output)).GetMetadata("RPC") == source_rpc, "the chip can't be orthorectified"


def test_rpcs_of_a_nitf_are_kept(cog, worldview_nitf):
    nitf = gdal.Open(str(worldview_nitf))
    assert "RPC00B" in nitf.GetMetadata("TRE"), "GDAL didn't write the RPC00B TRE"
    original = rpc_numbers(sample_path("worldview_pan_rpc_11bit.tif"))
    from_tre = rpc_numbers(worldview_nitf)
    for kind in RPC_POLYNOMIALS:  # RPC00B keeps 7 significant digits
        key = f"{kind}_COEFF"
        assert from_tre[key] == pytest.approx(original[key], rel=1e-6, abs=1e-9), key

    # MIN/MAX_LAT/LONG are validity bounds GDAL derives for NITF; GeoTIFF's RPC tag has no room for them.
    model = original.keys()
    output = rpc_numbers(cog(worldview_nitf).output)
    assert output.keys() >= model, "the NITF's RPCs were lost: it can't be orthorectified"
    for key in model:
        assert output[key] == pytest.approx(from_tre[key], rel=1e-12), key


@pytest.mark.parametrize(
    ("source", "prefix"),
    [
        ("nitf_jitc_U_1001A_aerial_8bit.ntf", "NITF_"),
        ("nitf_spot_cib_palette.ntf", "NITF_"),
        ("sentinel1_grd_gcps.tif", "TIFFTAG_"),
        ("drone_rgba_pix4d.tif", "TIFFTAG_"),
    ],
)
def test_dataset_metadata_is_kept(cog, source, prefix):
    made = cog(source)
    expected = non_empty_metadata(made.source, prefix)
    assert expected, f"the sample has no {prefix}* metadata to check"
    kept = non_empty_metadata(made.output, prefix)
    assert {k: kept.get(k) for k in expected} == expected, "acquisition and security metadata were lost"


# --- CompressionResult -------------------------------------------------------------------------------


def test_result_reports_real_sizes_and_ratio(cog):
    made = cog("RGB.byte.tif")
    result = made.result
    source = gdal.Open(str(made.source))
    assert result.original_bytes == os.path.getsize(made.source)
    assert result.compressed_bytes == os.path.getsize(made.output)
    assert result.ratio == pytest.approx(result.original_bytes / result.compressed_bytes)
    assert result.ratio > 2, f"JPEG at q75 saves almost nothing (x{result.ratio:.2f})"
    assert (result.width, result.height) == (source.RasterXSize, source.RasterYSize)
    assert result.data_type == "Byte"
    assert result.seconds > 0


def independent_ssim(source: Path, output: Path, bands: tuple[int, ...]) -> float:
    """SSIM of the full images (no decimation, no fill), averaged over the output's valid pixels."""
    before = pixels(source)[[b - 1 for b in bands]].astype(np.float64)
    after = pixels(output).astype(np.float64)
    valid = valid_pixels(output)
    scores = [
        structural_similarity(b, a, data_range=255, full=True)[1][valid].mean()
        for b, a in zip(before, after, strict=True)
    ]
    return float(np.mean(scores))


@pytest.mark.parametrize("source", ["RGB.byte.tif", "nitf_jitc_U_1001A_aerial_8bit.ntf"])
def test_result_ssim_is_measured(cog, source):
    made = cog(source)
    expected = independent_ssim(made.source, made.output, made.result.encoding.bands)
    assert 0.85 < made.result.ssim < 1.0, f"JPEG q75 of real imagery scores {made.result.ssim:.3f}"
    assert made.result.ssim == pytest.approx(expected, abs=0.01), "the reported SSIM isn't the image's"


def test_lower_quality_is_smaller_and_less_similar(cog):
    results = [cog("RGB.byte.tif", CompressionProfile(quality=q)).result for q in (30, 75, 95)]
    sizes = [r.compressed_bytes for r in results]
    scores = [r.ssim for r in results]
    assert sizes[0] < sizes[1] < sizes[2], f"QUALITY doesn't trade size: {sizes}"
    assert scores[0] < scores[1] < scores[2], f"QUALITY doesn't trade fidelity: {scores}"


def test_target_ssim_picks_the_lowest_quality_that_reaches_it(cog):
    """A small image is its own trial window, so the quality found is exactly the lowest."""
    chosen = cog("aerial_hro_015m_intmask.tif", CompressionProfile(target_ssim=0.85)).result
    assert chosen.ssim >= 0.85, f"TARGET_SSIM=0.85 asked, {chosen.ssim:.3f} delivered"
    one_lower = cog("aerial_hro_015m_intmask.tif", CompressionProfile(quality=chosen.encoding.quality - 1))
    assert one_lower.result.ssim < 0.85, "a lower quality was enough: bytes are wasted"


def test_a_lower_target_gives_a_smaller_file(cog):
    low, high = (cog("aerial_hro_015m_intmask.tif", CompressionProfile(target_ssim=t)).result for t in (0.8, 0.85))
    assert low.encoding.quality < high.encoding.quality
    assert low.compressed_bytes < high.compressed_bytes
    assert low.ssim < high.ssim


def test_target_ssim_on_an_image_larger_than_its_trial_windows(cog, sar_byte):
    result = cog(sar_byte, CompressionProfile(target_ssim=0.9)).result
    assert result.ssim >= 0.9, f"TARGET_SSIM=0.9 asked, {result.ssim:.3f} delivered"
    assert result.encoding.quality < 95


def test_an_unreachable_target_gets_the_highest_quality(cog):
    result = cog("aerial_hro_015m_intmask.tif", CompressionProfile(target_ssim=0.99)).result
    assert result.encoding.quality == 95
    assert result.ssim < 0.99


def test_target_ssim_leaves_lossless_encodings_alone(cog):
    with_target = cog("worldview_pan_rpc_11bit.tif", CompressionProfile(target_ssim=0.9)).result
    assert with_target.encoding == cog("worldview_pan_rpc_11bit.tif").result.encoding
    assert with_target.ssim == 1.0


def vsimem_trials() -> set[str]:
    return {name for name in gdal.ReadDir("/vsimem/") or [] if name.startswith("trial-")}


@pytest.mark.parametrize(
    "source",
    [
        "RGB.byte.tif",
        "aerial_hro_015m_intmask.tif",
    ],
)
def test_target_ssim_trials_leave_nothing_in_memory(tmp_path, source):
    before = vsimem_trials()
    compress(sample_path(source), tmp_path / "out.tif", CompressionProfile(target_ssim=0.8))
    assert vsimem_trials() - before == set(), "every image would leak its trial files in a warm Lambda"


def test_failed_trials_leave_nothing_in_memory(tmp_path):
    before = vsimem_trials()
    with pytest.raises(CorruptImageError):
        compress(truncated_nitf(tmp_path), tmp_path / "out.tif", CompressionProfile(target_ssim=0.9))
    assert vsimem_trials() - before == set(), "each bad input leaks its trial crops in a warm Lambda"


# --- WEBP ---------------------------------------------------------------------------------------------


def test_webp_for_rgb(cog):
    made = cog("RGB.byte.tif", WEBP)
    assert structure(made.output)["COMPRESSION"] == "WEBP"
    assert np.array_equal(~valid_pixels(made.output), all_bands_equal(pixels(made.source), 0))
    assert made.result.ssim > 0.85


def test_webp_keeps_alpha_as_the_mask(cog):
    made = cog("RGBA.byte.tif", WEBP)
    assert structure(made.output)["COMPRESSION"] == "WEBP"
    assert np.array_equal(valid_pixels(made.output), pixels(made.source)[3] > 0)


@pytest.mark.parametrize(("source", "bands"), [("nitf_jitc_U_1001A_aerial_8bit.ntf", 1), ("naip_rgbn_5m.tif", 4)])
def test_webp_falls_back_to_jpeg(cog, source, bands):
    made = cog(source, WEBP)
    assert structure(made.output)["COMPRESSION"] == "JPEG", "WEBP can't hold these bands"
    assert len(bands_of(made.output)) == bands


# --- bad input: a clear permanent error, nothing left behind -----------------------------------------


def zero_bytes(folder: Path) -> Path:
    path = folder / "empty.tif"
    path.write_bytes(b"")
    return path


def text_named_tif(folder: Path) -> Path:
    path = folder / "notes.tif"
    path.write_text("Flight log 2026-11-02: tiles delivered to the bucket tomorrow.\n" * 40)
    return path


def first_half(source: Path, folder: Path, name: str) -> Path:
    data = source.read_bytes()
    path = folder / name
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_geotiff(folder: Path) -> Path:
    """RGB.byte.tif cut in half: its directory is at the end, so it is lost."""
    return first_half(sample_path("RGB.byte.tif"), folder, "half.tif")


def truncated_cog(folder: Path) -> Path:
    """A COG cut in half: the header is intact, the tiles are missing (an interrupted upload)."""
    whole = folder / "whole" / "cog.tif"
    whole.parent.mkdir()
    gdal.Translate(str(whole), str(sample_path("RGB.byte.tif")), format="COG", creationOptions=["COMPRESS=NONE"])
    return first_half(whole, folder, "half_cog.tif")


def truncated_nitf(folder: Path) -> Path:
    return first_half(sample_path("nitf_jitc_U_1001A_aerial_8bit.ntf"), folder, "half.ntf")


def truncated_jpeg2000(folder: Path) -> Path:
    (folder / "whole").mkdir()
    whole = crop(sample_path("RGB.byte.tif"), folder / "whole" / "chip.jp2", 200, 200, 256, 256, format="JP2OpenJPEG")
    return first_half(whole, folder, "half.jp2")


def truncated_sentinel2(folder: Path) -> Path:
    return first_half(sample_path("s2_b04_60m.jp2"), folder, "half_s2.jp2")


@pytest.mark.parametrize(
    ("make_input", "error", "says"),
    [
        (zero_bytes, UnreadableImageError, "empty"),
        # GDAL 3.6: "not recognized as a supported file format"; 3.10: "... as being in a supported ...".
        (text_named_tif, UnreadableImageError, "not recognized as (being in )?a supported file format"),
        (truncated_geotiff, UnreadableImageError, "TIFFReadDirectory"),
        # GDAL reads a tile alone ("IReadBlock failed") or a whole row of them at once ("Cannot read").
        (truncated_cog, CorruptImageError, "IReadBlock failed|Cannot read [0-9]+ bytes at offset"),
        (truncated_nitf, CorruptImageError, "Unable to read"),
        (truncated_jpeg2000, CorruptImageError, "opj_"),
        (truncated_sentinel2, CorruptImageError, "pixels failed"),
    ],
    ids=["zero-bytes", "text", "truncated-geotiff", "truncated-cog", "truncated-nitf", "truncated-jp2", "truncated-s2"],
)
def test_broken_input_is_a_clear_permanent_error_leaving_nothing(tmp_path, make_input, error, says):
    incoming, out = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    out.mkdir()
    source = make_input(incoming)
    destination = out / "result.tif"
    with pytest.raises(PermanentError) as caught:
        compress(source, destination, JPEG)
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
    assert re.search(says, str(caught.value)), f"the message doesn't say what is wrong: {caught.value}"
    assert sorted(out.iterdir()) == [], "a half-written output or .partial file was left behind"


def test_the_decoders_reason_reaches_the_error(tmp_path):
    with pytest.raises(CorruptImageError, match=r"opj_|Stream too short"):
        compress(truncated_sentinel2(tmp_path), tmp_path / "out.tif", JPEG)


def test_open_image_refuses_an_empty_file(tmp_path):
    with pytest.raises(UnreadableImageError, match="empty"):
        open_image(zero_bytes(tmp_path))


def test_an_unwritable_destination_is_not_blamed_on_the_input(tmp_path):
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the point is which kind it is not
        compress(sample_path("shade.tif"), tmp_path / "missing" / "out.tif", JPEG)
    assert not isinstance(caught.value, PermanentError), f"input blamed: {caught.value}"


def test_a_two_row_strip_compresses(cog, rgb_strip):
    assert cog(rgb_strip).result.ssim > 0.5


# --- reading properties and configuring GDAL ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("naip_rgbn_5m.tif", {"band_count": 4, "alpha_band": None, "nodata": 0.0, "data_type": "Byte"}),
        ("drone_rgba_pix4d.tif", {"alpha_band": 4, "nodata": -10000.0, "nodata_representable": False}),
        ("aerial_hro_015m_intmask.tif", {"has_dataset_mask": True, "nodata": None}),
        ("nitf_spot_cib_palette.ntf", {"has_palette": True, "nodata": 216.0}),
        ("s2_b04_60m.jp2", {"data_type": "UInt16", "band_count": 1}),
        ("dsm_lidar_float32.tif", {"data_type": "Float32", "nodata": -9999.0, "nodata_representable": True}),
    ],
)
def test_read_properties(source, expected):
    props = read_properties(open_image(sample_path(source)))
    assert {key: getattr(props, key) for key in expected} == expected


def test_configure_gdal(tmp_path):
    names = ["GDAL_NUM_THREADS", "CPL_TMPDIR", "GDAL_DISABLE_READDIR_ON_OPEN", "GDAL_PAM_ENABLED"]
    saved = {name: gdal.GetConfigOption(name) for name in names}
    saved_cache = gdal.GetCacheMax()
    try:
        configure_gdal(cache_mb=123, tmp_dir=str(tmp_path))
        assert gdal.GetCacheMax() == 123 * 1024 * 1024
        assert {name: gdal.GetConfigOption(name) for name in names} == {
            "GDAL_NUM_THREADS": "ALL_CPUS",
            "CPL_TMPDIR": str(tmp_path),
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
            "GDAL_PAM_ENABLED": "NO",
        }
        made = compress(sample_path("aerial_hro_015m_intmask.tif"), tmp_path / "out.tif", JPEG)
        assert made.ssim > 0.8
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"], "sidecar files were left behind"
    finally:
        for name, value in saved.items():
            gdal.SetConfigOption(name, value)
        gdal.SetCacheMax(saved_cache)
