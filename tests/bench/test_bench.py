"""The benchmark's machinery on a small scene: what it measures is measured right (no timing assertions)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys

import boto3
import pytest
from osgeo import gdal
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

from bench import run as bench_run
from bench.measure import Measurement, S3ByteCounter, run_measured
from bench.orchestration import (
    ALL_CONTENDERS,
    DEFAULT_GDAL_CACHE_MB,
    SCALING_CONTENDERS,
    VENV_BIN,
    Session,
    command_and_env,
    snapshot_function_code,
)
from bench.s3local import Endpoint, moto_server
from bench.scene import SCENES, build_scene
from bench.warm import WarmPlan, WarmRun, run_warm, summarise_warm, warm_section
from imagery_archive_cli.local.s3_server import FAKE_CREDENTIALS, s3_client

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
         "--warm-objects", "0", "--quiet-wait", "0", "--out", str(tmp_path)]
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


def test_the_all_threads_contender_is_gdal_translate_on_every_cpu_with_average_overviews(tmp_path):
    session = Session(tmp_path, Endpoint("http://127.0.0.1:9", ()), s3=None)
    sample = bench_run.ROOT / "sample_data" / "RGB.byte.tif"
    command, env = command_and_env("gdal_translate_all_threads", sample, tmp_path, tmp_path / "spec.json", session)
    assert command[:4] == ["gdal_translate", "-q", "-of", "COG"]
    options = {command[i + 1] for i, word in enumerate(command) if word == "-co"}
    assert options == {"COMPRESS=JPEG", "QUALITY=75", "NUM_THREADS=ALL_CPUS", "OVERVIEW_RESAMPLING=AVERAGE"}
    assert env["GDAL_CACHEMAX"] == str(DEFAULT_GDAL_CACHE_MB), "GDAL's default cache, as the other CLI contenders"
    assert "gdal_translate_all_threads" in ALL_CONTENDERS
    assert "gdal_translate_all_threads" in SCALING_CONTENDERS
    subprocess.run(command, env=env, check=True)
    _warnings, errors, _ = validate(command[-1], full_check=True)
    assert not errors


def _row(wall_s: float, vs_all_threads: float) -> dict:
    """A made-up row of the scene table, with what the verdicts read."""
    return {
        "wall_s": wall_s,
        "wall_vs_gdal_translate": None,
        "wall_vs_gdal_translate_all_threads": vs_all_threads,
        "input_bytes": 100 * MiB,
        "output_bytes": 10 * MiB,
        "bytes_moved": 110 * MiB,
        "peak_tmp_max_mib": 100,
        "peak_rss_max_mib": 500,
    }


def _warm(vs_reference: float, vs_encode: float) -> dict:
    """A made-up summary of the warm scenario, with what the verdicts read."""
    contenders = {name: {"per_object_s": 1.0} for name in ("ours_warm", "reference_warm", "encode_warm")}
    ratios = {"reference_warm": vs_reference, "encode_warm": vs_encode}
    return {"contenders": contenders, "ours_warm_vs": {k: {"median": v, "rounds": [v]} for k, v in ratios.items()}}


def test_ours_is_judged_against_all_threads_on_m190_and_l_and_per_object_when_warm():
    table = {
        "M190": {"ours": _row(8.0, 1.6), "gdal_translate_all_threads": _row(5.0, 1.0)},
        "L": {"ours": _row(40.0, 1.31), "gdal_translate_all_threads": _row(30.5, 1.0), "job": _row(39.0, 1.28)},
        "M": {"ours": _row(9.0, 3.0), "gdal_translate_all_threads": _row(3.0, 1.0)},
    }
    checks = {check["target"]: check for check in bench_run.verdicts(table, [], _warm(1.0, 2.1))}
    assert checks["M190: end to end <= 1.6x gdal_translate_all_threads"]["verdict"] == "PASS", "the limit is inclusive"
    assert checks["L: end to end <= 1.3x gdal_translate_all_threads"]["verdict"] == "FAIL"
    assert "job 1.28x" in checks["L: end to end <= 1.3x gdal_translate_all_threads"]["measured"], "shown, not judged"
    assert not any("M: end to end" in target and "all_threads" in target for target in checks), "M has no such target"
    assert "M: bytes moved <= input + output" in checks, "the existing verdicts stay"
    assert checks["small objects warm: ours <= reference per object"]["verdict"] == "PASS"
    assert checks["small objects warm: ours <= 2x bare encode per object"]["verdict"] == "FAIL"
    assert not any(target.startswith("small objects") for target in map(str, bench_run.verdicts(table, [])))


def _warm_run(contender: str, number: int, seconds: list[float]) -> WarmRun:
    measured = Measurement(
        wall_s=sum(seconds), cpu_s=1.0, user_s=1.0, sys_s=0.0, peak_rss_bytes=MiB, peak_scratch_bytes=0
    )
    return WarmRun(contender, number, measured, seconds, [{"compress": s} for s in seconds])


def test_the_warm_figures_leave_the_first_object_out_and_take_the_median_of_each_rounds_ratio():
    runs = [
        _warm_run("ours_warm", 1, [9.0, 1.0, 1.0]),
        _warm_run("reference_warm", 1, [9.0, 2.0, 2.0]),
        _warm_run("encode_warm", 1, [9.0, 0.5, 0.5]),
        _warm_run("ours_warm", 2, [9.0, 3.0, 3.0]),
        _warm_run("reference_warm", 2, [9.0, 2.0, 2.0]),
        _warm_run("encode_warm", 2, [9.0, 1.0, 1.0]),
    ]
    warm = summarise_warm(runs, WarmPlan(objects=3, rounds=2), object_bytes=MiB)
    ours = warm["contenders"]["ours_warm"]
    assert (ours["per_object_s"], ours["first_object_s"], ours["phases"]) == (2.0, 9.0, {"compress": 2.0})
    assert warm["ours_warm_vs"]["reference_warm"] == {"median": 1.0, "rounds": [0.5, 1.5]}
    assert warm["ours_warm_vs"]["encode_warm"]["rounds"] == [2.0, 3.0]


def test_the_warm_scenario_runs_each_contender_over_every_object_in_one_process(tmp_path):
    snapshot_function_code(tmp_path)
    plan = WarmPlan(objects=2, rounds=1, pixels=512, mosaic=SCENES["S"])
    with moto_server(VENV_BIN, tmp_path / "logs" / "moto_server.log", tmp_path / "moto_tmp") as (url, pid):
        s3 = s3_client({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": url})
        warm = run_warm(plan, Session(tmp_path, Endpoint(url, (pid,)), s3, quiet_wait_s=0), started=0.0)
    rows = warm["contenders"]
    assert set(rows) == {"ours_warm", "reference_warm", "encode_warm"}
    for run in warm["runs"]:
        assert len(run["seconds"]) == 2
        assert all(seconds > 0 for seconds in run["seconds"])
        assert run["measurement"]["peak_rss_bytes"] > 0
    assert {"download", "compress", "archive", "delete"} <= set(rows["reference_warm"]["phases"])
    assert {"compress", "archive"} <= set(rows["ours_warm"]["phases"]), "from the handler's log line of each object"
    assert set(warm["ours_warm_vs"]) == {"reference_warm", "encode_warm"}
    assert all(ratio["median"] > 0 for ratio in warm["ours_warm_vs"].values())
    assert "| phase, s per object | ours_warm | reference_warm |" in warm_section(warm)
    objects = sorted((tmp_path / "scenes" / "warm").glob("*.tif"))
    first, second = (gdal.Open(str(path)) for path in objects)
    assert (first.RasterXSize, first.GetRasterBand(1).GetBlockSize()) == (512, [512, 512])
    assert (first.ReadAsArray() != second.ReadAsArray()).any(), "the objects are different windows"
    assert first.GetGeoTransform() != second.GetGeoTransform(), "each georeferenced where it lies"


def test_the_warm_scenario_needs_two_objects_or_none():
    assert bench_run.parser().parse_args(["--warm-objects", "0"]).warm_objects == 0
    with pytest.raises(SystemExit):
        bench_run.parser().parse_args(["--warm-objects", "1"])


def test_traced_our_function_sends_a_segment_per_object_as_in_lambda_with_active_tracing(tmp_path):
    snapshot_function_code(tmp_path)
    plan = WarmPlan(objects=2, rounds=1, pixels=512, mosaic=SCENES["S"])
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon,
        moto_server(VENV_BIN, tmp_path / "logs" / "moto_server.log", tmp_path / "moto_tmp") as (url, pid),
    ):
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(0.5)
        s3 = s3_client({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": url})
        address = f"127.0.0.1:{daemon.getsockname()[1]}"
        session = Session(tmp_path, Endpoint(url, (pid,)), s3, quiet_wait_s=0, xray_daemon=address)
        run_warm(plan, session, started=0.0)
        segments = []
        with contextlib.suppress(TimeoutError):
            while True:
                segments.append(json.loads(daemon.recv(65_536).decode().split("\n", 1)[1]))
    objects = [segment for segment in segments if segment.get("name") == "object"]
    assert len(objects) == 2, "one span per object archived by ours_warm"
    assert {segment["annotations"]["outcome"] for segment in objects} == {"archived"}
    _, job_env = command_and_env("job", tmp_path / "x.tif", tmp_path, tmp_path / "spec.json", session)
    assert job_env["POWERTOOLS_TRACE_DISABLED"] == "true", "the large-scene job is never traced (no daemon on Fargate)"
