"""Where one object's COG and archived copy go, without ever replacing another object's.

- The COG: `output/d/scene.tif`, unless that key holds the COG of another source (`d/scene.tif`,
  `d/scene.ntf` and `d/scene.TIF` all make it): then `output/d/scene.ntf.tif`, the whole source name
  plus `.tif`. A COG says whose it is in its `source-bucket` and `source-key` metadata; an object there
  that says nothing is not ours to replace either. A redelivery finds its own COG under either name.
- The archived copy: `archive/d/scene.ntf`, unless that key holds a different original (another size
  or checksum, as the original's `archive_proof` compares them) in a bucket that keeps no versions, where
  a copy would destroy the only copy of the first: then `archive/d/scene.sha256-<first 16 hex digits of
  its SHA-256>.ntf` (or `.crc64nvme-...` for an original proved by S3's checksum), which the COG's
  `archive-key` metadata names. In a versioned bucket the earlier original survives as an older version, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from imagery_archive.errors import ArchiveNotVerifiedError, OutputKeyTakenError
from imagery_archive.s3.archive_proof import ArchiveProof
from imagery_archive.s3.keys import Destinations, ObjectLocation
from imagery_archive.s3.storage import ImageryStore, StoredObject


def is_cog_of(metadata: Mapping[str, str], source: ObjectLocation) -> bool:
    """True if an output object's metadata says it was made from `source` (any version of it)."""
    return metadata.get("source-bucket") == source.bucket and metadata.get("source-key") == quote(source.key)


def output_location(
    source: ObjectLocation, store: ImageryStore, destinations: Destinations
) -> tuple[ObjectLocation, StoredObject | None]:
    """Where `source`'s COG goes, and the COG of it already there (from an earlier delivery), if any.

    Both keys are looked at, at once: a COG placed at the alternate key by an earlier delivery is found even
    when the usual key is free again.
    """
    usual, alternate = destinations.output(source.key), destinations.alternate_output(source.key)
    at_usual, at_alternate = store.head_each([usual, alternate]) if alternate != usual else [store.head(usual)] * 2
    if at_usual is not None and is_cog_of(at_usual.metadata, source):
        return usual, at_usual
    if at_alternate is not None and is_cog_of(at_alternate.metadata, source):
        return alternate, at_alternate
    if at_usual is None:
        return usual, None
    if at_alternate is None:
        return alternate, None
    raise OutputKeyTakenError(
        f"{source}: {usual} and {alternate} both hold COGs of other sources "
        f"({_maker(at_usual)}, {_maker(at_alternate)}); rename the upload"
    )


def _maker(cog: StoredObject) -> str:
    key = cog.metadata.get("source-key")
    return f"made from {key}" if key else "not made by this pipeline"


def archive_location(
    source: ObjectLocation, expected: ArchiveProof, store: ImageryStore, destinations: Destinations
) -> tuple[ObjectLocation, StoredObject | None]:
    """Where the original `expected` proves is archived (see the module docstring), and what was there when looked:
    the archive copy's first attempt is conditional on it, without looking again."""
    usual = destinations.archive(source.key)
    there = store.head(usual)
    if there is None or expected.same_content(there) or store.keeps_versions(usual.bucket):
        return usual, there
    alternate = destinations.content_archive(source.key, expected.digest.hex(), expected.digest_name)
    return alternate, store.head(alternate)


def refuse_to_overwrite(target: ObjectLocation, there: StoredObject | None, expected: ArchiveProof) -> None:
    """Raise `ArchiveNotVerifiedError` if `there` is a different original at `target` (checked just before
    copying, so an original archived meanwhile by another delivery is not destroyed either)."""
    if there is not None and not expected.same_content(there):
        raise ArchiveNotVerifiedError(f"{target} holds a different original, in a bucket without versions: kept")
