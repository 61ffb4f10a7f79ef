"""How the job reads an original: straight from S3 through GDAL's `/vsis3/`, or downloaded first.

Streaming keeps the original out of scratch space, which then holds only the COG and its overview
temporaries: the function takes originals about ten times larger than its scratch space holds. An
8-bit original written lossily is read twice (`single_pass`: once for its overviews and the SSIM
check, once by the COG driver for its full resolution), in GETs of many MB; on the realistic benchmark
endpoint a streamed 1.2 GB scene took 1.03x the bare `gdal_translate`, but the download took 0.73x
(BENCHMARKS.md, "Streaming"). So SOURCE_READ=auto downloads every original
that fits in scratch space with its COG, and streams only those that don't (which would otherwise be
refused), where it is safe:

- pinned: GDAL can't name an ETag or a version in a `/vsis3/` path, but it sends the headers of
  `GDAL_HTTP_HEADERS` (GDAL >= 3.6) with every request. Each ranged GET then carries
  `If-Match: <the inspected ETag>`, so S3 answers 412 instead of the bytes of any other upload: a
  replaced object fails the read, and is never compressed in place of the inspected one. GDAL
  reads the current object only: an event naming an older version falls back to the download,
  which is pinned to the version (`archive_job` does that on the read's failure).
- provable without the bytes: the archived copy is then verified by S3's own checksum
  (`archive_proof.S3ChecksumProof`); an original without a comparable one is downloaded and hashed.
- whatever the format: on the realistic endpoint the download was as fast or faster for every bundled
  format (tiled GeoTIFF 1.4x faster, NITF 1.6x, JPEG 2000 1.2x, striped GeoTIFF even), so none is
  streamed by default, and any is streamed rather than refused when it doesn't fit.

Pure logic and settings only: the job passes `gdal_read_options` to the GDAL core, which applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imagery_archive.s3.keys import ObjectLocation

if TYPE_CHECKING:  # the settings (and so the CDK app) import this module: no boto3 here
    from imagery_archive.s3.storage import StoredObject


class ReadMode(StrEnum):
    STREAM = "stream"
    DOWNLOAD = "download"


SOURCE_READ_CHOICES = ("auto", "stream", "download")
"""SOURCE_READ: `auto` downloads what fits in scratch space and streams what doesn't; `stream` streams
every original it can; `download` none."""

FORMATS = {".tif": "GeoTIFF", ".tiff": "GeoTIFF", ".ntf": "NITF", ".nitf": "NITF", ".jp2": "JPEG 2000"}
"""The format each imagery suffix (`keys.IMAGERY_SUFFIXES`) names."""


GDAL_NETWORK_OPTIONS: Mapping[str, str] = {
    # Read-ahead unit of /vsis3/: one GET fetches at least this much. S3 bills and delays per
    # request (first byte in 20-60 ms), so few large GETs beat many 16 KB ones (GDAL's default);
    # sequential reads (strips, NITF blocks) grow it further by themselves.
    "CPL_VSIL_CURL_CHUNK_SIZE": str(2 * 1024 * 1024),
    # GDAL's global LRU cache of fetched chunks (default 16 MB): holds the TIFF directory, the tile
    # index and the read-ahead of the strip being read. Each pass reads each byte once (`single_pass`),
    # so nothing larger would be read again from it. GDAL sizes it once, at the process's first
    # network read: the first streamed original's value holds for the process (it is always this one).
    "CPL_VSIL_CURL_CACHE_SIZE": str(32 * 1024 * 1024),
    # Decode in the reading thread: GDAL then reads tile after tile with its sequential read-ahead,
    # which grows to GETs of many MB (35 GETs for 315 MB), where its multi-threaded decoder sends a
    # GET per tile (444 GETs, each paying S3's first-byte latency): 10.5 s against 15.6 s on the
    # realistic endpoint (BENCHMARKS.md). The COG's encoding keeps its threads (NUM_THREADS).
    "GDAL_NUM_THREADS": "1",
    # The per-file cache on top would keep a second copy of the same bytes: the one above suffices.
    "VSI_CACHE": "FALSE",
    # The first GET reads this much: the header and, for most files, the whole directory (tile
    # offsets and sizes), instead of one request per structure found.
    "GDAL_INGESTED_BYTES_AT_OPEN": str(1024 * 1024),
    # Where a driver still asks for several ranges at once (multi-range reads), they are fetched
    # by parallel GETs ...
    "GDAL_HTTP_MULTIRANGE": "PARALLEL",
    # ... and adjacent ones merged into one request.
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    # S3 answers HTTP/1.1; GDAL's default (HTTP/2 over TLS) falls back to it anyway, stated here.
    "GDAL_HTTP_VERSION": "1.1",
    # S3 throttles with 503 SlowDown and fails rarely with 500: retry those, as boto3 does (GDAL
    # 3.6 retries none by default). A 412 (the object was replaced) is never retried.
    "GDAL_HTTP_MAX_RETRY": "4",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    # An original arrives alone: list no folder to look for sidecar files (.aux.xml, .ovr).
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}
"""GDAL's network settings for streaming an original, each with why (cf. titiler's GDAL environment)."""


@dataclass(frozen=True)
class SourceReading:
    """How the function may read originals: the SOURCE_READ setting and what this GDAL can do."""

    requested: str = "download"
    """One of SOURCE_READ_CHOICES; 'download' unless the caller opts in (the function does)."""
    gdal_sends_headers: bool = False
    """Whether GDAL sends GDAL_HTTP_HEADERS (3.6 and later): without it no read can be pinned."""


@dataclass(frozen=True)
class SourceRead:
    """The read chosen for one original, and why (logged, counted, written into the COG's metadata)."""

    mode: ReadMode
    reason: str


def choose_read(
    source: ObjectLocation, reading: SourceReading, provable_without_bytes: bool, fits_in_scratch: bool
) -> SourceRead:
    """Stream `source` or download it: see the module docstring for the rules."""
    if not provable_without_bytes:
        return SourceRead(ReadMode.DOWNLOAD, "no full-object S3 checksum: the downloaded bytes prove the archive")
    if reading.requested == "download":
        return SourceRead(ReadMode.DOWNLOAD, "SOURCE_READ=download")
    if not reading.gdal_sends_headers:
        return SourceRead(ReadMode.DOWNLOAD, "this GDAL can't pin its reads (GDAL_HTTP_HEADERS needs 3.6)")
    file_format = FORMATS.get(PurePosixPath(source.key).suffix.lower(), "unknown")
    if reading.requested == "auto" and fits_in_scratch:
        return SourceRead(ReadMode.DOWNLOAD, "fits in scratch space, where it reads faster (SOURCE_READ=auto)")
    why = "too large for scratch space" if reading.requested == "auto" else "SOURCE_READ=stream"
    return SourceRead(ReadMode.STREAM, f"{file_format} streamed, pinned to its ETag ({why})")


def vsis3_path(source: ObjectLocation) -> str:
    """The path GDAL opens `source` at (the current object: GDAL can't name a version)."""
    return f"/vsis3/{source.bucket}/{source.key}"


def if_match_header(original: StoredObject) -> str:
    """GDAL_HTTP_HEADERS pinning every request to `original`'s ETag.

    GDAL splits that option's value at commas and strips double quotes unless the item is quoted,
    with its own quotes escaped: the ETag's quotes are part of it and must reach S3.
    """
    escaped = original.etag.replace("\\", "\\\\").replace('"', '\\"')
    return f'"If-Match: {escaped}"'


def endpoint_options(environ: Mapping[str, str]) -> dict[str, str]:
    """GDAL's S3 endpoint settings from the endpoint boto3 uses (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).

    boto3 honours those variables; GDAL (before 3.11) has its own: host and port, HTTPS or not, and
    path-style addressing (a custom endpoint rarely resolves bucket subdomains). Empty for AWS itself.
    """
    url = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if not url:
        return {}
    parts = urlsplit(url)
    return {
        "AWS_S3_ENDPOINT": parts.netloc + parts.path.rstrip("/"),
        "AWS_HTTPS": "NO" if parts.scheme == "http" else "YES",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }


def gdal_read_options(original: StoredObject, environ: Mapping[str, str], region: str | None) -> dict[str, str]:
    """Every GDAL setting a pinned streamed read of `original` needs, from the function's environment.

    Credentials are GDAL's own lookup of the same variables boto3 reads (AWS_ACCESS_KEY_ID, ...,
    which Lambda sets); the region is the S3 client's.
    """
    return {
        **GDAL_NETWORK_OPTIONS,
        **endpoint_options(environ),
        **({"AWS_REGION": region} if region else {}),
        "GDAL_HTTP_HEADERS": if_match_header(original),
    }
