"""`make demo`: the real pipeline on the bundled imagery, end to end, and what it reports."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr

from imagery_archive.archiving.outcomes import Outcome
from imagery_archive_cli.catalogue.stac_validation import validate
from imagery_archive_cli.costs import pricing
from imagery_archive_cli.demo.command import main
from imagery_archive_cli.demo.proof import prove_order
from imagery_archive_cli.demo.report import render
from imagery_archive_cli.demo.run import BROKEN_KEY, INPUT_BUCKET, OUTPUT_BUCKET, run_demo
from imagery_archive_cli.demo.samples import bundled_samples
from imagery_archive_cli.local.function import Invocation, S3Call
from imagery_archive_cli.local.s3_server import reset
from tests.catalogue.test_stac import geotransform_outline, polygon
from tests.support.paths import SAMPLES

GB = 1024**3


@pytest.fixture(scope="module")
def demo(s3_endpoint, tmp_path_factory):
    """The demo's whole run on every bundled sample, against the test suite's S3 endpoint."""
    reset(s3_endpoint)  # the shared server may hold an earlier module's buckets and archives
    endpoint = {name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    endpoint["AWS_ENDPOINT_URL"] = s3_endpoint
    out = tmp_path_factory.mktemp("demo_out")
    lines: list[str] = []
    run = run_demo(bundled_samples(), out, pricing.PriceTable(), echo=lines.append, endpoint=endpoint)
    return run, lines


@pytest.fixture(scope="module")
def s3(demo, s3_endpoint):
    import boto3  # noqa: PLC0415

    return boto3.client("s3", endpoint_url=s3_endpoint)


def sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


@pytest.mark.slow
def test_every_sample_is_compressed_archived_and_verified(demo, s3):
    run, _ = demo
    samples = bundled_samples()
    assert [row.key for row in run.rows] == [f"scenes/{path.name}" for path in samples]
    for row, path in zip(run.rows, samples, strict=True):
        output = s3.head_object(Bucket=OUTPUT_BUCKET, Key=row.output_key)
        assert row.compressed_bytes == output["ContentLength"], "the table's sizes are the bucket's"
        assert row.original_bytes == path.stat().st_size == int(output["Metadata"]["source-size"])
        assert f"{row.ssim:.4f}" == output["Metadata"]["ssim"]
        archive = s3.head_object(Bucket=OUTPUT_BUCKET, Key=f"archive/{row.key}", ChecksumMode="ENABLED")
        assert archive["StorageClass"] == row.archive_class == "GLACIER"
        assert archive["ChecksumSHA256"] == sha256(path), f"{path.name}: the archive is the untouched original"
        assert row.seconds > 0
    assert all(run.archives_match_files.values())
    assert len(run.archives_match_files) == len(samples)


@pytest.mark.slow
def test_originals_left_only_after_their_archive_was_verified(demo, s3):
    run, _ = demo
    assert all(proof.ok for proof in run.proofs), [proof for proof in run.proofs if not proof.ok]
    assert all(proof.copied < proof.verified < proof.deleted for proof in run.proofs)
    listing = s3.list_objects_v2(Bucket=INPUT_BUCKET).get("Contents", [])
    assert [item["Key"] for item in listing] == [BROKEN_KEY], "only the broken upload stays in the input bucket"


@pytest.mark.slow
def test_the_broken_upload_stays_tagged_failed_and_the_error_is_shown(demo, s3):
    run, lines = demo
    assert run.broken_outcome is not None
    assert run.broken_outcome.outcome is Outcome.FAILED
    tags = s3.get_object_tagging(Bucket=INPUT_BUCKET, Key=BROKEN_KEY)["TagSet"]
    assert {"Key": "imagery-archive:status", "Value": "failed"} in tags
    assert [item.tagged_failed for item in run.left_in_place] == [True]
    assert any("function error" in line and BROKEN_KEY in line for line in lines), "the function's error is echoed"
    assert not any(key.endswith("truncated.tif") for key in run.output_keys), "nothing published for it"


@pytest.mark.slow
def test_savings_follow_from_the_sizes_and_the_price_table(demo):
    run, _ = demo
    originals = sum(row.original_bytes for row in run.rows)
    compressed = sum(row.compressed_bytes for row in run.rows)
    count = len(run.rows)
    assert run.savings.before == pytest.approx(originals / GB * 0.023)
    assert run.savings.after_compressed == pytest.approx(compressed / GB * 0.023)
    overhead = count * (8 * 1024 / GB * 0.023 + 32 * 1024 / GB * 0.0036)
    assert run.savings.after_archive == pytest.approx(originals / GB * 0.0036 + overhead)
    assert run.per_tb.before == pytest.approx(1024 * 0.023), "1 TB of originals in Standard"
    assert run.per_tb.saved_fraction == pytest.approx(run.savings.saved_fraction)


@pytest.mark.slow
def test_the_figure_is_a_png_of_the_expected_size(demo):
    run, _ = demo
    png = gdal.Open(str(run.figure))
    assert png.GetDriver().ShortName == "PNG"
    assert (png.RasterXSize, png.RasterYSize) == (18 * 80, 2 * 5 * 80), "two rows of four panels"
    assert png.GetRasterBand(1).ComputeRasterMinMax() != (255, 255), "not blank"


@pytest.mark.slow
def test_the_report_shows_table_proof_savings_and_files(demo):
    run, _ = demo
    text = render(run)
    for expected in (
        "scenes/RGB.byte.tif",
        "total (17 images)",
        "DeleteObject  s3://imagery-input-demo/scenes/RGB.byte.tif  IfMatch=",
        "17 of 17 originals have ChecksumSHA256 = SHA-256 of the bundled file",
        "(the deliberately broken upload: first half of RGB.byte.tif): tagged imagery-archive:status=failed",
        "us-east-1, prices as of 2025",
        "extrapolated: 1 TB of originals like these",
        "compare.png",
    ):
        assert expected in text, expected
    assert "function.log" in text
    assert '"message":"Object archived"' in run.log.read_text()


def test_a_delete_before_verification_would_be_caught():
    calls = (
        S3Call("CopyObject", {"Bucket": "o", "Key": "archive/a.tif"}, 200, {}),
        S3Call("DeleteObject", {"Bucket": "i", "Key": "a.tif", "IfMatch": '"e"'}, 204, {}),
        S3Call(
            "HeadObject",
            {"Bucket": "o", "Key": "archive/a.tif"},
            200,
            {"ContentLength": 5, "ChecksumSHA256": "x", "StorageClass": "GLACIER"},
        ),
    )
    proof = prove_order(Invocation("i", "a.tif", "archived", 0.1, calls), "archive/a.tif", "x", 5, "GLACIER")
    assert proof.problems == ("original deleted before its archive was verified",)
    wrong_checksum = prove_order(Invocation("i", "a.tif", "archived", 0.1, calls), "archive/a.tif", "y", 5, "GLACIER")
    assert "archive never verified (size, SHA-256 of the file, class)" in wrong_checksum.problems


def test_prices_can_be_overridden_and_a_bad_price_file_is_one_line(tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"region": "eu-west-1", "as_of": "2025-06", "per_gb_month": {"GLACIER": 0.0037}}))
    table = pricing.load_prices(prices)
    assert (table.region, table.per_gb_month["GLACIER"], table.per_gb_month["STANDARD"]) == ("eu-west-1", 0.0037, 0.023)
    prices.write_text(json.dumps({"per_gb_month": {"COLD": 1}}))
    for argv, message in [
        (["--prices", str(prices)], "unknown storage class COLD"),
        (["--prices", str(tmp_path / "none.json")], "No such file or directory"),
        (["--quality", "0"], "0 is not between 1 and 100"),
        (["--samples", "nope.tif"], "not in sample_data/: nope.tif"),
        (["--storage-class", "cold"], "invalid choice: 'COLD'"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_every_cog_has_a_valid_item_with_its_footprint_original_and_thumbnail(demo, s3):
    run, lines = demo
    outline_checked = 0
    for row in run.rows:
        item_key = row.output_key.removesuffix(".tif") + ".json"
        item = json.loads(s3.get_object(Bucket=OUTPUT_BUCKET, Key=item_key)["Body"].read())
        validate(item)
        original = item["assets"]["original"]
        assert original["href"] == f"s3://{OUTPUT_BUCKET}/archive/{row.key}"
        assert original["imagery_archive:storage_class"] == row.archive_class
        thumbnail = s3.head_object(Bucket=OUTPUT_BUCKET, Key=row.output_key.removesuffix(".tif") + ".png")
        assert thumbnail["ContentType"] == "image/png"
        sample = SAMPLES / row.key.removeprefix("scenes/")
        if item["properties"]["imagery_archive:geometry_method"] == "geotransform":
            dataset = gdal.Open(str(sample))
            outline = polygon(geotransform_outline(sample, per_edge=64))
            west, east, south, north = outline.GetEnvelope()
            pixel = np.hypot(east - west, north - south) / np.hypot(dataset.RasterXSize, dataset.RasterYSize)
            footprint = ogr.CreateGeometryFromJson(json.dumps(item["geometry"]))
            assert footprint.Within(outline.Buffer(pixel / 2)), f"{row.key}: footprint outside its corners"
            outline_checked += 1
        else:
            assert item["geometry"] is not None, f"{row.key}: placed by its RPCs or GCPs"
    assert outline_checked == len(run.rows) - 2, "all but the RPC and GCP samples are checked against corners"
    assert any("STAC: every COG has a valid Item" in line for line in lines), "the demo shows an Item"
