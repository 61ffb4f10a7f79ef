"""The settings chooser: real encodings of the bundled imagery, a plot, a recommendation, clear errors."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from osgeo import gdal

from imagery_archive_cli.choosing.choose_settings import main, measure, recommend, settings
from tests.support.paths import ROOT

SAMPLES = ROOT / "sample_data"


class NoBar:
    def update(self, _: int) -> None:
        pass


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Two real images at a few settings: 8-bit RGB, and 16-bit (which the function keeps lossless)."""
    work = tmp_path_factory.mktemp("encodings")
    profiles = settings((30, 60, 90))
    return {
        image: measure(image, profiles, work, NoBar())
        for image in (SAMPLES / "neon_rgb_10cm_SJER.tif", SAMPLES / "worldview_pan_rpc_11bit.tif")
    }


def test_lower_quality_is_smaller_and_worse(measured):
    produced = measured[SAMPLES / "neon_rgb_10cm_SJER.tif"]
    for codec in ("JPEG", "WEBP"):
        points = sorted((m for p, m in produced.items() if p.codec == codec), key=lambda m: m.requested.quality)
        assert [m.encoding for m in points] == [f"{codec} q30", f"{codec} q60", f"{codec} q90"]
        sizes = [m.compressed_bytes for m in points]
        assert sizes == sorted(sizes), f"{codec}: higher quality must cost bytes: {sizes}"
        assert [m.ssim for m in points] == sorted(m.ssim for m in points), f"{codec}: and buy fidelity"
        assert [m.psnr for m in points] == sorted(m.psnr for m in points)
        assert all(20 < m.psnr < 60 and 0.5 < m.ssim < 1 for m in points)
    lossless = [m for p, m in produced.items() if p.codec in {"DEFLATE", "ZSTD"}]
    assert all(m.ssim == 1.0 and math.isinf(m.psnr) for m in lossless), "lossless settings keep every pixel"
    assert all(m.original_bytes == (SAMPLES / "neon_rgb_10cm_SJER.tif").stat().st_size for m in produced.values())


def test_sixteen_bit_imagery_reports_the_encoding_actually_used_once(measured):
    produced = measured[SAMPLES / "worldview_pan_rpc_11bit.tif"]
    assert {m.encoding for m in produced.values()} == {"LERC_ZSTD"}, "JPEG can't hold 16-bit: kept lossless"
    assert len(set(map(id, produced.values()))) == 1, "identical results are measured and listed once"


def test_recommendation_is_the_smallest_setting_reaching_the_target_on_every_image(measured):
    choice = recommend(measured, 0.9)
    assert choice.setting is not None
    chosen = [produced[choice.setting] for produced in measured.values()]
    assert all(m.ssim >= 0.9 for m in chosen)
    for profile in next(iter(measured.values())):
        others = [produced[profile] for produced in measured.values()]
        if all(m.ssim >= 0.9 for m in others):
            assert sum(m.compressed_bytes for m in others) >= choice.total_bytes
    rgb = choice.per_image[SAMPLES / "neon_rgb_10cm_SJER.tif"]
    assert rgb is not None
    assert rgb.ssim >= 0.9


def test_command_prints_a_table_writes_the_plot_and_recommends(tmp_path, capsys):
    plot = tmp_path / "rd.png"
    code = main([str(SAMPLES / "aerial_hro_015m_intmask.tif"), "--qualities", "40,80", "--plot", str(plot),
                 "--target-ssim", "0.9"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    for expected in ("JPEG q40", "JPEG q80", "WEBP q40", "DEFLATE", "ZSTD", "PSNR dB", "Target SSIM 0.9"):
        assert expected in out
    assert "npx cdk deploy -c compression=" in out
    image = gdal.Open(str(plot))
    assert image.GetDriver().ShortName == "PNG"
    assert (image.RasterXSize, image.RasterYSize) == (900, 600)
    assert np.ptp(image.ReadAsArray()) > 0, "the plot is not blank"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imagery_archive_cli.choosing.choose_settings", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target-ssim", "1.5", "x.tif"], "must lie strictly between 0 and 1"),
        (["--target-ssim", "high", "x.tif"], "'high' is not a number"),
        (["--qualities", "50,abc", "x.tif"], "'abc' is not a quality from 1 to 100"),
        ([], "the following arguments are required: IMAGE"),
        (["no/such/scene.tif"], "error: no/such/scene.tif: no such file"),
        (["sample_data/README.md"], "error: sample_data/README.md: GDAL can't open it as an image"),
        (["sample_data"], "error: sample_data: is a directory"),
    ],
)
def test_bad_arguments_and_unreadable_files_get_one_line_and_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
