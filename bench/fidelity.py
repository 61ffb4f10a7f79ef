"""Output size and SSIM, measured the same way for every contender's output.

SSIM is the function's own measure (`imagery_archive.imaging.quality.masked_ssim`: band by band, over valid
pixels), on reads fixed here rather than by the function, so a change of the function's preview size
never moves the benchmark's yardstick: full resolution up to `PREVIEW_SIZE` pixels on the long side
(every bundled sample), a nearest-neighbour decimated read above it (the scenes: every 5th or 10th
pixel). One change makes it fair across tools: the valid pixels are those of the *original's* mask
(nodata, alpha or internal mask), not of each output's own mask, so an output without an exact mask
is neither rewarded nor punished for what it does under the collar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal

from imagery_archive.imaging.quality import masked_ssim

gdal.UseExceptions()

PREVIEW_SIZE = 2048


def read_pixels(path: Path, bands: tuple[int, ...], limit: int = PREVIEW_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(bands x rows x cols, validity of band 1's mask), from full resolution (overviews ignored)."""
    dataset = gdal.OpenEx(str(path), gdal.OF_RASTER, open_options=["OVERVIEW_LEVEL=NONE"])
    scale = min(1.0, limit / max(dataset.RasterXSize, dataset.RasterYSize))
    width, height = max(1, round(dataset.RasterXSize * scale)), max(1, round(dataset.RasterYSize * scale))
    pixels = np.stack([dataset.GetRasterBand(b).ReadAsArray(buf_xsize=width, buf_ysize=height) for b in bands])
    valid = dataset.GetRasterBand(bands[0]).GetMaskBand().ReadAsArray(buf_xsize=width, buf_ysize=height) > 0
    return pixels, valid


def image_bands(path: Path) -> tuple[int, ...]:
    """The original's bands that carry image data (an alpha band is a mask, not data)."""
    dataset = gdal.Open(str(path))
    return tuple(
        b
        for b in range(1, dataset.RasterCount + 1)
        if dataset.GetRasterBand(b).GetColorInterpretation() != gdal.GCI_AlphaBand
    )


def ssim_against_original(original: Path, output: Path) -> float:
    """Mean SSIM of `output`'s first bands against `original`'s image bands, over the original's valid pixels."""
    bands = image_bands(original)
    before, valid = read_pixels(original, bands)
    after, _ = read_pixels(output, tuple(range(1, len(bands) + 1)))
    return masked_ssim(before, after, valid, 255.0 if before.dtype == np.uint8 else None)


def has_mask(path: Path) -> bool:
    """Whether the COG carries a per-dataset mask (an exact one, as opposed to a nodata value)."""
    dataset = gdal.Open(str(path))  # kept alive while its band is used (GDAL 3.6 bindings)
    flags = dataset.GetRasterBand(1).GetMaskFlags()
    return bool(flags & gdal.GMF_PER_DATASET) and not flags & gdal.GMF_ALPHA
