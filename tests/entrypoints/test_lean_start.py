"""A lean function: what a cold start imports, and GDAL's block cache sized for how the original is read."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import sample_path
from osgeo import gdal

from imagery_archive import FUNCTION_ROOT
from imagery_archive.errors import SettingsError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.settings import FunctionSettings
from tests.support.function import cold_start

MiB = 1024 * 1024
ONLY_SOME_OBJECTS_NEED = ("skimage", "scipy", "pystac", "matplotlib", "imagery_archive.catalogue.item")
"""Modules a cold start must not import: the full SSIM measure's (16-bit and float outputs with an error
bound, SSIM_MEASURE=full) and the STAC Item's (only objects that get archived)."""


def test_a_cold_start_imports_only_what_every_object_needs(s3_endpoint):
    probe = "import sys, handler; print(' '.join(sorted(set(sys.modules))))"
    env = {**os.environ, "OUTPUT_BUCKET": "any-bucket", "POWERTOOLS_METRICS_NAMESPACE": "Tests"}
    started = subprocess.run(
        [sys.executable, "-c", probe], cwd=FUNCTION_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert started.returncode == 0, started.stderr
    imported = set(started.stdout.split())
    assert "imagery_archive.imaging.compress" in imported, "the probe imported the function"
    assert not imported & set(ONLY_SOME_OBJECTS_NEED), (
        f"imported at every cold start: {imported & set(ONLY_SOME_OBJECTS_NEED)}"
    )


def test_the_block_cache_of_each_read_mode_is_a_setting():
    settings = FunctionSettings.from_env({"OUTPUT_BUCKET": "b"})
    assert (settings.block_cache_mb(streamed=False), settings.block_cache_mb(streamed=True)) == (128, 64)
    tuned = FunctionSettings.from_env({"OUTPUT_BUCKET": "b", "GDAL_CACHEMAX": "256", "GDAL_CACHEMAX_STREAMED": "32"})
    assert (tuned.block_cache_mb(streamed=False), tuned.block_cache_mb(streamed=True)) == (256, 32)
    with pytest.raises(SettingsError, match="GDAL_CACHEMAX_STREAMED"):
        FunctionSettings.from_env({"OUTPUT_BUCKET": "b", "GDAL_CACHEMAX_STREAMED": "8"})


def test_ssim_measure_is_a_setting():
    assert FunctionSettings.from_env({"OUTPUT_BUCKET": "b"}).profile.ssim_measure == "sampled"
    assert FunctionSettings.from_env({"OUTPUT_BUCKET": "b", "SSIM_MEASURE": " Full "}).profile.ssim_measure == "full"
    with pytest.raises(SettingsError, match="SSIM_MEASURE"):
        FunctionSettings.from_env({"OUTPUT_BUCKET": "b", "SSIM_MEASURE": "fast"})


@pytest.mark.usefixtures("production_gdal")
def test_compress_runs_with_the_block_cache_asked_for_then_puts_it_back(tmp_path):
    before = gdal.GetCacheMax()
    seen: list[int] = []
    compress(
        sample_path("RGB.byte.tif"),
        tmp_path / "out.tif",
        CompressionProfile(),
        on_source_read=lambda: seen.append(gdal.GetCacheMax()),
        block_cache_mb=48,
    )
    assert seen == [48 * MiB], "GDAL's block cache while the original was read"
    assert gdal.GetCacheMax() == before


@pytest.mark.usefixtures("production_gdal")
def test_the_function_sizes_the_block_cache_by_read_mode(monkeypatch, tmp_path, s3_endpoint):
    function = cold_start(
        monkeypatch, OUTPUT_BUCKET="b", CPL_TMPDIR=str(tmp_path), GDAL_CACHEMAX="96", GDAL_CACHEMAX_STREAMED="40"
    )
    compress_image = function.pipeline.compressor(CompressionProfile)
    seen: list[int] = []

    def record() -> None:
        seen.append(gdal.GetCacheMax() // MiB)

    source = sample_path("RGB.byte.tif")
    compress_image(source, tmp_path / "downloaded.tif", on_source_read=record)
    # a streamed read is the one given network settings (`archive_object`); harmless on a local file
    compress_image(source, tmp_path / "streamed.tif", on_source_read=record, read_options={"GDAL_HTTP_MAX_RETRY": "4"})
    assert seen == [96, 40]
