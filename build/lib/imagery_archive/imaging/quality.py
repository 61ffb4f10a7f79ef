"""How close a compressed image is to its original: SSIM over the pixels a user gets.

Both images are read at full resolution, overviews ignored (the comparison is of the pixels a user
gets, not of differently resampled pyramids): whole up to `EXACT_SIZE` pixels on the long side,
which makes the SSIM exact, and decimated by nearest neighbour to `PREVIEW_SIZE` beyond, which
keeps a large scene's check cheap. Bands are compared one by one with scikit-image's SSIM over the
valid pixels only: what lies under a nodata mask is no one's data.

`measure_ssim` streams: it reads strips of rows of every band (at most `STRIP_BYTES` of pixels
for both images), carries the few rows SSIM's window needs across each strip boundary, and sums
each band's SSIM map over its valid pixels, so its memory does not grow with the band count (a
200-band image held whole as float64 would need more than 6 GB) and the score is the very mean the
whole-image computation (`masked_ssim`) gives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, gdal_array
from skimage.metrics import structural_similarity

from imagery_archive.imaging.decoding import SINGLE_THREADED, needs_single_threaded_decoding

PREVIEW_SIZE = 1024
"""Long side of the decimated read of an image larger than `EXACT_SIZE`: its SSIM is of a subsample."""
EXACT_SIZE = 2048
"""Images up to this long side are compared whole at full resolution: exact SSIM, still cheap."""


SSIM_WINDOW = 7
"""scikit-image's default SSIM window, in pixels."""
HALO = SSIM_WINDOW // 2
"""Rows on each side of a pixel that its SSIM depends on."""
STRIP_BYTES = 128 * 1024 * 1024
"""Pixels of both images `measure_ssim` holds at once, all bands of one strip of rows."""


@dataclass(frozen=True)
class Grid:
    """The pixels compared: `width` x `height`, sampled from the full-resolution image's size."""

    width: int
    height: int
    full_width: int
    full_height: int


LARGE_TILE_BYTES = 16 * 1024 * 1024
"""A decoded block of every band beyond this (a 512-pixel tile of 32 bands of 16-bit data) is decoded in
the calling thread."""

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(original, compressed) as bands x rows x cols, and the validity mask as rows x cols."""


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


def measure_ssim(
    original_path: str, compressed_path: str, bands: tuple[int, ...], original_samples: np.ndarray | None = None
) -> float:
    """SSIM of `compressed_path` against the `bands` of `original_path` it was made from.

    The mean over bands of each band's mean SSIM over its valid pixels, as `masked_ssim` computes
    it on the whole images, read strip by strip (see the module docstring). `original_samples`, the
    original's pixels on this grid (`SampleGrid`) kept while it was read for the COG, spare reading it again.
    """
    compressed = _full_resolution(compressed_path)
    width, height = read_shape(compressed)
    if min(width, height) < SSIM_WINDOW:  # a few rows or columns: whole, edge-padded as masked_ssim does
        before, _ = read_preview(original_path, bands)
        after, valid = read_preview(compressed_path)
        return masked_ssim(before, after, valid, 255.0 if before.dtype == np.uint8 else None)

    grid = Grid(width, height, compressed.RasterXSize, compressed.RasterYSize)
    original = original_samples if original_samples is not None else _full_resolution(original_path)
    rows = _strip_rows(compressed, len(bands), width, height)
    reader = _StripReader(original, bands, compressed, grid, rows)
    byte_data = reader.original_type == np.uint8
    ranges = [255.0] * 2 * len(bands) if byte_data else _value_ranges(reader, height, rows)
    scores = _BandScores()
    for (before, after, valid), first, stop in _buffers(reader, height, rows):
        if valid[first:stop].any():
            scores.add(_planes(before), _planes(after), valid, (first, stop), ranges)
    return scores.mean()


def read_shape(dataset: gdal.Dataset) -> tuple[int, int]:
    """(width, height) of the pixels compared: full resolution up to `EXACT_SIZE`, decimated beyond."""
    return compared_shape(dataset.RasterXSize, dataset.RasterYSize)


def compared_shape(width: int, height: int) -> tuple[int, int]:
    """`read_shape` of an image of `width` x `height` pixels."""
    long_side = max(width, height)
    return preview_shape(width, height, long_side if long_side <= EXACT_SIZE else PREVIEW_SIZE)


class SampleGrid:
    """The original's pixels that `measure_ssim` compares, kept from strips of it read for another purpose.

    The grid is GDAL's nearest-neighbour decimation of the whole image (pixel i of n samples source
    pixel floor((i + 0.5) x size / n)), the very pixels `_window_read` gets from GDAL in one window.
    """

    def __init__(self, width: int, height: int, bands: int) -> None:
        columns, rows = compared_shape(width, height)
        self._rows, self._columns = self.indices(width, height, columns, rows)
        self.pixels: np.ndarray = np.empty((bands, rows, columns), dtype=np.uint8)

    @staticmethod
    def indices(width: int, height: int, columns: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of the full-resolution image that each row and column of the grid samples."""
        return (
            ((np.arange(rows) + 0.5) * height / rows).astype(np.int64),
            ((np.arange(columns) + 0.5) * width / columns).astype(np.int64),
        )

    def add(self, strip: np.ndarray, first: int) -> None:
        """Keep the grid's pixels of `strip` (bands x rows x cols), whose first row is row `first` of the image."""
        if self.pixels.dtype != strip.dtype:
            self.pixels = self.pixels.astype(strip.dtype)
        inside = np.nonzero((self._rows >= first) & (self._rows < first + strip.shape[1]))[0]
        self.pixels[:, inside] = strip[:, self._rows[inside] - first][:, :, self._columns]


