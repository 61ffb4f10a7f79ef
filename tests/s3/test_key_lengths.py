"""Keys near S3's 1,024-byte limit are refused up front, with the reason, before any work.

An upload's key may be up to 1,024 bytes (UTF-8); the keys the pipeline derives from it are longer
(`archive/` and `output/` before it, a checksum in the name where the archive key is taken). Such an
upload used to be compressed, then fail at the archive copy with S3's KeyTooLongError, untagged, on
every retry. On real imagery and the local S3 server.
"""

from __future__ import annotations

from functools import partial

import pytest

from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import DestinationKeyTooLongError, PermanentError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.keys import S3_KEY_LIMIT, Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore
from tests.support.paths import SAMPLES


def long_key(total_bytes: int) -> str:
    """A key of `total_bytes` UTF-8 bytes, with two-byte letters, ending in `.tif`."""
    stem = "é" * ((total_bytes - len("d/.tif")) // 2)
    key = f"d/{stem}{'x' * ((total_bytes - len('d/.tif')) % 2)}.tif"
    assert len(key.encode()) == total_bytes
    return key


def must_not_compress(*_, **__):
    raise AssertionError("an upload whose archive key can't exist must be refused before it is compressed")


def test_a_key_whose_archive_key_would_pass_the_limit_is_refused_before_any_work(buckets, tmp_path):
    key = long_key(S3_KEY_LIMIT - 2)
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / "shade.tif").read_bytes())
    with pytest.raises(DestinationKeyTooLongError) as raised:
        archive_object(
            ObjectLocation(buckets.input, key), ImageryStore(buckets.client), Destinations(buckets.output),
            must_not_compress, str(tmp_path),
        )  # fmt: skip
    assert isinstance(raised.value, PermanentError), "tagged failed with the reason; a retry can't help"
    message = str(raised.value)
    assert "1024" in message
    assert "archive/" in message
    assert buckets.keys(buckets.output) == []
    assert buckets.keys(buckets.input) == [key]


def test_a_key_that_leaves_room_for_every_derived_key_is_archived(buckets, tmp_path):
    room = len(".crc64nvme-0123456789abcdef") + len(".tif")  # a content archive key, an alternate COG
    key = long_key(S3_KEY_LIMIT - len("archive/") - room)
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=(SAMPLES / "shade.tif").read_bytes())
    report = archive_object(
        ObjectLocation(buckets.input, key), ImageryStore(buckets.client), Destinations(buckets.output),
        partial(compress, profile=CompressionProfile()), str(tmp_path),
    )  # fmt: skip
    assert report.outcome == "archived"
