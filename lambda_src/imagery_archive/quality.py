"""How close a compressed image is to its original: SSIM over the pixels a user gets.

Both images are read at full resolution, overviews ignored (the comparison is of the pixels a user
gets, not of differently resampled pyramids): whole up to `EXACT_SIZE` pixels on the long side,
which makes the SSIM exact, and decimated by nearest neighbour to `PREVIEW_SIZE` beyond, which
keeps a large scene's check cheap. Bands are compared one by one with scikit-image's SSIM over the
valid pixels only: what lies under a nodata mask is no one's data.
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal
from skimage.metrics import structural_similarity

PREVIEW_SIZE = 1024
"""Long side of the decimated read of an image larger than `EXACT_SIZE`: its SSIM is of a subsample."""
EXACT_SIZE = 2048
"""Images up to this long side are compared whole at full resolution: exact SSIM, still cheap."""


SSIM_WINDOW = 7
"""scikit-image's default SSIM window, in pixels."""


def preview_shape(width: int, height: int, limit: int = PREVIEW_SIZE) -> tuple[int, int]:
    """(width, height) of the decimated read, keeping the aspect ratio."""
    scale = min(1.0, limit / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def read_preview(path: str, bands: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pixels as bands x rows x cols, validity mask) at full resolution, decimated beyond `EXACT_SIZE`."""
    dataset = gdal.OpenEx(path, gdal.OF_RASTER, open_options=["OVERVIEW_LEVEL=NONE"])
    long_side = max(dataset.RasterXSize, dataset.RasterYSize)
    limit = long_side if long_side <= EXACT_SIZE else PREVIEW_SIZE
    width, height = preview_shape(dataset.RasterXSize, dataset.RasterYSize, limit)
    bands = bands or tuple(range(1, dataset.RasterCount + 1))
    # One read of all bands: band by band, every pixel-interleaved tile would be decoded once per band.
    pixels = dataset.ReadAsArray(buf_xsize=width, buf_ysize=height, band_list=list(bands))
    pixels = pixels.reshape(len(bands), height, width)
    mask = dataset.GetRasterBand(bands[0]).GetMaskBand()
    valid = mask.ReadAsArray(buf_xsize=width, buf_ysize=height) > 0
    return pixels, valid


def masked_ssim(
    original: np.ndarray, compressed: np.ndarray, valid: np.ndarray, data_range: float | None = None
) -> float:
    """Mean SSIM over valid pixels and bands; 1.0 when the valid pixels are identical.

    `data_range` defaults to the valid values' spread: 16-bit sensors fill a fraction of 0-65535,
    and measuring against the type's full range would make any damage look negligible.
    """
    if not valid.any():
        return 1.0
    if np.iscomplexobj(original) or np.iscomplexobj(compressed):  # SAR I/Q: both parts are data
        original = np.concatenate([original.real, original.imag])
        compressed = np.concatenate([compressed.real, compressed.imag])
    pairs = zip(original.astype(np.float64), compressed.astype(np.float64), strict=True)
    return float(np.mean([_band_ssim(before, after, valid, data_range) for before, after in pairs]))


def _band_ssim(before: np.ndarray, after: np.ndarray, valid: np.ndarray, data_range: float | None) -> float:
    finite = valid & np.isfinite(before) & np.isfinite(after)
    if not finite.any() or np.array_equal(before[finite], after[finite]):
        return 1.0
    value_range = data_range or float(np.ptp(before[finite])) or 1.0
    # SSIM's 7x7 window needs 7 pixels each way: smaller images are edge-padded, and scored on
    # their own pixels only.
    pad = [(0, max(0, SSIM_WINDOW - side)) for side in before.shape]
    before, after = (np.pad(np.where(finite, a, 0.0), pad, mode="edge") for a in (before, after))
    _, ssim_map = structural_similarity(before, after, data_range=value_range, win_size=SSIM_WINDOW, full=True)
    return float(ssim_map[: finite.shape[0], : finite.shape[1]][finite].mean())


def measure_ssim(original_path: str, compressed_path: str, bands: tuple[int, ...]) -> float:
    """SSIM of `compressed_path` against the `bands` of `original_path` it was made from."""
    before, _ = read_preview(original_path, bands)
    after, valid = read_preview(compressed_path)
    return masked_ssim(before, after, valid, 255.0 if before.dtype == np.uint8 else None)
