"""A cheap SSIM that stays faithful: the full measure's score (`quality.measure_ssim`), on a sample of windows.

The full measure runs scikit-image's SSIM band by band, in float64, over every pixel (up to 2048 on the
long side): on a 24 MB RGB object it cost three times the encode it proved. This one computes the same
quantity, the mean over bands of each band's mean SSIM over its valid pixels, with scikit-image's
formula (7 x 7 uniform window, sample covariance, K1 0.01, K2 0.03, range 255), but:

- on `WINDOW_SIDE`-pixel windows of full resolution spread over the whole image on a staggered
  lattice, as many as `SAMPLED_PIXELS` holds; an image of at most `SAMPLED_PIXELS` pixels is one
  window, and its SSIM is exact. Each window is read with the `HALO` rows and columns its SSIM needs
  around it, reflected at the image's edges as the full measure's filter reflects them there: every
  scored pixel gets the very SSIM the full measure gives it, so the only difference is which pixels
  are averaged. Many small windows on a regular lattice are a finely stratified sample (windows at
  random places in their cells strayed twice as far): within 0.0012 of the full measure on every
  bundled image at qualities 40, 75 and 90 (BENCHMARKS.md, `bench/quality_fidelity.py`);
- in float32 and plain numpy, all windows of a band at once: 8-bit sums of 49 products are exact in
  float32, and no scipy or scikit-image is imported (a quarter of a second at a cold start);
- on the original's windows kept while it was read for the COG (`KeptWindows`, `single_pass`).

The luma of YCbCr was tried and rejected: it scored 0.01 to 0.11 above the per-band measure on the
bundled images, chroma being where JPEG's subsampling does damage that the luma hides. A scene that
is mostly nodata (less than `DENSE_BELOW` of it valid, from the COG's mask overview) gets a lattice
made denser by its valid fraction, its windows without valid pixels skipped.

Beyond 2048 pixels on the long side the full measure scores a nearest-neighbour grid of the image, a
different quantity: on a 3164 x 2872 mosaic of the Landsat sample at q75 it said 0.933 where every
pixel's SSIM averages 0.898; these windows said 0.899. So on large images this measure is the closer
of the two to the image's own SSIM, and TARGET_SSIM asks a large image for a higher quality than before.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from osgeo import gdal

from imagery_archive.imaging.profiles import Encoding
from imagery_archive.imaging.quality import HALO, SSIM_WINDOW, preview_shape

WINDOW_SIDE = 16
"""Side of a scored window, in pixels (read with `HALO` more on each side)."""
SAMPLED_PIXELS = 2**18
"""Pixels scored per band: the windows' budget, and the size up to which an image is scored whole. Half as
many measured 0.0042 off on a 3164 x 2872 mosaic (0.0007 with these), and 2**19 no closer than these."""
DENSE_BELOW = 0.25
"""Valid fraction under which the lattice is made denser, so that the windows still hold enough valid pixels."""
MOST_WINDOWS = 8192
"""The densest lattice: 8 times the usual number of windows (16 MB of 8-bit pixels per image of 4 bands)."""
FRACTION_PREVIEW = 256
"""Long side of the mask read (from the COG's mask overviews) that estimates the valid fraction."""
CHUNK_VALUES = 1024 * 1024
"""Values of one band stack scored at once: about 40 MB of float32 temporaries."""
SCORING_THREADS = min(2, os.cpu_count() or 1)
"""Chunks scored at once (NumPy lets go of the GIL in its array loops); each holds its own temporaries."""
BYTE_RANGE = 255.0
K1, K2 = 0.01, 0.03
"""scikit-image's SSIM constants (and Wang et al.'s)."""


@dataclass(frozen=True)
class SsimEstimate:
    """An SSIM and how it was measured (the COG's `ssim-method` metadata)."""

    score: float
    method: str


@dataclass(frozen=True)
class WindowLayout:
    """Where the windows lie: a lattice of rows, each with the same number of windows of one size."""

    width: int
    height: int
    window_width: int
    window_height: int
    tops: tuple[int, ...]
    lefts: tuple[tuple[int, ...], ...]
    """Per lattice row, the left column of each of its windows."""

    @property
    def windows(self) -> int:
        """How many windows the lattice has."""
        return len(self.tops) * len(self.lefts[0])

    @property
    def whole(self) -> bool:
        """Whether the one window is the whole image (an exact SSIM)."""
        return (self.window_width, self.window_height) == (self.width, self.height)

    def row_indices(self, row: int) -> np.ndarray:
        """Image rows of lattice row `row`'s windows with their halo, reflected at the image's edges."""
        top = self.tops[row]
        return reflected(np.arange(top - HALO, top + self.window_height + HALO), self.height)

    def column_indices(self, row: int) -> np.ndarray:
        """Image columns of lattice row `row`'s windows with their halos, one window after the other."""
        spans = [np.arange(left - HALO, left + self.window_width + HALO) for left in self.lefts[row]]
        return reflected(np.concatenate(spans), self.width)


def reflected(indices: np.ndarray, size: int) -> np.ndarray:
    """`indices` reflected into 0..size-1 as scipy's 'reflect' mode does (-1 -> 0, size -> size-1)."""
    inside = np.where(indices < 0, -indices - 1, indices)
    return np.where(inside >= size, 2 * size - inside - 1, inside)


def window_layout(width: int, height: int, valid_fraction: float = 1.0) -> WindowLayout:
    """The windows of an image of `width` x `height` (at least `SSIM_WINDOW` each way): the whole image
    if it has at most `SAMPLED_PIXELS` pixels, or if the windows with their halos would hold more.

    `valid_fraction` below `DENSE_BELOW` makes the lattice that much denser (at most `MOST_WINDOWS`,
    at most one per window side): the same number of valid pixels is then scored on a scene that is
    mostly nodata.
    """
    if width * height <= SAMPLED_PIXELS:
        return _whole(width, height)
    side_x, side_y = min(WINDOW_SIDE, width), min(WINDOW_SIDE, height)
    density = valid_fraction if valid_fraction < DENSE_BELOW else 1.0
    wanted = min(SAMPLED_PIXELS / (side_x * side_y * max(density, 1e-6)), MOST_WINDOWS)
    spacing = max(float(min(side_x, side_y)), math.sqrt(width * height / wanted))
    columns, rows = max(1, round(width / spacing)), max(1, round(height / spacing))
    read = rows * columns * (side_x + 2 * HALO) * (side_y + 2 * HALO)
    if density == 1.0 and read >= (width + 2 * HALO) * (height + 2 * HALO):  # windows would cost more than the whole
        return _whole(width, height)
    tops = tuple(_spread(height - side_y, rows, row) for row in range(rows))
    # every other row shifted by half a lattice cell: a staggered lattice samples finer detail across rows
    lefts = tuple(
        tuple(_spread(width - side_x, columns, column + (0.25 if row % 2 == 0 else -0.25)) for column in range(columns))
        for row in range(rows)
    )
    return WindowLayout(width, height, side_x, side_y, tops, lefts)


def _whole(width: int, height: int) -> WindowLayout:
    """One window, the whole image: its SSIM is the full measure's."""
    return WindowLayout(width, height, width, height, (0,), ((0,),))


def _spread(span: int, count: int, position: float) -> int:
    """The offset of lattice cell `position` of `count` over `span` pixels, at the cell's centre."""
    return round(span * min(max((position + 0.5) / count, 0.0), 1.0))


class KeptWindows:
    """The original's window pixels, kept from strips of it read for another purpose (`single_pass`).

    `pixels` is lattice rows x bands x window rows x (windows x window columns), as `read_windows` reads them.
    """

    def __init__(self, width: int, height: int, bands: int) -> None:
        self.layout = window_layout(width, height)
        rows = range(len(self.layout.tops))
        self._rows = [self.layout.row_indices(row) for row in rows]
        self._columns = [self.layout.column_indices(row) for row in rows]
        shape = (len(self._rows), bands, len(self._rows[0]), len(self._columns[0]))
        self.pixels: np.ndarray = np.empty(shape, dtype=np.uint8)

    def add(self, strip: np.ndarray, first: int) -> None:
        """Keep the windows' pixels of `strip` (bands x rows x cols), whose first row is row `first` of the image."""
        if self.pixels.dtype != strip.dtype:
            self.pixels = self.pixels.astype(strip.dtype)
        for row, (indices, columns) in enumerate(zip(self._rows, self._columns, strict=True)):
            inside = np.nonzero((indices >= first) & (indices < first + strip.shape[1]))[0]
            if inside.size:
                self.pixels[row][:, inside] = strip[:, indices[inside] - first][:, :, columns]


def read_windows(source: gdal.Dataset | gdal.Band, layout: WindowLayout, bands: list[int] | None = None) -> np.ndarray:
    """The windows of `source` (a dataset's `bands`, or one band), shaped as `KeptWindows.pixels`.

    One read per lattice row, of the full-width rows its windows span: tiles are decoded in GDAL's
    threads, each once, and a few dozen reads cost less than one per window.
    """
    lattice = []
    for row in range(len(layout.tops)):
        indices, columns = layout.row_indices(row), layout.column_indices(row)
        top, bottom = int(indices.min()), int(indices.max()) + 1
        if isinstance(source, gdal.Band):
            block = source.ReadAsArray(0, top, layout.width, bottom - top)[np.newaxis]
        else:
            block = source.ReadAsArray(0, top, layout.width, bottom - top, band_list=bands)
            block = block.reshape(-1, bottom - top, layout.width)
        lattice.append(block[:, indices - top][:, :, columns])
    return np.stack(lattice)


def applies(dataset: gdal.Dataset, encoding: Encoding, measure: str) -> bool:
    """Whether the output is measured here: 8-bit, lossy, `SSIM_MEASURE=sampled`, at least a window each way.

    Lossless outputs are compared pixel for pixel (`quality.pixels_identical`), and 16-bit or float
    outputs with an error bound take the full measure, whose data range is the whole image's spread.
    """
    return (
        measure == "sampled"
        and encoding.lossy
        and min(dataset.RasterXSize, dataset.RasterYSize) >= SSIM_WINDOW
        and all(dataset.GetRasterBand(band).DataType == gdal.GDT_Byte for band in encoding.bands)
    )


def sampled_ssim(
    original_path: str, compressed_path: str, bands: tuple[int, ...], original_windows: np.ndarray | None = None
) -> SsimEstimate:
    """SSIM of the 8-bit `compressed_path` against the `bands` of `original_path`, on windows (see the module).

    `original_windows` are the original's pixels kept as `KeptWindows` kept them, which spare reading it again.
    """
    # The COG's tiles each lattice row spans are decoded on every CPU (GTiff's NUM_THREADS open option).
    compressed = gdal.OpenEx(compressed_path, gdal.OF_RASTER, open_options=["NUM_THREADS=ALL_CPUS"])
    fraction = valid_fraction(compressed)
    layout = window_layout(compressed.RasterXSize, compressed.RasterYSize, fraction)
    kept = original_windows is not None and layout == window_layout(layout.width, layout.height)
    with ThreadPoolExecutor(2, thread_name_prefix="ssim-read") as readers:  # a GDAL dataset per thread
        mask = readers.submit(_mask_windows, compressed_path, layout)
        original = None if kept else readers.submit(_windows_of, original_path, layout, list(bands))
        after = read_windows(compressed, layout, list(range(1, compressed.RasterCount + 1)))
        valid = mask.result() > 0
        if original is not None:
            original_windows = original.result()
    assert original_windows is not None
    scores, scored = _score(_by_window(original_windows, layout), _by_window(after, layout), _by_window(valid, layout))
    return SsimEstimate(scores, _method(layout, scored, fraction))


def _windows_of(path: str, layout: WindowLayout, bands: list[int]) -> np.ndarray:
    """The windows of the `bands` of the dataset at `path`, opened here: a GDAL dataset serves one thread at a time."""
    return read_windows(gdal.Open(path), layout, bands)


def _mask_windows(path: str, layout: WindowLayout) -> np.ndarray:
    """The windows of the mask of the dataset at `path`, opened here (see `_windows_of`)."""
    dataset = gdal.Open(path)  # held while its mask band is read
    return read_windows(dataset.GetRasterBand(1).GetMaskBand(), layout)


def valid_fraction(dataset: gdal.Dataset) -> float:
    """The share of valid pixels, from a small read of the mask (a COG's mask overviews answer it)."""
    band = dataset.GetRasterBand(1)
    if band.GetMaskFlags() & gdal.GMF_ALL_VALID:
        return 1.0
    width, height = preview_shape(dataset.RasterXSize, dataset.RasterYSize, FRACTION_PREVIEW)
    return float((band.GetMaskBand().ReadAsArray(buf_xsize=width, buf_ysize=height) > 0).mean())


def _by_window(lattice: np.ndarray, layout: WindowLayout) -> np.ndarray:
    """Lattice rows x planes x rows x (windows x cols) -> windows x planes x rows x cols (planes kept if 1)."""
    rows, planes, height, _ = lattice.shape
    width = layout.window_width + 2 * HALO
    split = lattice.reshape(rows, planes, height, -1, width).transpose(0, 3, 1, 2, 4)
    return split.reshape(-1, planes, height, width)


def _score(before: np.ndarray, after: np.ndarray, valid: np.ndarray) -> tuple[float, int]:
    """(Mean over bands of each band's mean SSIM over the valid scored pixels, how many pixels were scored).

    A band whose valid scored pixels are all unchanged scores 1.0, as in the full measure; so does an
    image without valid pixels.
    """
    keep = valid[_interior(valid)].any(axis=(1, 2))
    before, after, valid = before[keep], after[keep], valid[keep]
    if not len(before):
        return 1.0, 0
    chunk = max(1, min(CHUNK_VALUES // before[0].size, math.ceil(len(before) / SCORING_THREADS)))
    starts = range(0, len(before), chunk)
    with ThreadPoolExecutor(SCORING_THREADS, thread_name_prefix="ssim") as scorers:
        parts = list(
            scorers.map(lambda start: _score_chunk(*(a[start : start + chunk] for a in (before, after, valid))), starts)
        )
    counted = sum(part.counted for part in parts)
    if not counted:
        return 1.0, 0
    sums = np.sum([part.sums for part in parts], axis=0)
    changed = np.logical_or.reduce([part.changed for part in parts])
    return float(np.mean(np.where(changed, sums / counted, 1.0))), counted


@dataclass(frozen=True)
class _ChunkScore:
    sums: np.ndarray
    """Per band, the SSIM summed over the chunk's valid scored pixels."""
    changed: np.ndarray
    """Per band, whether any of those pixels changed."""
    counted: int


def _interior(valid: np.ndarray) -> tuple[slice, int, slice, slice]:
    """Where `valid` (windows x 1 x rows x cols) holds the scored pixels: every window without its halo."""
    return (slice(None), 0, slice(HALO, valid.shape[2] - HALO), slice(HALO, valid.shape[3] - HALO))


def _score_chunk(original: np.ndarray, compressed: np.ndarray, valid: np.ndarray) -> _ChunkScore:
    """One chunk of windows scored: what `_score` adds up."""
    interior = _interior(valid)
    inside = valid[interior]
    x, y = (np.where(valid, pixels, 0).astype(np.float32) for pixels in (original, compressed))
    sums = np.einsum("npij,nij->p", _ssim_map(x, y), inside, dtype=np.float64)
    inner = (slice(None), slice(None), *interior[2:])
    changed = ((original[inner] != compressed[inner]) & inside[:, np.newaxis]).any(axis=(0, 2, 3))
    return _ChunkScore(sums, changed, int(inside.sum()))


def _ssim_map(x: np.ndarray, y: np.ndarray, data_range: float = BYTE_RANGE) -> np.ndarray:
    """SSIM of each pixel whose whole 7 x 7 window lies in the blocks (the last two axes), as scikit-image's."""
    covariance_norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)  # scikit-image's sample covariance
    mean_x, mean_y = _box_mean(x), _box_mean(y)
    variance_x = covariance_norm * (_box_mean(x * x) - mean_x * mean_x)
    variance_y = covariance_norm * (_box_mean(y * y) - mean_y * mean_y)
    covariance = covariance_norm * (_box_mean(x * y) - mean_x * mean_y)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    return numerator / ((mean_x * mean_x + mean_y * mean_y + c1) * (variance_x + variance_y + c2))


def _box_mean(values: np.ndarray) -> np.ndarray:
    """The mean of every 7 x 7 block of the last two axes ('valid' mode): sums of shifted slices, rows then columns."""
    rows, columns = values.shape[-2] - SSIM_WINDOW + 1, values.shape[-1] - SSIM_WINDOW + 1
    by_rows = values[..., 0:rows, :].copy()
    for shift in range(1, SSIM_WINDOW):
        by_rows += values[..., shift : shift + rows, :]
    total = by_rows[..., 0:columns].copy()
    for shift in range(1, SSIM_WINDOW):
        total += by_rows[..., shift : shift + columns]
    total *= np.float32(1 / SSIM_WINDOW**2)
    return total


def _method(layout: WindowLayout, scored: int, fraction: float) -> str:
    """How the score was measured, for the COG's metadata (ASCII)."""
    if layout.whole:
        return "whole image, per band, float32"
    valid_pixels = max(1, round(fraction * layout.width * layout.height))
    return (
        f"{layout.windows} windows of {layout.window_width} px at full resolution, "
        f"{min(1.0, scored / valid_pixels):.1%} of the valid pixels, per band, float32"
    )
