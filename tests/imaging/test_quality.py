"""SSIM on a decimated read: what it ignores (masked pixels, overviews) and what it notices (damage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import sample_path, write_derived
from osgeo import gdal

from imagery_archive.imaging import quality as quality_module
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.imaging.quality import PREVIEW_SIZE, masked_ssim, measure_ssim, preview_shape, read_preview

pytestmark = pytest.mark.usefixtures("production_gdal")

SEED = 20261125


@pytest.fixture(scope="module")
def landsat() -> np.ndarray:
    """A 3 x 256 x 256 window of real Landsat imagery (RGB.byte.tif, inside the collar), as float."""
    dataset = gdal.Open(str(sample_path("RGB.byte.tif")))
    return dataset.ReadAsArray(300, 250, 256, 256).astype(np.float64)


def noisy(pixels: np.ndarray, sigma: float, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(pixels + rng.normal(0, sigma, pixels.shape), 0, 255)


def everywhere(pixels: np.ndarray) -> np.ndarray:
    return np.ones(pixels.shape[-2:], dtype=bool)


def left_half(pixels: np.ndarray) -> np.ndarray:
    valid = everywhere(pixels)
    valid[:, pixels.shape[-1] // 2 :] = False
    return valid


# --- masked_ssim -------------------------------------------------------------------------------------


def test_identical_images_score_exactly_one(landsat):
    assert masked_ssim(landsat, landsat.copy(), everywhere(landsat), 255.0) == 1.0
    assert masked_ssim(landsat, landsat.copy(), everywhere(landsat)) == 1.0


def test_more_noise_scores_lower(landsat):
    scores = [masked_ssim(landsat, noisy(landsat, sigma), everywhere(landsat), 255.0) for sigma in (2, 8, 32)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0, f"SSIM doesn't track damage: {scores}"


def test_pixels_under_the_mask_do_not_count(landsat):
    valid = left_half(landsat)
    damaged = noisy(landsat, 8)
    baseline = masked_ssim(landsat, damaged, valid, 255.0)

    garbage_under_mask = damaged.copy()
    garbage_under_mask[:, ~valid] = 255.0
    original_changed_under_mask = landsat.copy()
    original_changed_under_mask[:, ~valid] = 0.0

    assert masked_ssim(landsat, garbage_under_mask, valid, 255.0) == pytest.approx(baseline, abs=1e-12)
    assert masked_ssim(original_changed_under_mask, damaged, valid, 255.0) == pytest.approx(baseline, abs=1e-12), (
        "what lies under the nodata mask would count against the compression"
    )


def test_damage_only_under_the_mask_scores_one(landsat):
    valid = left_half(landsat)
    damaged = landsat.copy()
    damaged[:, ~valid] = noisy(landsat, 40)[:, ~valid]
    assert masked_ssim(landsat, damaged, valid, 255.0) == 1.0
    assert masked_ssim(landsat, damaged, everywhere(landsat), 255.0) < 1.0, "the mask is what hides it"


def test_nothing_valid_scores_one(landsat):
    assert masked_ssim(landsat, noisy(landsat, 40), np.zeros(landsat.shape[1:], dtype=bool)) == 1.0


def test_non_finite_values_are_ignored(landsat):
    damaged = noisy(landsat, 8)
    baseline = masked_ssim(landsat, damaged, left_half(landsat), 255.0)
    with_nan = damaged.copy()
    with_nan[:, ~left_half(landsat)] = np.nan
    assert masked_ssim(landsat, with_nan, everywhere(landsat), 255.0) == pytest.approx(baseline, abs=1e-12)


def test_the_default_range_is_the_datas_spread_not_the_types(landsat):
    """11-bit data in uint16: damage measured against 0-65535 would look negligible."""
    sensor = landsat[:1] * 8 + 200  # about 200 .. 2240, like an 11-bit sensor
    damaged = noisy(sensor / 8, 8) * 8
    default = masked_ssim(sensor, damaged, everywhere(sensor))
    full_type_range = masked_ssim(sensor, damaged, everywhere(sensor), 65535.0)
    assert default < 0.95 < full_type_range, (default, full_type_range)


def test_bands_are_averaged(landsat):
    damaged = landsat.copy()
    damaged[2] = noisy(landsat[2], 16)
    per_band = [masked_ssim(landsat[[b]], damaged[[b]], everywhere(landsat), 255.0) for b in range(3)]
    assert per_band[:2] == [1.0, 1.0]
    assert masked_ssim(landsat, damaged, everywhere(landsat), 255.0) == pytest.approx(np.mean(per_band))


def test_band_counts_must_match(landsat):
    with pytest.raises(ValueError, match=r"shorter|longer"):
        masked_ssim(landsat, landsat[:2], everywhere(landsat))


@pytest.mark.parametrize("rows", [1, 2])
def test_a_strip_thinner_than_the_window_can_be_scored(landsat, rows):
    strip = landsat[:, :rows, :]
    assert 0.0 < masked_ssim(strip, noisy(strip, 8), everywhere(strip), 255.0) < 1.0


# --- preview_shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "limit", "expected"),
    [
        (791, 718, 2048, (791, 718)),
        (2048, 10, 2048, (2048, 10)),
        (4096, 2048, 2048, (2048, 1024)),
        (1830, 6000, 2048, (625, 2048)),
        (100_000, 3, 2048, (2048, 1)),
        (1000, 500, 100, (100, 50)),
    ],
)
def test_preview_shape(width, height, limit, expected):
    assert preview_shape(width, height, limit=limit) == expected


def test_preview_shape_defaults_to_the_preview_size():
    side = PREVIEW_SIZE * 3
    assert preview_shape(side, side) == (PREVIEW_SIZE, PREVIEW_SIZE)
    assert preview_shape(PREVIEW_SIZE, 7) == (PREVIEW_SIZE, 7), "an image that fits is read whole"


@pytest.mark.parametrize(("width", "height"), [(40_000, 30_000), (5000, 321), (3, 9000), (2049, 2049)])
def test_preview_caps_the_long_side_and_keeps_the_aspect(width, height):
    preview_width, preview_height = preview_shape(width, height)
    assert max(preview_width, preview_height) == PREVIEW_SIZE
    scale = PREVIEW_SIZE / max(width, height)
    for preview, side in ((preview_width, width), (preview_height, height)):
        assert abs(preview - side * scale) <= 0.5 or preview == 1, "the preview is stretched"


# --- reading real files ------------------------------------------------------------------------------


def test_read_preview_of_a_small_image_is_the_full_image_and_its_mask():
    path = sample_path("RGB.byte.tif")
    pixels, valid = read_preview(str(path))
    dataset = gdal.Open(str(path))
    assert np.array_equal(pixels, dataset.ReadAsArray())
    assert np.array_equal(valid, dataset.GetRasterBand(1).ReadAsArray() != 0), "band 1's nodata mask"
    two_bands, _ = read_preview(str(path), (3, 1))
    assert np.array_equal(two_bands, dataset.ReadAsArray()[[2, 0]])


@pytest.fixture(scope="module")
def wide_with_lying_overview(tmp_path_factory) -> Path:
    """4100 x 300 image whose overview holds garbage: a decimated read must not take it."""
    row = np.arange(4100, dtype=np.uint16) % 251
    values = np.tile(row, (300, 1))[np.newaxis] + np.arange(300, dtype=np.uint16)[:, np.newaxis]
    path = write_derived(
        tmp_path_factory.mktemp("quality") / "wide.tif", sample_path("RGB.byte.tif"), values.astype(np.uint8)
    )
    dataset = gdal.Open(str(path), gdal.GA_Update)
    dataset.BuildOverviews("NEAREST", [2, 4, 8])
    for level in range(dataset.GetRasterBand(1).GetOverviewCount()):
        overview = dataset.GetRasterBand(1).GetOverview(level)
        overview.WriteArray(np.full((overview.YSize, overview.XSize), 7, dtype=np.uint8))
    dataset = None
    return path


def test_read_preview_decimates_full_resolution_not_the_overviews(wide_with_lying_overview):
    pixels, valid = read_preview(str(wide_with_lying_overview))
    width, height = preview_shape(4100, 300)
    assert width < 4100, "the test image must be larger than a preview"
    assert pixels.shape == (1, height, width)
    assert valid.shape == (height, width)
    assert valid.all()
    assert (pixels != 7).mean() > 0.9, "SSIM would compare the overviews, not the pixels users get"
    full = gdal.Open(str(wide_with_lying_overview)).ReadAsArray()
    assert np.isin(pixels, full).all()


def test_measure_ssim_of_a_file_against_itself_is_one():
    path = str(sample_path("naip_rgbn_5m.tif"))
    assert measure_ssim(path, path, (1, 2, 3, 4)) == 1.0


def test_measure_ssim_sees_jpeg_damage(tmp_path):
    source = sample_path("aerial_hro_015m_intmask.tif")
    scores = []
    for quality in (10, 90):
        output = tmp_path / f"q{quality}.tif"
        gdal.Translate(str(output), str(source), format="COG", creationOptions=["COMPRESS=JPEG", f"QUALITY={quality}"])
        scores.append(measure_ssim(str(source), str(output), (1, 2, 3)))
    assert 0.0 < scores[0] < scores[1] < 1.0, f"SSIM doesn't rank JPEG q10 below q90: {scores}"


def test_damage_to_the_imaginary_part_is_seen(landsat):
    original = landsat[:1] + 1j * landsat[1:2]
    damaged = landsat[:1] + 1j * noisy(landsat[1:2], 16)
    assert masked_ssim(original, damaged, everywhere(original)) < 1.0, "Q (imaginary) damage is invisible"


# --- measure_ssim streams strips of rows: the same score as the whole images, in bounded memory ---------


def whole_image_ssim(original: Path, compressed: Path, bands: tuple[int, ...]) -> float:
    """The measure computed on both images held whole (what measure_ssim did before it streamed)."""
    before, _ = read_preview(str(original), bands)
    after, valid = read_preview(str(compressed))
    return masked_ssim(before, after, valid, 255.0 if before.dtype == np.uint8 else None)


@pytest.mark.parametrize(
    ("source", "profile"),
    [
        ("RGB.byte.tif", CompressionProfile()),
        ("landsat8_rgb16_60m.tif", CompressionProfile(max_z_error=40)),
        ("dsm_nan_holes", CompressionProfile(max_z_error=0.5)),
        ("wide_with_lying_overview", CompressionProfile(quality=30)),
    ],
    ids=["byte-jpeg-nodata-collar", "uint16-lerc", "float-nan-holes", "decimated-4100-wide"],
)
def test_streamed_strips_score_what_the_whole_images_score(request, cog, monkeypatch, source, profile):
    path = request.getfixturevalue(source) if source in ("dsm_nan_holes", "wide_with_lying_overview") else source
    made = cog(path, profile)
    bands = made.result.encoding.bands
    whole = whole_image_ssim(made.source, made.output, bands)
    assert whole < 1.0, "a lossy output, or the test proves nothing"
    output = gdal.Open(str(made.output))
    sample_bytes = gdal.GetDataTypeSize(output.GetRasterBand(1).DataType) // 8
    row_bytes = 2 * len(bands) * quality_module.read_shape(output)[0] * sample_bytes
    monkeypatch.setattr(quality_module, "STRIP_BYTES", 20 * row_bytes)  # strips of about 20 rows: dozens of seams
    assert measure_ssim(str(made.source), str(made.output), bands) == pytest.approx(whole, abs=1e-9)
