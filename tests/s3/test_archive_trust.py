"""An archived copy is trusted only on evidence that it is this original, not on a 64-bit CRC alone.

A CRC is linear: anyone can make other bytes of the same size with the same CRC-64/NVME (`forged`). An
archived object is reused in place of a copy only if it is not older than the original being processed
(it can then only be a copy of it, made by this pipeline) or its SHA-256 equals the original's. On real
imagery and the local S3 server; the archive class is STANDARD here so that the test can read back what
was archived (a GLACIER object can't be read).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from awscrt.checksums import crc64nvme

from imagery_archive.archiving.steps import archive_object
from imagery_archive.imaging.compress import compress
from imagery_archive.imaging.profiles import CompressionProfile
from imagery_archive.s3.archive_proof import S3ChecksumProof
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore, StoredObject
from tests.support.paths import SAMPLES

COMPRESS = partial(compress, profile=CompressionProfile())
S3_CLOCK_RESOLUTION = 1.1
"""LastModified has whole seconds: uploads farther apart than this are told apart by it."""


def forged(data: bytes, at: int) -> bytes:
    """`data` with bits of its 9 bytes from `at` flipped so that its CRC-64/NVME is unchanged.

    A CRC is affine in the message bits: the CRC changes of the 72 single-bit flips, as 64-bit vectors,
    have a nonzero combination that cancels (72 vectors in a 64-dimensional space); flipping those bits
    together leaves the CRC as it was.
    """
    base = crc64nvme(data)
    basis: dict[int, tuple[int, int]] = {}
    for bit in range(72):
        changed = bytearray(data)
        changed[at + bit // 8] ^= 1 << (bit % 8)
        vector, combination = crc64nvme(bytes(changed)) ^ base, 1 << bit
        while vector:
            top = vector.bit_length() - 1
            if top not in basis:
                basis[top] = (vector, combination)
                break
            vector, combination = vector ^ basis[top][0], combination ^ basis[top][1]
        else:
            result = bytearray(data)
            for flipped in range(72):
                if combination >> flipped & 1:
                    result[at + flipped // 8] ^= 1 << (flipped % 8)
            return bytes(result)
    raise AssertionError("72 vectors in 64 dimensions always have a cancelling combination")


def upload(buckets, key: str, body: bytes) -> ObjectLocation:
    buckets.client.put_object(Bucket=buckets.input, Key=key, Body=body, ChecksumAlgorithm="CRC64NVME")
    return ObjectLocation(buckets.input, key)


def archived_digests(buckets) -> list[str]:
    """The SHA-256 (hex) of every archived object's bytes."""
    keys = buckets.keys(buckets.output, "archive/")
    bodies = [buckets.client.get_object(Bucket=buckets.output, Key=key)["Body"].read() for key in keys]
    return [hashlib.sha256(body).hexdigest() for body in bodies]


def test_an_older_archived_object_with_the_same_crc_is_not_taken_for_the_original(buckets, tmp_path):
    real = (SAMPLES / "shade.tif").read_bytes()
    forgery = forged(real, len(real) // 2)
    assert forgery != real
    assert crc64nvme(forgery) == crc64nvme(real)
    destinations = Destinations(buckets.output, storage_class="STANDARD")
    store = ImageryStore(buckets.client)
    archive_object(upload(buckets, "d/x.tif", forgery), store, destinations, COMPRESS, str(tmp_path))
    time.sleep(S3_CLOCK_RESOLUTION)

    report = archive_object(upload(buckets, "d/x.tif", real), store, destinations, COMPRESS, str(tmp_path))

    assert report.outcome == "archived"
    assert buckets.keys(buckets.input) == []
    digests = archived_digests(buckets)
    assert hashlib.sha256(real).hexdigest() in digests, (
        "the real original was deleted: its archived copy must hold its bytes"
    )
    assert hashlib.sha256(forgery).hexdigest() in digests, "the first upload's only copy must survive too"
    assert report.archived_copy.key != "archive/d/x.tif"


def test_a_copy_not_older_than_the_original_or_with_its_sha256_is_trusted():
    now = datetime(2026, 12, 6, tzinfo=UTC)
    crc = "AAAAAAAAAAE="
    proof = S3ChecksumProof("CRC64NVME", crc, 10, original_modified=now, sha256="c2hh")

    def archived(modified: datetime, **checksums: str) -> StoredObject:
        return StoredObject(10, '"e"', "GLACIER", checksums={"CRC64NVME": crc, **checksums}, last_modified=modified)

    assert proof.same_content(archived(now))
    assert not proof.problems(archived(now), "GLACIER")
    assert proof.same_content(archived(now + timedelta(seconds=5)))
    older = archived(now - timedelta(seconds=5))
    assert not proof.same_content(older)
    assert any("older" in problem for problem in proof.problems(older, "GLACIER"))
    assert proof.same_content(archived(now - timedelta(seconds=5), SHA256="c2hh")), "the same SHA-256 proves it"


def test_a_sha256_proof_is_not_weakened_by_age():
    data = b"x" * 10
    import base64  # noqa: PLC0415

    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    proof = S3ChecksumProof("SHA256", sha, 10, original_modified=datetime(2026, 12, 6, tzinfo=UTC))
    old = StoredObject(10, '"e"', "GLACIER", checksums={"SHA256": sha}, last_modified=datetime(2020, 1, 1, tzinfo=UTC))
    assert proof.same_content(old)
