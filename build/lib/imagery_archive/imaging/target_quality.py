"""Choosing the JPEG/WEBP quality per image: the lowest that reaches a target SSIM (`TARGET_SSIM`).

A fixed quality over-spends on easy images (flat water, desert) and under-spends on hard ones
(cities, forests). Trial-encoding a few full-resolution sample windows costs a small fraction of
one full encode, and SSIM rises with quality, so a binary search over quality on those windows
finds the setting; `compress` then checks the real output and steps up if it fell short.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from osgeo import gdal

from imagery_archive.imaging.cog_writer import write_cog
from imagery_archive.imaging.profiles import Encoding
from imagery_archive.imaging.quality import measure_ssim, preview_shape

LOWEST_QUALITY = 25
"""Below this, libjpeg's quantization tables no longer fit baseline JPEG."""
HIGHEST_QUALITY = 95
WINDOW = 512
"""Side of a trial window: one COG tile, at full resolution."""
GRID = 3
"""Candidate windows lie on a GRID x GRID lattice; the most valid ones are tried."""
WINDOWS_TRIED = 4


def with_quality(encoding: Encoding, quality: int) -> Encoding:
    """`encoding` at another JPEG/WEBP quality."""
    options = tuple(o for o in encoding.creation_options if not o.startswith("QUALITY="))
    return replace(encoding, quality=quality, creation_options=(*options, f"QUALITY={quality}"))


def trial_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x, y, width, height) of the candidate windows: the whole image if it is small."""
    if width <= 2 * WINDOW and height <= 2 * WINDOW:
        return [(0, 0, width, height)]
    columns = [round((width - WINDOW) * (i + 0.5) / GRID) for i in range(GRID)]
    rows = [round((height - WINDOW) * (j + 0.5) / GRID) for j in range(GRID)]
    return [(x, y, min(WINDOW, width), min(WINDOW, height)) for y in rows for x in columns]


class QualitySearch:
    """Trial encodes of a few windows of one image, to find the quality that reaches an SSIM."""

    def __init__(self, dataset: gdal.Dataset, encoding: Encoding) -> None:
        self._encoding = encoding
        self._folder = f"/vsimem/trial-{uuid.uuid4().hex}"
        self._scores: dict[int, float] = {}
        try:
            self._crops = _most_valid_crops(dataset, self._folder)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> QualitySearch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Free every crop and trial, with the sidecars (.msk) GDAL leaves beside them, then their folder.

        GDAL 3.10 keeps an emptied /vsimem folder until it is removed (a warm Lambda would collect one per
        image); GDAL 3.6 has no such folder once its last file is gone, and fails to remove it.
        """
        for name in gdal.ReadDir(self._folder) or []:
            gdal.Unlink(f"{self._folder}/{name}")
        if gdal.VSIStatL(self._folder) is not None:
            gdal.Rmdir(self._folder)

    def trial_ssim(self, quality: int) -> float:
        """The mean SSIM of the trial windows encoded at `quality` (each quality encoded once)."""
        if quality not in self._scores:
            trial = with_quality(self._encoding, quality)
            scores = []
            for number, crop in enumerate(self._crops):
                encoded = f"{self._folder}/q{quality}-{number}.tif"
                write_cog(gdal.Open(crop), trial, Path(encoded))
                scores.append(measure_ssim(crop, encoded, trial.bands))
            self._scores[quality] = sum(scores) / len(scores)
        return self._scores[quality]

    def lowest_quality(self, target: float, low: int = LOWEST_QUALITY) -> int:
        """The lowest quality from `low` whose trials reach `target` (the highest if none does)."""
        high = HIGHEST_QUALITY
        while low < high:
            middle = (low + high) // 2
            if self.trial_ssim(middle) >= target:
                high = middle
            else:
                low = middle + 1
        return low


def _most_valid_crops(dataset: gdal.Dataset, folder: str) -> list[str]:
    """In-memory crops of the windows with the most valid pixels (no nodata collars), decoded once.

    A small image is its own trial, exactly as it will be written. When no window holds valid
    pixels (a small valid area off the lattice), the whole image, decimated, stands in.
    """
    if trial_windows(dataset.RasterXSize, dataset.RasterYSize) == [(0, 0, dataset.RasterXSize, dataset.RasterYSize)]:
        return [dataset.GetDescription()]
    mask = dataset.GetRasterBand(1).GetMaskBand()
    scored = []
    for x, y, width, height in trial_windows(dataset.RasterXSize, dataset.RasterYSize):
        valid = mask.ReadAsArray(x, y, width, height, buf_xsize=64, buf_ysize=64)
        scored.append(((valid > 0).mean(), (x, y, width, height)))
    best = [window for fraction, window in sorted(scored, reverse=True)[:WINDOWS_TRIED] if fraction > 0]
    if not best:
        width, height = preview_shape(dataset.RasterXSize, dataset.RasterYSize, 2 * WINDOW)
        return [_in_memory(dataset, f"{folder}/whole.tif", width=width, height=height)]
    return [_in_memory(dataset, f"{folder}/crop-{n}.tif", srcWin=list(w)) for n, w in enumerate(best)]


def _in_memory(dataset: gdal.Dataset, crop: str, **translate_options: object) -> str:
    gdal.Translate(crop, dataset, format="GTiff", **translate_options)
    return crop
