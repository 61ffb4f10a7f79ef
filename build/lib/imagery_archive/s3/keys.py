"""Where each object goes: `d/scene.ntf` -> `output/d/scene.tif` and `archive/d/scene.ntf`.

Unless those keys hold another source's COG or another original (see `placement`): then
`output/d/scene.ntf.tif` and `archive/d/scene.sha256-<16 hex digits>.ntf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_plus

IMAGERY_FORMATS: dict[str, tuple[str, ...]] = {
    "GeoTIFF": (".tif", ".tiff"),
    "NITF": (".ntf", ".nitf"),
    "JPEG 2000": (".jp2",),
}
"""The imagery formats the pipeline takes, each with its file name suffixes (lower case)."""
IMAGERY_SUFFIXES = tuple(suffix for suffixes in IMAGERY_FORMATS.values() for suffix in suffixes)
"""File name suffixes of the imagery the pipeline takes, in any letter case (the stack's trigger lists both)."""


def is_imagery_key(key: str) -> bool:
    """True for a key with one of `IMAGERY_SUFFIXES`, in any letter case."""
    return key.lower().endswith(IMAGERY_SUFFIXES)


@dataclass(frozen=True)
class ObjectLocation:
    """A bucket, a decoded key and, where it matters, one version of the object."""

    bucket: str
    key: str
    version_id: str | None = None
    """The version an event names (versioned buckets); None means the current one."""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def from_uri(cls, uri: str) -> ObjectLocation:
        """The location an `s3://bucket/key` URI names (the inverse of `str`)."""
        scheme, _, path = uri.partition("://")
        bucket, _, key = path.partition("/")
        if scheme != "s3" or not bucket or not key:
            raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
        return cls(bucket, key)


def event_key(raw_key: str) -> str:
    """The real key of an S3 event's URL-encoded one (spaces arrive as '+', unicode as %XX)."""
    return unquote_plus(raw_key)


def output_key(key: str, prefix: str) -> str:
    """The compressed COG's key: the same path under `prefix`, with a `.tif` suffix."""
    folder, _, name = key.rpartition("/")
    stem, dot, _suffix = name.rpartition(".")
    if not dot or not stem:  # no suffix, or a dot-file such as '.scene'
        stem = name
    return f"{prefix}{folder}{'/' if folder else ''}{stem}.tif"


def alternate_output_key(key: str, prefix: str) -> str:
    """The COG's key when `output_key` holds another source's COG (`d/scene.tif` and `d/scene.ntf` both make
    `output/d/scene.tif`): the whole source name plus `.tif`, `output/d/scene.ntf.tif`."""
    return f"{prefix}{key}.tif"


def archive_key(key: str, prefix: str) -> str:
    """The archived original's key: the same path, untouched, under `prefix`."""
    return f"{prefix}{key}"


def content_archive_key(key: str, prefix: str, digest_hex: str, algorithm: str = "sha256") -> str:
    """The archived original's key when `archive_key` holds a different original and the bucket keeps no
    versions: the first 16 hex digits of its checksum (SHA-256, or the S3 checksum that proves it) before
    the suffix, `archive/d/scene.sha256-0123456789abcdef.ntf` or `archive/d/scene.crc64nvme-....ntf`.
    """
    folder, _, name = key.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    marked = f"{stem}.{algorithm}-{digest_hex[:16]}{'.' + suffix if suffix else ''}"
    return f"{prefix}{folder}{'/' if folder else ''}{marked}"


@dataclass(frozen=True)
class Destinations:
    """Where outputs and archived originals go."""

    bucket: str
    output_prefix: str = "output/"
    archive_prefix: str = "archive/"
    storage_class: str = "GLACIER"

    def output(self, key: str) -> ObjectLocation:
        return ObjectLocation(self.bucket, output_key(key, self.output_prefix))

    def alternate_output(self, key: str) -> ObjectLocation:
        return ObjectLocation(self.bucket, alternate_output_key(key, self.output_prefix))

    def archive(self, key: str) -> ObjectLocation:
        return ObjectLocation(self.bucket, archive_key(key, self.archive_prefix))

    def content_archive(self, key: str, digest_hex: str, algorithm: str = "sha256") -> ObjectLocation:
        return ObjectLocation(self.bucket, content_archive_key(key, self.archive_prefix, digest_hex, algorithm))

    def is_pipeline_output(self, location: ObjectLocation) -> bool:
        """True for objects the pipeline itself wrote, which must never be processed again (no recursion)."""
        return location.bucket == self.bucket and location.key.startswith((self.output_prefix, self.archive_prefix))
