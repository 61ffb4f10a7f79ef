"""Side-by-side PNG figures of an original and its compressed COG: full view and a zoomed crop.

The crop is read at full resolution, where the image has the most detail, and drawn with nearest
interpolation, so compression artefacts show as they are rather than smoothed by the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from osgeo import gdal

from imagery_archive_cli.console import size

gdal.UseExceptions()

FULL_VIEW_SIZE = 700
"""Long side of the full views, in pixels read."""


@dataclass(frozen=True)
class Comparison:
    """One row of the figure: an original, its COG, and what the pipeline measured."""

    name: str
    original: Path
    compressed: Path
    original_bytes: int
    compressed_bytes: int
    ssim: float
    encoding: str


def display_bands(dataset: gdal.Dataset) -> list[int]:
    """Red, green, blue when there are three or more bands (alpha and NIR are not shown), else the first."""
    return [1, 2, 3] if dataset.RasterCount >= 3 else [1]


def read(path: Path, window: tuple[int, int, int, int] | None = None, long_side: int | None = None) -> np.ndarray:
    """Rows x cols x bands of the display bands, full resolution (no overviews), masked pixels zeroed."""
    dataset = gdal.OpenEx(str(path), gdal.OF_RASTER, open_options=["OVERVIEW_LEVEL=NONE"])
    x, y, width, height = window or (0, 0, dataset.RasterXSize, dataset.RasterYSize)
    scale = min(1.0, long_side / max(width, height)) if long_side else 1.0
    buf = {"buf_xsize": max(1, round(width * scale)), "buf_ysize": max(1, round(height * scale))}
    bands = display_bands(dataset)
    pixels = np.stack([dataset.GetRasterBand(b).ReadAsArray(x, y, width, height, **buf) for b in bands], axis=-1)
    valid = dataset.GetRasterBand(bands[0]).GetMaskBand().ReadAsArray(x, y, width, height, **buf) > 0
    return np.where(valid[..., None], pixels, 0)


def stretch(pixels: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values scaled to 0-1 for display."""
    scaled = np.clip((pixels.astype(np.float64) - low) / max(high - low, 1e-9), 0, 1)
    return scaled[..., 0] if scaled.shape[-1] == 1 else scaled


def detailed_window(path: Path, crop: int) -> tuple[int, int, int, int]:
    """The crop x crop window (full-resolution pixels) with the most detail, away from masked areas."""
    dataset = gdal.OpenEx(str(path), gdal.OF_RASTER, open_options=["OVERVIEW_LEVEL=NONE"])
    width, height = dataset.RasterXSize, dataset.RasterYSize
    scale = min(1.0, 2048 / max(width, height))
    view = read(path, long_side=2048).astype(np.float64).mean(axis=-1)
    step, side = max(1, round(crop * scale / 2)), max(2, round(crop * scale))
    best, best_score = (0, 0), -1.0
    for row in range(0, max(1, view.shape[0] - side + 1), step):
        for col in range(0, max(1, view.shape[1] - side + 1), step):
            block = view[row : row + side, col : col + side]
            score = float(block.std()) if (block > 0).mean() > 0.99 else 0.0
            if score > best_score:
                best, best_score = (row, col), score
    x = min(round(best[1] / scale), max(0, width - crop))
    y = min(round(best[0] / scale), max(0, height - crop))
    return x, y, min(crop, width), min(crop, height)


def side_by_side(comparisons: list[Comparison], path: Path, crop: int = 128) -> Path:
    """Write the figure: one row per comparison (original, compressed, original crop, compressed crop)."""
    figure, axes = plt.subplots(len(comparisons), 4, figsize=(18, 5.0 * len(comparisons)), squeeze=False)
    for row, item in zip(axes, comparisons, strict=True):
        window = detailed_window(item.original, crop)
        full = [read(item.original, long_side=FULL_VIEW_SIZE), read(item.compressed, long_side=FULL_VIEW_SIZE)]
        zoom = [read(item.original, window), read(item.compressed, window)]
        low, high = (0, 255) if full[0].dtype == np.uint8 else np.percentile(full[0][full[0] > 0], (2, 98))
        titles = [
            f"{item.name}\noriginal, {size(item.original_bytes)}",
            f"compressed: {item.encoding}, {size(item.compressed_bytes)}\n"
            f"{item.original_bytes / item.compressed_bytes:.1f}x smaller, SSIM {item.ssim:.3f}",
            f"original, {window[2]}x{window[3]} crop\n(full resolution, nearest)",
            f"compressed, same crop\n({item.encoding})",
        ]
        dataset = gdal.Open(str(item.original))
        factor = full[0].shape[1] / dataset.RasterXSize
        for axis, pixels, title in zip(row, [*full, *zoom], titles, strict=True):
            axis.imshow(stretch(pixels, low, high), cmap="gray", interpolation="nearest", vmin=0, vmax=1)
            axis.set_title(title, fontsize=11)
            axis.set_axis_off()
        for axis in row[:2]:
            x, y, w, h = (v * factor for v in window)
            axis.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="#ff3030", linewidth=1.5))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
