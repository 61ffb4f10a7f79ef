"""Shared fixtures.

Imagery: the bundled samples (`sample_data/`, see its MANIFEST.tsv), images derived from them where a
case is missing from the samples, and their COGs. Anything costly is made once per session: `cog`
compresses each (source, profile) pair at most once, whichever test asks first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, gdal_array

from imagery_archive.imaging.compress import compress, configure_gdal, gdal_configuration_restored
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.imaging.results import CompressionResult

gdal.UseExceptions()


# ---------------------------------------------------------------------------------------------------
# Imagery
# ---------------------------------------------------------------------------------------------------

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def sample_path(name: str) -> Path:
    """A bundled sample image, by file name."""
    path = SAMPLE_DATA / name
    assert path.is_file(), f"missing sample image {path}: see sample_data/MANIFEST.tsv"
    return path


def write_derived(path: Path, template: Path, bands: np.ndarray, nodata: float | None = None) -> Path:
    """Write `bands` (bands x rows x cols) as a tiled GeoTIFF with `template`'s georeferencing."""
    source = gdal.Open(str(template))
    data_type = gdal_array.NumericTypeCodeToGDALTypeCode(bands.dtype)
    count, height, width = bands.shape
    options = ["TILED=YES", "COMPRESS=DEFLATE"]
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), width, height, count, data_type, options)
    dataset.SetGeoTransform(source.GetGeoTransform())
    dataset.SetProjection(source.GetProjection())
    for index, values in enumerate(bands, start=1):
        band = dataset.GetRasterBand(index)
        band.WriteArray(values)
        if nodata is not None:
            band.SetNoDataValue(nodata)
    dataset.FlushCache()
    dataset = None
    return path


def crop(source: Path, destination: Path, x: int, y: int, width: int, height: int, **options: object) -> Path:
    """A window of `source` as a new file (GeoTIFF unless `format=` says otherwise)."""
    gdal.Translate(str(destination), str(source), srcWin=[x, y, width, height], **options)
    return destination


@pytest.fixture
def production_gdal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """GDAL configured as the Lambda handler configures it (`configure_gdal`), then put back.

    GDAL's configuration is process-wide: this also shields imagery tests from whatever other tests
    left behind (a CPL_TMPDIR that no longer exists makes every COG with overviews fail).
    """
    with gdal_configuration_restored():
        configure_gdal(cache_mb=256, tmp_dir=str(tmp_path_factory.getbasetemp()))
        yield


@dataclass(frozen=True)
class Compressed:
    """One `compress` call: what went in, what came out, and what it reported."""

    source: Path
    output: Path
    result: CompressionResult


@pytest.fixture(scope="session")
def cog(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Compressed]:
    """`cog(source, profile)`: `source` (a sample's name or a path) compressed once per session."""
    out_dir = tmp_path_factory.mktemp("cogs")
    made: dict[tuple[Path, CompressionProfile], Compressed] = {}

    def make(source: str | Path, profile: CompressionProfile | None = None) -> Compressed:
        path = source if isinstance(source, Path) else sample_path(source)
        profile = profile or CompressionProfile()
        key = (path, profile)
        if key not in made:
            output = out_dir / f"{len(made):03d}_{path.stem}.tif"
            made[key] = Compressed(path, output, compress(path, output, profile))
        return made[key]

    return make


@pytest.fixture(scope="session")
def derived_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("derived")


@pytest.fixture(scope="session")
def rgb_uint16(derived_dir: Path) -> Path:
    """RGB.byte.tif stretched to 16 bits (x257), its 0 collar kept as nodata=0."""
    values = gdal.Open(str(sample_path("RGB.byte.tif"))).ReadAsArray().astype(np.uint16) * 257
    return write_derived(derived_dir / "rgb_uint16.tif", sample_path("RGB.byte.tif"), values, nodata=0)


def _dsm_with_holes(nodata: float) -> np.ndarray:
    """The lidar DSM with its lowest tenth (water, no lidar return) set to `nodata`."""
    values = gdal.Open(str(sample_path("dsm_lidar_float32.tif"))).ReadAsArray()
    values = values.astype(np.float32)
    values[values < np.percentile(values, 10)] = nodata
    return values[np.newaxis]


@pytest.fixture(scope="session")
def dsm_holes(derived_dir: Path) -> Path:
    """Float32 DSM with nodata=-9999 holes (the bundled DSM itself has no nodata pixel)."""
    path = derived_dir / "dsm_holes.tif"
    return write_derived(path, sample_path("dsm_lidar_float32.tif"), _dsm_with_holes(-9999.0), nodata=-9999.0)


