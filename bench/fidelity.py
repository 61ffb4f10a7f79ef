"""Output size and SSIM, measured the same way for every contender's output.

SSIM is the function's own measure (`imagery_archive.quality`: band by band, on a nearest-neighbour
decimated read of at most 2048 pixels on the long side, full resolution below that), with one
change that makes it fair across tools: the valid pixels are those of the *original's* mask
(nodata, alpha or internal mask), not of each output's own mask, so an output without an exact mask
is neither rewarded nor punished for what it does under the collar.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from osgeo import gdal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda_src"))

from imagery_archive.quality import masked_ssim, read_preview

gdal.UseExceptions()


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
    before, valid = read_preview(str(original), bands)
    after, _ = read_preview(str(output), tuple(range(1, len(bands) + 1)))
    return masked_ssim(before, after, valid, 255.0 if before.dtype == np.uint8 else None)


def has_mask(path: Path) -> bool:
    """Whether the COG carries a per-dataset mask (an exact one, as opposed to a nodata value)."""
    dataset = gdal.Open(str(path))  # kept alive while its band is used (GDAL 3.6 bindings)
    flags = dataset.GetRasterBand(1).GetMaskFlags()
    return bool(flags & gdal.GMF_PER_DATASET) and not flags & gdal.GMF_ALPHA
