"""The backfill: objects already in a bucket go through the real handler; safe to interrupt and rerun."""

from __future__ import annotations

import os
import signal

import pytest

from imagery_archive.archiving.outcomes import ObjectResult, Outcome
from imagery_archive_cli.operations.backfill import backfill, main
from tests.support.paths import SAMPLES

IMAGES = {"a/RGB.byte.tif": "RGB.byte.tif", "a/shade.tif": "shade.tif", "b/naip.TIF": "naip_rgbn_5m.tif"}


@pytest.fixture
def stocked(buckets):
    """An input bucket as someone's existing archive: imagery, a non-image, a failed one, a readme."""
    for key, sample in IMAGES.items():
        buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / sample).read_bytes())
    buckets.client.put_object(Bucket=buckets.input, Key="a/README.txt", Body=b"notes")
    buckets.client.put_object(
        Bucket=buckets.input,
        Key="a/bad.tif",
        Body=b"not an image",
        Tagging="imagery-archive:status=failed&imagery-archive:reason=earlier",
    )
    return buckets


def function_env(buckets, tmp_path) -> dict[str, str]:
    return {
        "OUTPUT_BUCKET": buckets.output,
        "CPL_TMPDIR": str(tmp_path),
        "POWERTOOLS_METRICS_NAMESPACE": "BackfillTests",
    }


def run(buckets, tmp_path, **options):
    return backfill(
        buckets.client, buckets.input, function_env(buckets, tmp_path), tmp_path / "log", progress=False, **options
    )


def test_existing_imagery_is_archived_and_failed_ones_skipped(stocked, tmp_path):
    summary = run(stocked, tmp_path)
    assert summary.counts[Outcome.ARCHIVED] == 3
    assert summary.skipped_failed == 1, "an original tagged failed waits for a new upload"
    assert stocked.keys(stocked.input) == ["a/README.txt", "a/bad.tif"], "non-imagery and failed ones stay"
    assert stocked.keys(stocked.output, "archive/") == [f"archive/{key}" for key in sorted(IMAGES)]
    assert [key for key in stocked.keys(stocked.output, "output/") if key.endswith(".tif")] == [
        "output/a/RGB.byte.tif",
        "output/a/shade.tif",
        "output/b/naip.tif",
    ]
    assert "Object archived" in (tmp_path / "log").read_text(), "the function's logs go to the log file"


def test_dry_run_changes_nothing(stocked, tmp_path):
    before = stocked.keys(stocked.input)
    summary = run(stocked, tmp_path, dry_run=True)
    assert summary.would_process == 3
    assert "nothing was changed" in summary.render(dry_run=True)
    assert stocked.keys(stocked.input) == before
    assert stocked.keys(stocked.output) == []


def test_a_limited_run_then_a_rerun_completes_the_bucket(stocked, tmp_path):
    first = run(stocked, tmp_path, limit=1)
    assert first.counts[Outcome.ARCHIVED] == 1
    assert len(stocked.keys(stocked.input)) == 4
    second = run(stocked, tmp_path)
    assert second.counts[Outcome.ARCHIVED] == 2, "the rerun picks up only what is left"
    assert stocked.keys(stocked.input) == ["a/README.txt", "a/bad.tif"]


def test_ctrl_c_stops_after_the_current_object_and_a_rerun_continues(stocked, tmp_path):
    def interrupt(key: str, result: ObjectResult) -> None:
        if key == "a/RGB.byte.tif":
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C while it ran

    pytests_handler = signal.getsignal(signal.SIGINT)
    first = run(stocked, tmp_path, on_object=interrupt)
    assert first.interrupted
    assert first.counts[Outcome.ARCHIVED] == 1
    assert first.remaining == 3, "the other objects were not started"
    assert "run the same command again" in first.render()
    assert signal.getsignal(signal.SIGINT) is pytests_handler, "Ctrl-C handling is put back"
    second = run(stocked, tmp_path)
    assert second.counts[Outcome.ARCHIVED] == 2
    assert stocked.keys(stocked.input) == ["a/README.txt", "a/bad.tif"]


def test_same_bucket_skips_the_pipelines_own_prefixes(buckets, tmp_path, capsys):
    buckets.client.put_object(Bucket=buckets.input, Key="x.tif", Body=(SAMPLES / "shade.tif").read_bytes())
    code = main(
        [
            "--input-bucket", buckets.input, "--output-bucket", buckets.input,
            "--log-file", str(tmp_path / "log"), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    assert "archived 1" in capsys.readouterr().out
    assert buckets.keys(buckets.input) == [
        "archive/x.tif",
        "catalog/catalog.json",
        "catalog/collections/imagery-archive.json",
        "output/x.json",
        "output/x.png",
        "output/x.tif",
    ]
    assert main(["--input-bucket", buckets.input, "--output-bucket", buckets.input, "--log-file",
                 str(tmp_path / "log"), "--no-progress"]) == 0  # fmt: skip
    assert "archived 0" in capsys.readouterr().out, "a rerun doesn't process its own outputs"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output-bucket", "o"], "the following arguments are required: --input-bucket"),
        (["--input-bucket", "i", "--output-bucket", "o", "--limit", "0"], "is not a positive whole number"),
        (
            ["--input-bucket", "i", "--output-bucket", "o", "--storage-class", "cold"],
            "ARCHIVE_STORAGE_CLASS must be one of DEEP_ARCHIVE, GLACIER, GLACIER_IR, INTELLIGENT_TIERING, ONEZONE_IA, "
            "STANDARD, STANDARD_IA, got 'COLD'",
        ),
    ],
)
def test_bad_arguments_get_a_one_line_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_missing_bucket_is_a_one_line_error(s3_endpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--input-bucket", "no-such-bucket", "--output-bucket", "o", "--log-file", str(tmp_path / "l")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "no-such-bucket" in err
    assert "NoSuchBucket" in err
    assert len(err.strip().splitlines()) == 1, err
