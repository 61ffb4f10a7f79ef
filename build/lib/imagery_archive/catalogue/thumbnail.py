"""A small PNG of a COG, read from its smallest overview that is still big enough.

Reading an overview touches a few of the COG's tiles, not its full resolution, so a thumbnail
costs milliseconds whatever the image's size. Images of three bands or more show their first
three as RGB, others their first band in grey (a palette is applied); anything deeper than 8 bits
is stretched between its 2nd and 98th percentiles of valid pixels, as viewers do. Masked pixels
are transparent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal

gdal.UseExceptions()

THUMBNAIL_SIZE = 256
"""Longest side of a thumbnail, in pixels."""


def write_thumbnail(cog: Path, png: Path, size: int = THUMBNAIL_SIZE) -> tuple[int, int]:
    """Write the thumbnail of `cog` to `png`; returns its width and height."""
    dataset = gdal.Open(str(cog))
    band_numbers = [1, 2, 3] if dataset.RasterCount >= 3 else [1]  # RGBN shows as RGB, its NIR left out
    bands = [_smallest_sufficient(dataset.GetRasterBand(number), size) for number in band_numbers]
    scale = min(1.0, size / max(bands[0].XSize, bands[0].YSize))
    width, height = max(1, round(bands[0].XSize * scale)), max(1, round(bands[0].YSize * scale))
    valid = bands[0].GetMaskBand().ReadAsArray(buf_xsize=width, buf_ysize=height) > 0
    pixels = [band.ReadAsArray(buf_xsize=width, buf_ysize=height) for band in bands]
    table = dataset.GetRasterBand(1).GetColorTable()
    if table is not None:
        lookup = np.array([table.GetColorEntry(i)[:3] for i in range(table.GetCount())], dtype=np.uint8)
        pixels = list(np.moveaxis(lookup[np.clip(pixels[0], 0, len(lookup) - 1)], -1, 0))
    else:
        pixels = [_stretched(values, valid) for values in pixels]
    out = gdal.GetDriverByName("MEM").Create("", width, height, len(pixels) + 1, gdal.GDT_Byte)
    for index, values in enumerate([*pixels, np.where(valid, 255, 0).astype(np.uint8)], start=1):
        out.GetRasterBand(index).WriteArray(values)
    gdal.GetDriverByName("PNG").CreateCopy(str(png), out)
    return width, height


def _smallest_sufficient(band: gdal.Band, size: int) -> gdal.Band:
    """The smallest overview of `band` whose longest side is at least `size`, else the band itself."""
    chosen = band
    for index in range(band.GetOverviewCount()):
        overview = band.GetOverview(index)
        if max(overview.XSize, overview.YSize) >= size and overview.XSize < chosen.XSize:
            chosen = overview
    return chosen


def _stretched(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """8-bit data as it is; deeper data mapped from its 2-98 percentile range of valid pixels to 0-255."""
    if values.dtype == np.uint8:
        return values
    real = np.abs(values) if np.iscomplexobj(values) else values
    sample = real[valid & np.isfinite(real)]
    if sample.size == 0:
        return np.zeros(real.shape, dtype=np.uint8)
    low, high = np.percentile(sample, [2, 98])
    spread = max(float(high - low), 1e-12)
    scaled = np.clip((np.nan_to_num(real, nan=low) - low) / spread * 255, 0, 255)
    return scaled.astype(np.uint8)