@pytest.fixture(scope="session")
def dsm_nan_holes(derived_dir: Path) -> Path:
    """Float32 DSM whose holes are NaN, declared as nodata=nan."""
    path = derived_dir / "dsm_nan_holes.tif"
    return write_derived(path, sample_path("dsm_lidar_float32.tif"), _dsm_with_holes(np.nan), nodata=np.nan)


@pytest.fixture(scope="session")
def dsm_int64_mm(derived_dir: Path) -> Path:
    """The DSM in whole millimetres as Int64 (GDAL >= 3.5 writes 64-bit integer GeoTIFFs)."""
    values = gdal.Open(str(sample_path("dsm_lidar_float32.tif"))).ReadAsArray()
    millimetres = np.round(values.astype(np.float64) * 1000).astype(np.int64)[np.newaxis]
    return write_derived(derived_dir / "dsm_int64_mm.tif", sample_path("dsm_lidar_float32.tif"), millimetres)


@pytest.fixture(scope="session")
def worldview_nitf(derived_dir: Path) -> Path:
    """The WorldView chip as NITF, its RPCs written by GDAL as an RPC00B TRE.

    Written with PAM off so no .aux.xml can hold the RPCs: whatever GDAL reads back comes from the
    TRE. The chip's placeholder geotransform (lat 0..274) is dropped, as IGEOLO can't hold it.
    """
    chip = gdal.Translate("", str(sample_path("worldview_pan_rpc_11bit.tif")), format="MEM")
    chip.SetProjection("")
    path = derived_dir / "worldview_rpc.ntf"
    previous = gdal.GetConfigOption("GDAL_PAM_ENABLED")
    gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")
    try:
        gdal.PushErrorHandler("CPLQuietErrorHandler")  # "LAT_OFF was rounded ...": RPC00B's precision
        try:
            gdal.Translate(str(path), chip, format="NITF")
        finally:
            gdal.PopErrorHandler()
    finally:
        gdal.SetConfigOption("GDAL_PAM_ENABLED", previous)
    assert not list(derived_dir.glob("worldview_rpc.ntf.aux.xml")), "RPCs must come from the NITF itself"
    return path


@pytest.fixture(scope="session")
def sar_byte(derived_dir: Path) -> Path:
    """The Sentinel-1 amplitude scaled to 8 bits (1280 x 837): larger than target_ssim's trial windows."""
    path = derived_dir / "sar_byte.tif"
    gdal.Translate(str(path), str(sample_path("sentinel1_grd_gcps.tif")), outputType=gdal.GDT_Byte, scaleParams=[[]])
    return path


@pytest.fixture(scope="session")
def sar_complex(derived_dir: Path) -> Path:
    """CInt16 (the type of Sentinel-1 SLC), I and Q from the Sentinel-1 amplitude; 700 x 600, so it needs
    an overview."""
    amplitude = gdal.Open(str(sample_path("sentinel1_grd_gcps.tif"))).ReadAsArray(0, 0, 700, 600)
    amplitude = amplitude.astype(np.int16) // 2
    path = derived_dir / "sar_complex.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 700, 600, 1, gdal.GDT_CInt16, ["TILED=YES"])
    dataset.GetRasterBand(1).WriteArray(amplitude + 1j * np.roll(amplitude, 1, axis=1))
    dataset = None
    return path


@pytest.fixture(scope="session")
def reflectance_nan(derived_dir: Path) -> Path:
    """RGB.byte.tif as Float32 reflectance (0-1), its collar NaN in every band, declared nodata=nan."""
    values = gdal.Open(str(sample_path("RGB.byte.tif"))).ReadAsArray()
    reflectance = (values / 255.0).astype(np.float32)
    reflectance[:, (values == 0).all(axis=0)] = np.nan
    return write_derived(derived_dir / "reflectance_nan.tif", sample_path("RGB.byte.tif"), reflectance, np.nan)


@pytest.fixture(scope="session")
def rgb_strip(derived_dir: Path) -> Path:
    """Two rows of RGB.byte.tif: a scan-line strip, thinner than any SSIM window."""
    return crop(sample_path("RGB.byte.tif"), derived_dir / "rgb_strip.tif", 0, 300, 791, 2)


# --- the synthesized CDK template (once per session: the stack tests only read it) -----------------


@pytest.fixture(scope="session")
def template():
    """The template `cdk synth` makes from cdk.json's context."""
    from tests.support.stack import synth_template  # noqa: PLC0415 - CDK loads only for the tests that use it

    return synth_template()


@pytest.fixture(scope="session")
def imported():
    """The template when the stack imports existing buckets."""
    from tests.support.stack import IMPORTED_BUCKETS, synth_template  # noqa: PLC0415

    return synth_template(**IMPORTED_BUCKETS)
