"""Class data stays exact: paletted and categorical rasters, at full resolution and in every overview."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

pytestmark = pytest.mark.usefixtures("production_gdal")


def overview_levels(path: Path) -> list[tuple[int, np.ndarray]]:
    """(decimation factor, pixels) of every overview of band 1."""
    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    levels = []
    for index in range(band.GetOverviewCount()):
        overview = band.GetOverview(index)
        levels.append((round(dataset.RasterXSize / overview.XSize), overview.ReadAsArray()))
    return levels


def values_not_in_their_block(full: np.ndarray, overview: np.ndarray, factor: int) -> int:
    """How many overview pixels hold a value found nowhere in the factor x factor block they summarise."""
    height, width = overview.shape
    blocks = np.zeros((height, width, factor * factor), dtype=full.dtype)
    padded = np.pad(full, ((0, height * factor - full.shape[0]), (0, width * factor - full.shape[1])), mode="edge")
    for dy in range(factor):
        for dx in range(factor):
            blocks[:, :, dy * factor + dx] = padded[dy::factor, dx::factor][:height, :width]
    return int((~(blocks == overview[:, :, np.newaxis]).any(axis=2)).sum())


def assert_overviews_hold_only_block_values(source: Path, output: Path) -> None:
    full = gdal.Open(str(source)).ReadAsArray()  # one band: rows x cols
    levels = overview_levels(output)
    assert levels, "no overviews to check"
    present = set(np.unique(full).tolist())
    for factor, overview in levels:
        invented = set(np.unique(overview).tolist()) - present
        assert not invented, f"1:{factor} overview holds class values the image never has: {sorted(invented)[:10]}"
        foreign = values_not_in_their_block(full, overview, factor)
        assert foreign == 0, (
            f"1:{factor} overview: {foreign} of {overview.size} pixels hold a class found nowhere in their block"
        )


def test_paletted_overviews_hold_only_values_of_their_block(cog):
    made = cog("nitf_spot_cib_palette.ntf")
    assert made.result.encoding.resampling == "NEAREST"
    assert_overviews_hold_only_block_values(made.source, made.output)
    dataset = gdal.Open(str(made.output))
    palette = dataset.GetRasterBand(1).GetColorTable()
    assert palette is not None, "the colour table was lost"
    assert palette.GetCount() == 256
