"""The benchmark's machinery on a small scene: what it measures is measured right (no timing assertions)."""

from __future__ import annotations

import json
import sys

import boto3
import pytest
from osgeo import gdal
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

from bench import run as bench_run
from bench.measure import S3ByteCounter, run_measured
from bench.scene import SCENES, build_scene

MiB = 1024 * 1024


def test_the_scene_is_a_mirrored_mosaic_of_the_landsat_sample_with_its_nodata(tmp_path):
    path = build_scene(SCENES["S"], tmp_path)
    scene = gdal.Open(str(path))
    tile = gdal.Open(str(bench_run.ROOT / "sample_data" / "RGB.byte.tif"))
    assert (scene.RasterXSize, scene.RasterYSize) == (3 * tile.RasterXSize, 3 * tile.RasterYSize)
    assert scene.GetRasterBand(1).GetNoDataValue() == 0
    assert scene.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") is None, "uncompressed, as the blog's input"
    original = tile.ReadAsArray()
    mirrored = scene.ReadAsArray(tile.RasterXSize, 0, tile.RasterXSize, tile.RasterYSize)
    assert (mirrored == original[:, :, ::-1]).all(), "the second tile is the first one mirrored left-right"
    assert build_scene(SCENES["S"], tmp_path) == path, "a built scene is reused"


def test_scratch_peak_and_rss_are_those_of_the_child(tmp_path):
    script = (
        "import os, time; b = bytearray(200 * 1024 * 1024); "
        "f = open(os.path.join(os.environ['TMPDIR'], 'x'), 'wb'); f.write(os.urandom(30 * 1024 * 1024)); "
        "f.flush(); time.sleep(0.3); f.close(); os.remove(f.name)"
    )
    measured = run_measured([sys.executable, "-c", script], {}, tmp_path / "scratch", tmp_path / "log")
    assert 30 * MiB <= measured.peak_scratch_bytes < 40 * MiB, "a file deleted at the end still counts at its peak"
    assert 200 * MiB <= measured.peak_rss_bytes < 400 * MiB
    assert measured.cpu_s > 0


def test_bytes_moved_count_bodies_sent_and_received_not_server_side_copies(s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    counter = S3ByteCounter().attach(client)
    client.create_bucket(Bucket="bench-bytes")
    client.put_object(Bucket="bench-bytes", Key="a", Body=b"x" * 1000)
    client.get_object(Bucket="bench-bytes", Key="a")["Body"].read()
    client.copy_object(Bucket="bench-bytes", Key="b", CopySource={"Bucket": "bench-bytes", "Key": "a"})
    assert (counter.uploaded, counter.downloaded) == (1000, 1000)
    assert counter.calls["CopyObject"] == 1


@pytest.mark.slow
def test_one_round_runs_every_contender_and_each_writes_a_valid_cog(tmp_path):
    contenders = "gdal_translate,reference,ours,rio_cogeo"
    results = bench_run.main(
        ["--scenes", "S", "--rounds", "S=1", "--contenders", contenders, "--skip-rate-distortion",
         "--quiet-wait", "0", "--out", str(tmp_path)]
    )  # fmt: skip
    rows = results["scenes"]["S"]
    assert set(rows) == set(contenders.split(","))
    for name in rows:
        _warnings, errors, _ = validate(str(tmp_path / "outputs" / f"S-{name}.tif"), full_check=True)
        assert not errors, f"{name} did not write a valid COG: {errors}"
    ours, reference = rows["ours"], rows["reference"]
    in_out = ours["input_bytes"] + ours["output_bytes"]
    # The original is downloaded once (or, streamed, counted by GDAL's network statistics), the COG uploaded once.
    assert ours["bytes_moved"] == pytest.approx(in_out, rel=0.01), "ours moves the original once (server-side archive)"
    assert reference["bytes_moved"] == pytest.approx(2 * reference["input_bytes"] + reference["output_bytes"], rel=0.01)
    assert ours["peak_tmp_mib"] * MiB >= ours["input_bytes"], "the downloaded original is seen in scratch"
    assert ours["mask"], "ours keeps nodata as an exact mask"
    assert not reference["mask"], "the reference keeps a nodata value"
    assert json.loads((tmp_path / "results.json").read_text())["targets"]


def _rd(image: str, encoder: str, size: int, ssim: float) -> dict:
    return {"image": image, "encoder": encoder, "bytes": size, "ssim": ssim, "mask": True, "detail": ""}


def test_the_default_rate_distortion_target_is_checked_on_every_image_not_only_in_total():
    rd = [
        _rd("a.tif", "reference", 100, 0.9),
        _rd("b.tif", "reference", 100, 0.9),
        *(_rd("a.tif", name, 101, 0.9) for name in ("ours", "ours_target_ssim", "ours_target_ssim_webp")),
        *(_rd("b.tif", name, 50, 0.9) for name in ("ours", "ours_target_ssim", "ours_target_ssim_webp")),
    ]
    checks = {check["target"].split(", ")[1].split(":")[0]: check for check in bench_run.verdicts({}, rd)}
    assert checks["default"]["verdict"] == "FAIL", "0.755x in total, but larger on a.tif"
    assert "larger on ['a.tif']" in checks["default"]["measured"]
    assert checks["TARGET_SSIM + WEBP"]["verdict"] == "PASS", "its target is the total: 0.755x <= 0.8x"
    rd[2] = _rd("a.tif", "ours", 100, 0.9)
    assert bench_run.verdicts({}, rd)[0]["verdict"] == "PASS", "no larger and no worse on each image"
    rd[2] = _rd("a.tif", "ours", 90, 0.85)
    assert bench_run.verdicts({}, rd)[0]["verdict"] == "FAIL", "smaller, but SSIM below the reference's"


def test_an_unknown_contender_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench_run.parser().parse_args(["--contenders", "ours,ours_proposed"])
    assert exit_.value.code == 2
    assert "unknown contender(s) ours_proposed" in capsys.readouterr().err
    assert bench_run.parser().parse_args(["--contenders", "ours,reference"]).contenders == ["ours", "reference"]