def _full_resolution(path: str) -> gdal.Dataset:
    """`path` opened to read its full-resolution pixels, decoded as `decoding` says it must be.

    A decimated read would take the overviews unless they are hidden (OVERVIEW_LEVEL=NONE); a read at
    full resolution never takes them, and must not hide them: the proxy that hides them reads band by
    band, decoding every pixel-interleaved tile once per band. Tiles of many bands are decoded in the
    calling thread: parallel decoding holds several at once (50 MB each for 100 bands of 16-bit data),
    and measured no faster (100 x 2048 x 2048 UInt16: 620 MiB and 102 s against 841 MiB and 193 s).
    """
    dataset = gdal.OpenEx(path, gdal.OF_RASTER)
    large_tiles = _tile_bytes(dataset) > LARGE_TILE_BYTES
    options = list(SINGLE_THREADED) if large_tiles or needs_single_threaded_decoding(dataset) else []
    if read_shape(dataset) != (dataset.RasterXSize, dataset.RasterYSize):
        options.append("OVERVIEW_LEVEL=NONE")
    return gdal.OpenEx(path, gdal.OF_RASTER, open_options=options) if options else dataset


def _tile_bytes(dataset: gdal.Dataset) -> int:
    """Bytes of one decoded block of every band."""
    band = dataset.GetRasterBand(1)
    block_width, block_height = band.GetBlockSize()
    return block_width * block_height * dataset.RasterCount * max(1, gdal.GetDataTypeSize(band.DataType) // 8)


def _strip_rows(dataset: gdal.Dataset, bands: int, width: int, height: int) -> int:
    """Rows per strip: as many as `STRIP_BYTES` holds, whole rows of tiles where they fit, at least a window."""
    sample = gdal.GetDataTypeSize(dataset.GetRasterBand(1).DataType) // 8
    rows = max(SSIM_WINDOW, STRIP_BYTES // (2 * bands * width * sample))
    block_rows = dataset.GetRasterBand(1).GetBlockSize()[1]
    if (width, height) == (dataset.RasterXSize, dataset.RasterYSize) and rows >= block_rows:
        rows -= rows % block_rows  # every strip decodes each tile it touches exactly once
    return min(rows, height)


def _window_read(source: gdal.Band | gdal.Dataset, grid: Grid, first: int, stop: int, **options: object) -> np.ndarray:
    """Rows [first, stop) of the compared grid, read from the matching rows of the full-resolution image."""
    top, bottom = first * grid.full_height // grid.height, stop * grid.full_height // grid.height
    return source.ReadAsArray(
        0, top, grid.full_width, bottom - top, buf_xsize=grid.width, buf_ysize=stop - first, **options
    )


def _grid_read(
    source: gdal.Band | gdal.Dataset, grid: Grid, first: int, stop: int, into: np.ndarray, **options: object
) -> None:
    """`_window_read` into `into`, sampling the grid's rows one by one where that decodes each tile once.

    GDAL's decimated read decodes the image's tiles in one thread; a full-resolution row spanning a
    row of tiles decodes them in parallel, and the next rows of the grid in that row of tiles come
    from GDAL's block cache: 7 s -> 2 s for the 1.2 GB benchmark scene. The same pixels: the grid as
    one window (`first` 0, `stop` its height) samples rows floor((i + 0.5) x height / rows), as GDAL does.
    """
    decimated = (grid.width, grid.height) != (grid.full_width, grid.full_height)
    if not (decimated and (first, stop) == (0, grid.height) and _tile_row_fits_in_cache(source, grid)):
        _window_read(source, grid, first, stop, buf_obj=into, **options)
        return
    rows, columns = SampleGrid.indices(grid.full_width, grid.full_height, grid.width, grid.height)
    for index, row in enumerate(rows):
        line = source.ReadAsArray(0, int(row), grid.full_width, 1, **options)
        into[..., index, :] = line[..., 0, columns]


def _tile_row_fits_in_cache(source: gdal.Band | gdal.Dataset, grid: Grid) -> bool:
    """Whether a whole row of `source`'s tiles, every band, takes at most half of GDAL's block cache."""
    band = source if isinstance(source, gdal.Band) else source.GetRasterBand(1)
    bands = 1 if isinstance(source, gdal.Band) else source.RasterCount
    row_bytes = grid.full_width * band.GetBlockSize()[1] * bands * max(1, gdal.GetDataTypeSize(band.DataType) // 8)
    return row_bytes <= gdal.GetCacheMax() // 2


class _StripReader:
    """Reads strips of rows of both images and the mask into buffers allocated once, one read each."""

    def __init__(
        self,
        original: gdal.Dataset | np.ndarray,
        bands: tuple[int, ...],
        compressed: gdal.Dataset,
        grid: Grid,
        rows: int,
    ) -> None:
        self._original, self._bands, self._compressed = original, bands, compressed
        self._mask = compressed.GetRasterBand(1).GetMaskBand()
        self._grid = grid
        depth = rows + 2 * HALO
        self.original_type = (
            original.dtype if isinstance(original, np.ndarray) else _numpy_type(original.GetRasterBand(bands[0]))
        )
        self._pixels = (
            np.empty((len(bands), depth, grid.width), dtype=self.original_type),
            np.empty((compressed.RasterCount, depth, grid.width), dtype=_numpy_type(compressed.GetRasterBand(1))),
        )
        self._valid = np.empty((depth, grid.width), dtype=np.uint8)

    def read(self, first: int, stop: int, at: int = 0) -> None:
        """Rows [first, stop) of the compared grid into buffer rows from `at`: all bands in one read each."""
        below = at + stop - first
        if isinstance(self._original, np.ndarray):  # kept from an earlier read (`SampleGrid`)
            self._pixels[0][:, at:below] = self._original[:, first:stop]
        else:
            original = self._pixels[0][:, at:below]
            _grid_read(self._original, self._grid, first, stop, original, band_list=list(self._bands))
        every_band = list(range(1, self._compressed.RasterCount + 1))
        _grid_read(self._compressed, self._grid, first, stop, self._pixels[1][:, at:below], band_list=every_band)
        _grid_read(self._mask, self._grid, first, stop, self._valid[at:below])

    def carry(self, size: int) -> None:
        """Move the last 2 x HALO of the first `size` buffer rows to its top."""
        for pixels in self._pixels:
            pixels[:, : 2 * HALO] = pixels[:, size - 2 * HALO : size]
        self._valid[: 2 * HALO] = self._valid[size - 2 * HALO : size]

    def rows(self, size: int) -> Rows:
        """The first `size` buffer rows: (original, compressed, valid)."""
        return self._pixels[0][:, :size], self._pixels[1][:, :size], self._valid[:size] > 0


def _numpy_type(band: gdal.Band) -> np.dtype:
    return np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(band.DataType))


def _planes(pixels: np.ndarray) -> np.ndarray:
    """The bands as separate planes; a complex band (SAR I/Q) is two, both of them data."""
    return np.concatenate([pixels.real, pixels.imag]) if np.iscomplexobj(pixels) else pixels


def _buffers(reader: _StripReader, height: int, rows: int) -> Iterator[tuple[Rows, int, int]]:
    """(pixels of a buffer of rows, first and stop of the rows to score in it), strip after strip.

    Each buffer is one fresh strip after the last 2 x HALO rows of the one before: a scored row has
    its whole window in the buffer, or lies at the image's own top or bottom edge, where SSIM's
    filter treats the buffer exactly as the whole image. Every row is read once and scored once.
    """
    size = 0
    for start in range(0, height, rows):
        stop = min(start + rows, height)
        if start == 0:
            reader.read(start, stop)
            size, first = stop, 0
        else:
            reader.carry(size)
            reader.read(start, stop, at=2 * HALO)
            size, first = 2 * HALO + stop - start, HALO
        yield reader.rows(size), first, size if stop == height else size - HALO


def _value_ranges(reader: _StripReader, height: int, rows: int) -> list[float]:
    """Each plane's spread of valid, finite original values (a first pass): `masked_ssim`'s data range."""
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    for start in range(0, height, rows):
        stop = min(start + rows, height)
        reader.read(start, stop)
        before, after, valid = reader.rows(stop - start)
        spans = [
            _valid_span(original, compressed, valid)
            for original, compressed in zip(_planes(before), _planes(after), strict=True)
        ]
        strip_low, strip_high = np.array([span[0] for span in spans]), np.array([span[1] for span in spans])
        low = strip_low if low is None else np.fmin(low, strip_low)
        high = strip_high if high is None else np.fmax(high, strip_high)
    assert low is not None
    assert high is not None
    return [float(span) if np.isfinite(span) and span > 0 else 1.0 for span in high - low]


def _valid_span(original: np.ndarray, compressed: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """(lowest, highest) valid, finite original value of one plane; NaN if there is none."""
    finite = valid & np.isfinite(original) & np.isfinite(compressed)
    if not finite.any():
        return math.nan, math.nan
    values = original[finite]
    return float(values.min()), float(values.max())


@dataclass
class _BandScores:
    """Per plane: the sum and count of SSIM over valid pixels, and whether it is so far unchanged."""

    sums: dict[int, float] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    changed: set[int] = field(default_factory=set)
    planes: int = 0

    def add(
        self, before: np.ndarray, after: np.ndarray, valid: np.ndarray, scored: tuple[int, int], ranges: list[float]
    ) -> None:
        first, stop = scored
        self.planes = len(before)
        for plane, (original_values, compressed_values) in enumerate(zip(before, after, strict=True)):
            # one plane at a time as float64: the strip's bands stay in their own, smaller type
            original, compressed = original_values.astype(np.float64), compressed_values.astype(np.float64)
            finite = valid & np.isfinite(original) & np.isfinite(compressed)
            inside = finite[first:stop]
            if not inside.any():
                continue
            if not np.array_equal(original[first:stop][inside], compressed[first:stop][inside]):
                self.changed.add(plane)
            a, b = (np.where(finite, values, 0.0) for values in (original, compressed))
            _, ssim_map = structural_similarity(a, b, data_range=ranges[plane], win_size=SSIM_WINDOW, full=True)
            self.sums[plane] = self.sums.get(plane, 0.0) + float(ssim_map[first:stop][inside].sum())
            self.counts[plane] = self.counts.get(plane, 0) + int(inside.sum())

    def mean(self) -> float:
        """Mean over planes; 1.0 for a plane whose valid pixels are identical, or that has none."""
        if not self.planes:
            return 1.0
        scores = [self.sums[p] / self.counts[p] if p in self.changed else 1.0 for p in range(self.planes)]
        return float(np.mean(scores))
