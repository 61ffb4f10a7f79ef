"""`imagery-archive failed`: the originals an earlier run tagged failed, with the reason, on the local S3 server."""

from __future__ import annotations

import pytest

from imagery_archive.s3.keys import ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from imagery_archive_cli.main import main


def tag_failed(buckets, key: str, reason: str) -> None:
    """Tag `key` failed, as the function does when it leaves a bad original in place."""
    ImageryStore(buckets.client).tag_failed(ObjectLocation(buckets.input, key), reason)


def test_lists_only_the_tagged_originals_with_their_reasons_and_exits_1(buckets, s3_endpoint, capsys):
    for key in ("scenes/a.tif", "scenes/b.tif", "scenes/notes.txt", "other/c.ntf"):
        buckets.client.put_object(Bucket=buckets.input, Key=key, Body=b"x" * 2048)
    tag_failed(buckets, "scenes/b.tif", "not a TIFF: unexpected end of file")
    tag_failed(buckets, "other/c.ntf", "holds 2 images")

    code = main(["failed", "--input-bucket", buckets.input, "--endpoint-url", s3_endpoint])

    out = capsys.readouterr().out
    assert code == 1, "something needs the operator"
    assert "scenes/b.tif" in out
    assert "unexpected end of file" in out
    assert "other/c.ntf" in out
    assert "holds 2 images" in out
    assert "scenes/a.tif" not in out, "an untagged original is not listed"
    assert "2 original(s) tagged failed" in out


def test_a_prefix_narrows_the_listing_and_nothing_tagged_exits_0(buckets, s3_endpoint, capsys):
    buckets.client.put_object(Bucket=buckets.input, Key="scenes/a.tif", Body=b"x")
    buckets.client.put_object(Bucket=buckets.input, Key="other/c.ntf", Body=b"x")
    tag_failed(buckets, "other/c.ntf", "holds 2 images")

    code = main(["failed", "--input-bucket", buckets.input, "--prefix", "scenes/", "--endpoint-url", s3_endpoint])

    assert code == 0
    assert "No original under" in capsys.readouterr().out


def test_a_bucket_that_cant_be_read_is_one_line_and_exit_2(s3_endpoint, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["failed", "--input-bucket", "no-such-bucket", "--endpoint-url", s3_endpoint])
    assert stopped.value.code == 2
    assert "can't read s3://no-such-bucket/" in capsys.readouterr().err
