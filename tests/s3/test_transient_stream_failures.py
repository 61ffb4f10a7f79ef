"""A transient failure of a streamed read stays transient when the original can't be downloaded instead.

A streamed read that fails is judged again on a download. An original too large for scratch space can't
be downloaded: it used to be refused for good then (tagged failed, the Batch job's exit 2, skipped by every
later backfill) for what was only a network fault. Now the streamed read's failure is raised as transient,
and the next attempt streams it again. Against the local S3 server, through `local.s3_proxy`, which drops
GDAL's connections (a network fault, not a bad image), and a real scratch file system too small for the
original (a tmpfs), so "doesn't fit" is what the kernel says.
"""

from __future__ import annotations

import subprocess
from functools import partial

import pytest

from imagery_archive.archiving.steps import archive_object
from imagery_archive.errors import PermanentError
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.checksums import MiB
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.source_access import SourceReading
from imagery_archive.s3.storage import ImageryStore
from imagery_archive_cli.local.s3_proxy import S3Proxy
from tests.support.paths import SAMPLES

SAMPLE = "s2_tci_60m.jp2"
SCRATCH_SIZE = 7 * MiB // 2
"""Room for the streamed original's COG, not for the 3.75 MB original itself with it."""
STREAM = SourceReading("stream", gdal_sends_headers=True)
COMPRESS = partial(compress, profile=CompressionProfile())


@pytest.fixture
def small_scratch(tmp_path):
    """A 3.5 MiB tmpfs; skipped where mounting is not allowed (it needs root or CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "scratch"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={SCRATCH_SIZE}", "tmpfs", str(mount_point)]
    mounted = subprocess.run(command, capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"can't mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


class NetworkFaultError(ConnectionError):
    """Raised in the proxy's handler: the connection is dropped without an answer."""


def test_a_streamed_read_that_hits_a_network_fault_is_retried_not_refused_for_good(
    buckets, small_scratch, s3_endpoint, monkeypatch
):
    body = (SAMPLES / SAMPLE).read_bytes()
    assert len(body) * 1.1 > SCRATCH_SIZE, "the original must not fit in scratch for a download"
    buckets.client.put_object(Bucket=buckets.input, Key="big.jp2", Body=body, ChecksumAlgorithm="CRC64NVME")
    source = ObjectLocation(buckets.input, "big.jp2")
    gets: list[str] = []

    def drop_pixel_reads(request):
        if request.method == "GET" and request.path.startswith(f"/{buckets.input}/big.jp2"):
            gets.append(request.headers.get("range", ""))
            if len(gets) > 1:  # the header was read: every read of pixels fails
                raise NetworkFaultError("connection reset")

    with S3Proxy(s3_endpoint, on_request=drop_pixel_reads) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # GDAL's endpoint; boto3's client is already made
        with pytest.raises(Exception, match=r"big\.jp2") as raised:  # whichever error GDAL reports
            archive_object(
                source,
                ImageryStore(buckets.client),
                Destinations(buckets.output),
                COMPRESS,
                str(small_scratch),
                reading=STREAM,
            )
    assert len(gets) > 1, "GDAL streamed the original"
    assert not isinstance(raised.value, PermanentError), f"a network fault is transient, not {raised.value!r}"
    assert buckets.keys(buckets.input) == ["big.jp2"]
    assert buckets.client.get_object_tagging(Bucket=buckets.input, Key="big.jp2")["TagSet"] == []

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    report = archive_object(
        source,
        ImageryStore(buckets.client),
        Destinations(buckets.output),
        COMPRESS,
        str(small_scratch),
        reading=STREAM,
    )
    assert report.outcome == "archived", "once the network is back, the retry streams and archives it"
